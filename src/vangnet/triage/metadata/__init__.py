"""Facts a photo or video file tells about itself: when, where, with what, and edits.

`extract` reads, in memory and without decoding more pixels than it needs:

- photos (Pillow): EXIF IFD0, the Exif IFD, the GPS IFD and IFD1 (the embedded thumbnail);
  Canon and Nikon maker-note serial numbers (Fujifilm's through Pillow); the XMP packet,
  parsed with lxml without entities, DTDs or network;
- videos (PyAV, the demuxer chosen by `vangnet.media.sniff`): container and stream
  metadata, QuickTime / MP4 keys (``creation_time``, ``com.apple.quicktime.*``, ISO 6709
  ``location``), duration, codecs, dimensions.

From those it picks the capture time (with its UTC offset when the file records one; with
none, the naive local time and ``offset: null``, plus an offset inferred from the GPS clock
when the two agree to within minutes), the file-internal modify time, GPS position (and the
nearest place, offline, through `vangnet.triage.geo`), device make / model / serial
numbers / lens / owner, software, orientation, dimensions and XMP document ids and edit
history.

An embedded EXIF thumbnail is hashed with PDQ and compared with the main picture: a
distance above the PDQ match threshold means the picture was changed after the camera
wrote the thumbnail (``thumbnail.mismatch``), a lead for the investigator.

Broken metadata never raises: bad offsets, huge counts, wrong types and malformed values
are dropped and described in ``problems``. Only bytes that are not a readable photo or
video raise, with a `vangnet.errors.MediaError` subclass. Decoding goes through
`vangnet.media.image` (pixel limits) and nothing is written to disk.

One module per source: `exif`, `xmp`, `gps`, `device` (maker notes and serial numbers),
`thumbnail`, `photo` (puts a photo's together), `video` (containers); `models` holds the
result and `values` the small parsers they share.
"""

from __future__ import annotations

from vangnet.errors import UnsupportedMediaError
from vangnet.media.sniff import sniff
from vangnet.signals.base import ContentType
from vangnet.triage.metadata.gps import parse_iso6709
from vangnet.triage.metadata.models import (
    Device,
    Document,
    Gps,
    HistoryEvent,
    Metadata,
    SerialKind,
    SerialNumber,
    Thumbnail,
    Timestamp,
)
from vangnet.triage.metadata.photo import read_photo
from vangnet.triage.metadata.thumbnail import THUMBNAIL_MISMATCH_DISTANCE
from vangnet.triage.metadata.video import read_video
from vangnet.triage.tuning import MetadataOptions

__all__ = [
    "THUMBNAIL_MISMATCH_DISTANCE",
    "Device",
    "Document",
    "Gps",
    "HistoryEvent",
    "Metadata",
    "SerialKind",
    "SerialNumber",
    "Thumbnail",
    "Timestamp",
    "extract",
    "parse_iso6709",
]


def extract(
    data: bytes, *, pdq: str | None = None, options: MetadataOptions | None = None
) -> Metadata:
    """Metadata of the photo or video in ``data`` (see the module docstring).

    ``pdq`` is the main picture's PDQ hash if the caller already has it (as computed by
    `vangnet.signals.pdq` on the EXIF-oriented picture); otherwise it is computed when an
    EXIF thumbnail needs comparing. Raises `EmptyInputError`, `UnsupportedMediaError`,
    `MediaTooLargeError` or `MediaError` when ``data`` is not a readable photo or video;
    broken metadata only adds to ``problems``. ``options``: the thumbnail and GPS-clock
    thresholds (default: those of the settings ``triage_thumbnail_min_quality`` and
    ``triage_gps_offset_minutes``).
    """
    sniffed = sniff(data)
    if sniffed.content_type is ContentType.VIDEO:
        return read_video(data, sniffed.format)
    if sniffed.content_type is ContentType.PHOTO:
        return read_photo(data, sniffed.format, pdq, options or MetadataOptions())
    raise UnsupportedMediaError(f"no metadata reader for {sniffed.format}")
