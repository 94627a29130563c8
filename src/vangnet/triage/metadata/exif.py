"""EXIF: the IFDs Pillow can read (IFD0, Exif, GPS, IFD1, maker note) as plain dicts with the
raw TIFF block their offsets point into, readable tags, times and orientation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image

from vangnet.errors import MediaError, MediaTooLargeError
from vangnet.media.image import open_image, quiet_pillow
from vangnet.triage.metadata.models import Timestamp
from vangnet.triage.metadata.values import (
    MAX_TAG_CHARS,
    Problems,
    as_integer,
    as_number,
    clean_text,
    make_timestamp,
    parse_datetime,
    parse_offset,
    printable,
    with_subseconds,
)

TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_IFD_NAMES: dict[int, Mapping[int, str]] = {
    0: ExifTags.TAGS,
    ExifTags.IFD.Exif: ExifTags.TAGS,
    ExifTags.IFD.GPSInfo: ExifTags.GPSTAGS,
}
_NOT_TAGS = {
    ExifTags.IFD.Exif,
    ExifTags.IFD.GPSInfo,
    ExifTags.IFD.Interop,
    ExifTags.Base.MakerNote,
    ExifTags.Base.UserComment,
    ExifTags.Base.JpegIFOffset,
    ExifTags.Base.JpegIFByteCount,
}


@dataclass(frozen=True)
class Exif:
    """The EXIF directories that could be read, as plain dicts, and the raw TIFF block."""

    ifd0: dict[int, Any]
    exif: dict[int, Any]
    gps: dict[int, Any]
    ifd1: dict[int, Any]
    maker: dict[int, Any]  # Pillow-parsed maker note (Fujifilm)
    tiff: bytes  # the TIFF structure the offsets point into ("" when not available)
    little_endian: bool


def _tiff_block(raw: bytes | None) -> bytes:
    if not raw:
        return b""
    block = re.sub(b"^(Exif\x00\x00){1,2}", b"", raw)
    return block if block[:4] in TIFF_HEADERS else b""


def _load_ifd(exif: Image.Exif, tag: int, problems: Problems) -> dict[int, Any]:
    with problems.guard(f"EXIF {ExifTags.IFD(tag).name} IFD"):
        return dict(exif.get_ifd(tag))
    return {}


def read_exif(exif: Image.Exif, tiff: bytes, problems: Problems) -> Exif:
    with problems.pillow_warnings("EXIF"):
        ifd0: dict[int, Any] = {}
        with problems.guard("EXIF IFD0"):
            for tag in list(exif.keys()):
                with problems.guard(f"EXIF tag 0x{tag:04x}"):
                    ifd0[tag] = exif[tag]
        result = Exif(
            ifd0=ifd0,
            exif=_load_ifd(exif, ExifTags.IFD.Exif, problems),
            gps=_load_ifd(exif, ExifTags.IFD.GPSInfo, problems),
            ifd1=_load_ifd(exif, ExifTags.IFD.IFD1, problems),
            maker=_load_ifd(exif, ExifTags.IFD.MakerNote, problems),
            tiff=tiff,
            little_endian=tiff[:2] == b"II" if tiff else exif.endian == "<",
        )
    return result


def exif_tags(ex: Exif) -> list[tuple[str, str]]:
    """Readable EXIF values with their names, for display and full-text search."""
    tags: list[tuple[str, str]] = []
    for ifd_key, values in (
        (0, ex.ifd0),
        (ExifTags.IFD.Exif, ex.exif),
        (ExifTags.IFD.GPSInfo, ex.gps),
    ):
        names = _IFD_NAMES[ifd_key]
        prefix = "gps" if ifd_key == ExifTags.IFD.GPSInfo else "exif"
        for tag, value in values.items():
            if ifd_key != ExifTags.IFD.GPSInfo and tag in _NOT_TAGS:
                continue
            text = _tag_text(value)
            if text is not None:
                tags.append((f"{prefix}:{names.get(tag, f'0x{tag:04x}')}", text))
    comment = _user_comment(ex.exif.get(ExifTags.Base.UserComment))
    if comment:
        tags.append(("exif:UserComment", comment))
    return tags


def _tag_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        text = value.strip(b"\x00").decode("latin-1")
        if len(value) > 64 or not text.isprintable():
            return None  # binary blob (maker data, component codes)
        value = text
    if isinstance(value, tuple):
        value = ", ".join(str(as_number(v) if as_number(v) is not None else v) for v in value)
    elif not isinstance(value, str):
        number = as_number(value)
        value = str(value) if number is None else f"{number:g}"
    text = printable(value.replace("\x00", " "))
    return text[:MAX_TAG_CHARS] or None


def _user_comment(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte character code, then the text. Kept only when it reads
    as text (some phones store binary data there)."""
    if not isinstance(value, bytes) or len(value) <= 8:
        return None
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        utf16 = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        text = body.decode(utf16, errors="replace")
    else:
        text = body.decode("utf-8" if code.startswith(b"ASCII") else "latin-1", errors="replace")
    text = text.split("\x00", 1)[0].strip()
    if not text or sum(ch.isprintable() for ch in text) < 0.95 * len(text):
        return None
    return printable(text)[:MAX_TAG_CHARS] or None


def exif_time(
    ex: Exif, tag: int, offset_tag: int | None, subsec_tag: int | None, problems: Problems
) -> Timestamp | None:
    where = ex.ifd0 if tag == ExifTags.Base.DateTime else ex.exif
    name = ExifTags.Base(tag).name
    text = clean_text(where.get(tag), name, problems)
    if text is None:
        return None
    try:
        parsed = parse_datetime(text)
    except ValueError as exc:
        problems.add(f"EXIF {name} dropped: {exc}")
        return None
    if parsed is None:
        return None
    local, offset = parsed
    if subsec_tag is not None:
        local = with_subseconds(local, clean_text(ex.exif.get(subsec_tag), "SubSecTime", problems))
    if offset is None and offset_tag is not None:
        offset_text = clean_text(ex.exif.get(offset_tag), ExifTags.Base(offset_tag).name, problems)
        if offset_text and offset_text.strip(" :"):  # "   :  " is how cameras say unknown
            try:
                offset = parse_offset(offset_text)
            except ValueError as exc:
                problems.add(f"EXIF {ExifTags.Base(offset_tag).name} dropped: {exc}")
    return make_timestamp(f"exif:{name}", local, offset)


def read_orientation(ex: Exif, problems: Problems) -> int | None:
    value = ex.ifd0.get(ExifTags.Base.Orientation)
    if value is None or value == 0:  # 0: "unknown", as some editors write it
        return None
    number = as_integer(value)
    if number is None or not 1 <= number <= 8:
        problems.add(f"EXIF Orientation {value!r} is not 1-8; ignored")
        return None
    return number


def _find_raw_exif(data: bytes) -> bytes:
    """The TIFF block after the first ``Exif\\0\\0`` marker in ``data`` (HEIF, or a photo
    whose pixels Pillow cannot open), or b""."""
    start = 0
    while (at := data.find(b"Exif\x00\x00", start)) >= 0:
        block = data[at + 6 :]
        if block[:4] in TIFF_HEADERS:
            return block
        start = at + 1
    return b""


def open_exif(data: bytes, problems: Problems) -> tuple[Image.Exif, bytes, tuple[int, int] | None]:
    """EXIF of the picture in ``data``, its raw TIFF block and the picture's size (None when
    Pillow cannot open the picture but metadata blocks were found in the raw bytes)."""
    exif = Image.Exif()
    try:
        img = open_image(data)
    except MediaTooLargeError:
        raise
    except MediaError as exc:
        # The pixels are unreadable (or the format has no Pillow plug-in, e.g. HEIC), but the
        # metadata blocks may still be intact: read them from the raw bytes.
        tiff = _find_raw_exif(data)
        if not tiff and b"<x:xmpmeta" not in data:
            raise
        problems.add(f"picture could not be opened ({exc.message}); metadata read from raw bytes")
        if tiff:
            with quiet_pillow(), problems.pillow_warnings("EXIF"), problems.guard("EXIF"):
                exif.load(b"Exif\x00\x00" + tiff)
        return exif, tiff, None
    with img:
        with quiet_pillow(), problems.pillow_warnings("EXIF"), problems.guard("EXIF"):
            exif = img.getexif()
        raw = img.info.get("exif")
        return exif, _tiff_block(raw if isinstance(raw, bytes) else None), img.size
