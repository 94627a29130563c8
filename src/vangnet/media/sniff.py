"""Content-type sniffing from magic bytes: photo, video, or refused.

Only the first bytes are looked at; the extension and any declared MIME type are ignored. The
sniffed container also picks the one demuxer FFmpeg may use, so a playlist or other format that
could make FFmpeg open files or URLs never gets probed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vangnet.errors import EmptyInputError, UnsupportedMediaError

# ISO base-media ("ftyp") brands that hold still images rather than video.
_IMAGE_BRANDS = frozenset({"avif", "avis", "heic", "heix", "heim", "heis", "mif1", "msf1"})


class ContentType(enum.StrEnum):
    """What a piece of media is: a still picture or a video."""

    PHOTO = "photo"
    VIDEO = "video"


@dataclass(frozen=True)
class Sniffed:
    """What the magic bytes say: photo or video, and the container format."""

    content_type: ContentType
    format: str  # Pillow format name for photos, FFmpeg demuxer name for videos


def _ftyp_brand(data: bytes) -> str | None:
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return data[8:12].decode("latin-1").strip().lower()
    return None


def _is_mpeg_ts(data: bytes) -> bool:
    return len(data) >= 3 * 188 and all(data[i * 188] == 0x47 for i in range(3))


def sniff(data: bytes) -> Sniffed:
    """Classify ``data`` by its magic bytes.

    Raises `EmptyInputError` for zero bytes and `UnsupportedMediaError` for anything that is
    not a supported image or video container.
    """
    if not data:
        raise EmptyInputError("the input is empty (0 bytes)")
    photo, video = ContentType.PHOTO, ContentType.VIDEO
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(photo, "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(photo, "PNG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed(photo, "GIF")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return Sniffed(photo, "WEBP")
    if head.startswith(b"BM") and len(data) >= 26:
        return Sniffed(photo, "BMP")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed(photo, "TIFF")
    brand = _ftyp_brand(data)
    if brand is not None:
        if brand in _IMAGE_BRANDS:
            return Sniffed(photo, "AVIF")
        return Sniffed(video, "mov")  # mp4, mov, m4v, 3gp: one FFmpeg demuxer
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed(video, "matroska")  # also WebM
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return Sniffed(video, "avi")
    if head.startswith(b"FLV\x01"):
        return Sniffed(video, "flv")
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return Sniffed(video, "asf")
    if head.startswith(b"\x00\x00\x01\xba"):
        return Sniffed(video, "mpeg")
    if _is_mpeg_ts(data):
        return Sniffed(video, "mpegts")
    raise UnsupportedMediaError(
        "not a supported image or video (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF/HEIF; "
        "MP4/MOV, Matroska/WebM, AVI, FLV, ASF, MPEG-PS/TS)"
    )


_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
    "mov": "video/mp4",
    "matroska": "video/x-matroska",
    "avi": "video/x-msvideo",
    "flv": "video/x-flv",
    "asf": "video/x-ms-asf",
    "mpeg": "video/mpeg",
    "mpegts": "video/mp2t",
}


def media_type(data: bytes) -> str:
    """The MIME type the magic bytes say (``application/octet-stream`` if unknown)."""
    try:
        return _MIME.get(sniff(data).format, "application/octet-stream")
    except (EmptyInputError, UnsupportedMediaError):
        return "application/octet-stream"
