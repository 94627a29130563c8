"""Where media comes in: the sources of the pipeline.

- `vangnet.sources.streams`: live stream sources (network streams through FFmpeg, HLS, SRT,
  files) and their plug-in registry (entry-point group ``vangnet.sources``, by URL scheme);
  a network source is a `PolicedSource`, whose ``frames`` checks the egress policy first.
  `vangnet.sources.hls` reads HLS playlists and segments under that policy;
  `vangnet.sources.stream_conformance` is the kit a stream-source plug-in runs.
- `vangnet.sources.archives`: the triage walkers over folders and nested archives (zip, tar,
  7z, gzip / bzip2 / xz), streaming each member (`vangnet.sources.archive_streams`: ratio and
  size limits checked while decompressing), and `vangnet.sources.disk`: disk images (raw,
  E01; partitions; deleted files).

The live monitor (`vangnet.live`) and triage (`vangnet.triage`) consume them; nothing
here decodes pictures, hashes, matches or writes to the database.
"""
