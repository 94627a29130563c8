"""Where live frames come from: one small interface, one registry keyed by URL scheme.

A `Source` yields decoded frames with their stream time. Built-ins:

- `NetworkSource` (``rtmp``, ``rtmps``, ``rtsp``, ``http``/``https`` for HLS ``.m3u8`` and
  HTTP-FLV, ``udp``/``rtp``/``tcp`` MPEG-TS): FFmpeg's own protocols through PyAV, with a
  protocol whitelist per scheme (a playlist cannot make FFmpeg open local files) and timeouts
  on connecting and on every read (a server that stalls raises instead of hanging).
- `RelaySource` (``srt``): PyAV's bundled FFmpeg has no SRT, so the system ``ffmpeg`` relays
  the stream as MPEG-TS into a pipe and PyAV decodes it in memory.
- `FileSource` (``file://`` or a plain path): a local file played at real-time speed, for
  demos and tests; with ``?loop=1`` it starts again at the end.

Nothing is written to disk; frames stay in memory. A new source is a subclass with
``schemes`` and `frames`, registered in `SOURCES`.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import av
import av.error

from vangnet.errors import MediaError, UnavailableError, ValidationError


class StreamEnded(Exception):
    """The source ended cleanly (end of file, publisher finished)."""


class StreamUnavailable(UnavailableError):
    """Could not connect, or the connection broke: worth reconnecting."""

    code = "stream_unavailable"


class StreamStalled(StreamUnavailable):
    """Connected, but no data arrived within the stall timeout."""

    code = "stream_stalled"


class StreamRejected(MediaError):
    """The stream is unusable as it is (no video, unknown codec, absurd size): do not retry."""

    code = "stream_rejected"


@dataclass(frozen=True)
class SourceFrame:
    """A decoded frame and its time in seconds from the start of the stream."""

    stream_time: float
    frame: av.VideoFrame
    key_frame: bool
    corrupt: bool = False  # the decoder flagged it (data lost or damaged on the way)


class Source(ABC):
    """One connection to one stream. `frames` raises `StreamEnded` at a clean end,
    `StreamUnavailable` / `StreamStalled` when the connection fails, `StreamRejected` when
    the content is unusable."""

    schemes: ClassVar[tuple[str, ...]]

    def __init__(self, url: str, *, connect_timeout: float, stall_timeout: float) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.closed = False
        #: Decode key frames only (set by the reader when the sample rate allows it).
        self.keyframes_only = False

    @abstractmethod
    def frames(self) -> Iterator[SourceFrame]: ...

    def close(self) -> None:
        """Ask a running `frames` to stop soon (from another thread)."""
        self.closed = True


def _error(exc: BaseException) -> str:
    """What went wrong, without the URL or path FFmpeg names in its errors (stream keys and
    passwords must not reach stream reasons, events and logs)."""
    strerror = getattr(exc, "strerror", None)
    return strerror if isinstance(strerror, str) and strerror else type(exc).__name__


def decode(
    container: av.container.InputContainer,
    *,
    max_pixels: int,
    pace: bool = False,
    stall_timeout: float | None = None,
    source: Source | None = None,
) -> Iterator[SourceFrame]:
    """Frames of the first video stream of an open container, with checks shared by all
    sources; ``pace`` sleeps so frames come out at real-time speed. While
    ``source.keyframes_only`` is set, FFmpeg skips decoding every frame but key frames."""
    if not container.streams.video:
        raise StreamRejected("the stream has no video")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx.width * ctx.height > max_pixels:
        raise StreamRejected(f"frames are {ctx.width}x{ctx.height}, more than live_max_pixels")
    stream.thread_type = "SLICE"
    stream.codec_context.thread_count = 1
    start_pts: int | None = None
    started = time.monotonic()
    skipping = False
    try:
        for frame in container.decode(stream):
            if source is not None and source.keyframes_only != skipping:
                skipping = source.keyframes_only
                ctx.skip_frame = "NONKEY" if skipping else "DEFAULT"
            if frame.width * frame.height > max_pixels or frame.width < 1 or frame.height < 1:
                raise StreamRejected(f"a frame is {frame.width}x{frame.height}")
            if frame.pts is None or frame.time_base is None:
                continue
            if start_pts is None:
                start_pts = frame.pts
            seconds = float((frame.pts - start_pts) * frame.time_base)
            if pace:
                ahead = seconds - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            yield SourceFrame(
                max(seconds, 0.0), frame, bool(frame.key_frame), bool(frame.is_corrupt)
            )
    except av.error.ExitError:  # PyAV's timeout (interrupt callback)
        within = f" for {stall_timeout:g} s" if stall_timeout is not None else ""
        raise StreamStalled(f"no data{within}") from None
    except (av.error.EOFError, EOFError):
        pass
    except av.error.InvalidDataError as exc:
        raise StreamRejected(f"undecodable stream data: {_error(exc)}") from None
    except av.error.FFmpegError as exc:
        raise StreamUnavailable(f"stream read failed: {_error(exc)}") from None
    raise StreamEnded


#: FFmpeg protocols each scheme may use (HLS playlists may not reach ``file:``).
_WHITELISTS = {
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tcp,tls",
    "rtsp": "rtsp,rtp,tcp,udp",
    "http": "http,https,tcp,tls,crypto,hls",
    "https": "http,https,tcp,tls,crypto,hls",
    "udp": "udp",
    "rtp": "rtp,udp",
    "tcp": "tcp",
}


class NetworkSource(Source):
    schemes = tuple(_WHITELISTS)

    def _options(self, scheme: str) -> dict[str, str]:
        options = {"protocol_whitelist": _WHITELISTS[scheme]}
        if scheme not in ("http", "https"):  # (HLS needs its segments probed as usual)
            # Probe briefly: FFmpeg's default (5 s of data) delays the first frames of a live
            # stream by that much; one video stream is all the monitor needs to find.
            options["analyzeduration"] = "1000000"
            options["probesize"] = "1000000"
        if scheme == "rtsp":
            from vangnet.config import get_settings

            transport = get_settings().live_rtsp_transport
            if transport != "auto":  # auto: FFmpeg tries UDP, then falls back to TCP
                options["rtsp_transport"] = transport
        if scheme in ("udp", "rtp"):
            options["overrun_nonfatal"] = "1"
            options["fifo_size"] = "1000000"
        return options

    def frames(self) -> Iterator[SourceFrame]:
        from vangnet.config import get_settings

        scheme = urlsplit(self.url).scheme.lower()
        try:
            container = av.open(
                self.url,
                options=self._options(scheme),
                timeout=(self.connect_timeout, self.stall_timeout),
            )
        except av.error.ExitError:
            raise StreamUnavailable(f"no answer within {self.connect_timeout:g} s") from None
        except av.error.InvalidDataError as exc:
            raise StreamRejected(f"not a stream FFmpeg can read: {_error(exc)}") from None
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamUnavailable(f"cannot connect: {_error(exc)}") from None
        pixels = get_settings().live_max_pixels
        with container:
            for item in decode(
                container, max_pixels=pixels, stall_timeout=self.stall_timeout, source=self
            ):
                yield item
                if self.closed:
                    return


class RelaySource(Source):
    """SRT through the system ffmpeg (``apt install ffmpeg``), relayed as MPEG-TS in a pipe."""

    schemes = ("srt",)

    def frames(self) -> Iterator[SourceFrame]:
        from vangnet.config import get_settings

        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise StreamRejected("SRT needs the ffmpeg program (e.g. apt install ffmpeg)")
        timeout_us = str(int(self.connect_timeout * 1_000_000))
        command = [ffmpeg, "-nostdin", "-loglevel", "error", "-timeout", timeout_us]
        # Low delay: brief probing, no muxer delay, every packet flushed at once.
        command += ["-probesize", "1000000", "-analyzeduration", "1000000"]
        command += ["-i", self.url, "-map", "0:v:0", "-c", "copy"]
        command += ["-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1"]
        command += ["-f", "mpegts", "pipe:1"]
        # Unbuffered: a buffered pipe would wait for whole 32 KB reads (most of a second of a
        # low-bitrate stream); the raw pipe hands PyAV whatever has arrived.
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0
        )
        try:
            assert process.stdout is not None
            yield from self._decode_pipe(process.stdout, get_settings().live_max_pixels)
        finally:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()

    def _decode_pipe(self, pipe: IO[bytes], max_pixels: int) -> Iterator[SourceFrame]:
        try:
            container = av.open(
                pipe,
                mode="r",
                format="mpegts",
                options={"analyzeduration": "1000000", "probesize": "1000000"},
                timeout=(self.connect_timeout, self.stall_timeout),
            )
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamUnavailable(f"SRT relay: {_error(exc)}") from None
        with container:
            for item in decode(
                container, max_pixels=max_pixels, stall_timeout=self.stall_timeout, source=self
            ):
                yield item
                if self.closed:
                    return


class FileSource(Source):
    """A local video file, played at real-time speed (``?loop=1`` to repeat it)."""

    schemes = ("file", "")

    def frames(self) -> Iterator[SourceFrame]:
        from vangnet.config import get_settings

        parts = urlsplit(self.url)
        path = Path(parts.path if parts.scheme == "file" else self.url.split("?", 1)[0])
        loop = parse_qs(parts.query).get("loop", ["0"])[0] not in ("0", "", "false")
        offset = 0.0
        while True:
            last = 0.0
            try:
                container = av.open(str(path), mode="r", options={"protocol_whitelist": "file"})
            except FileNotFoundError:
                raise StreamRejected(f"no such file: {path}") from None
            except (av.error.FFmpegError, OSError) as exc:
                raise StreamRejected(f"cannot read {path}: {_error(exc)}") from None
            if not isinstance(container, av.container.InputContainer):
                raise StreamRejected(f"cannot read {path}")
            try:
                with container:
                    pixels = get_settings().live_max_pixels
                    for item in decode(container, max_pixels=pixels, pace=True, source=self):
                        last = item.stream_time
                        yield SourceFrame(
                            offset + item.stream_time, item.frame, item.key_frame, item.corrupt
                        )
                        if self.closed:
                            return
            except StreamEnded:
                if not loop or self.closed:
                    raise
                offset += last + 1 / 30  # the next pass starts where this one ended


_KEYED_PATHS = ("rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts")


def display_url(url: str | None) -> str | None:
    """``url`` without credentials or query (stream keys, passphrases) for logs, events, the
    web UI and reports. RTMP carries the stream key as the path after the application name
    (``rtmp://host/app/KEY``): that part is shown as ``***``."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # as written: [IPv6] and odd ports stay intact
    path = parts.path
    if parts.scheme.lower() in _KEYED_PATHS:
        app, sep, key = path.lstrip("/").partition("/")
        path = f"/{app}/***" if sep and key else path
    return urlunsplit((parts.scheme, host, path, "", ""))


#: The registry: URL scheme -> source class.
SOURCES: dict[str, type[Source]] = {
    scheme: cls for cls in (NetworkSource, RelaySource, FileSource) for scheme in cls.schemes
}


def source_for(url: str, **kwargs: Any) -> Source:
    """The source for ``url``; `ValidationError` for an unknown scheme or an empty URL."""
    if not url or not url.strip():
        raise ValidationError("empty stream URL")
    scheme = urlsplit(url).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    cls = SOURCES.get(scheme)
    if cls is None:
        known = ", ".join(sorted(s for s in SOURCES if s))
        raise ValidationError(f"unsupported stream URL scheme {scheme!r} (supported: {known})")
    return cls(url, **kwargs)
