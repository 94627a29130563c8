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
nearest place, offline, through `vangnet.investigate.geo`), device make / model / serial
numbers / lens / owner, software, orientation, dimensions and XMP document ids and edit
history.

An embedded EXIF thumbnail is hashed with PDQ and compared with the main picture: a
distance above the PDQ match threshold means the picture was changed after the camera
wrote the thumbnail (``thumbnail.mismatch``), a lead for the investigator.

Broken metadata never raises: bad offsets, huge counts, wrong types and malformed values
are dropped and described in ``problems``. Only bytes that are not a readable photo or
video raise, with a `vangnet.errors.MediaError` subclass. Decoding goes through
`vangnet.media.image` (pixel limits) and nothing is written to disk.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

import av
import av.error
import numpy as np
from lxml import etree
from PIL import ExifTags, Image

from vangnet.errors import MediaError, MediaTooLargeError, UnsupportedMediaError
from vangnet.investigate import geo
from vangnet.media.image import decode_image, open_image, quiet_pillow
from vangnet.media.sniff import sniff
from vangnet.media.video import content_box
from vangnet.signals.base import ContentType
from vangnet.signals.pdq import PdqSignal, hash_image, pdq_distance

#: A thumbnail further than this (PDQ bits) from its main picture is a mismatch: the PDQ
#: signal's own match threshold, i.e. "would not match as the same picture".
THUMBNAIL_MISMATCH_DISTANCE = PdqSignal.default_threshold

#: Thumbnails with a PDQ quality below this are too featureless to compare (Meta's advice
#: is to ignore PDQ hashes under quality 50).
THUMBNAIL_MIN_QUALITY = 50

#: An offset is inferred from the GPS clock only when local time minus GPS time is this
#: close to a whole quarter hour (GPS fixes can be a little older than the picture).
GPS_OFFSET_TOLERANCE = timedelta(minutes=5)

#: Largest XMP packet parsed, in bytes.
MAX_XMP_BYTES = 4 * 1024 * 1024

#: Raw tags kept in ``tags``: at most this many, each value cut to this many characters.
MAX_TAGS = 400
MAX_TAG_CHARS = 500

#: XMP history events kept (Photoshop can log thousands).
MAX_HISTORY = 100


T = TypeVar("T")


# --- the result -------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _offset_text(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _plain(value: Any) -> Any:
    """A result value in plain JSON types: ISO 8601 times (UTC ones ending in "Z"), UTC
    offsets as "+HH:MM", enum values, lists for tuples, dicts for dataclasses."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, timedelta):
        return _offset_text(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, _Plain | geo.Place):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class _Plain:
    """``to_dict`` for the result dataclasses: every field, converted by `_plain`."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Timestamp(_Plain):
    """One time a file records. ``local`` is the wall-clock time as written (naive);
    ``offset`` its UTC offset when the file says so; ``utc`` when it is known (from the
    offset, or because the field is UTC by definition, as QuickTime ``creation_time``).
    ``inferred_offset`` is a guess from the GPS clock, only where ``offset`` is unknown."""

    source: str  # where it was read, e.g. "exif:DateTimeOriginal", "quicktime:creation_time"
    local: datetime | None
    offset: timedelta | None = None
    utc: datetime | None = None
    inferred_offset: timedelta | None = None


@dataclass(frozen=True)
class Gps(_Plain):
    """A GPS fix recorded in the file (degrees, metres, UTC)."""

    source: str  # "exif", "xmp" or "quicktime"
    latitude: float
    longitude: float
    altitude_m: float | None = None
    direction_deg: float | None = None  # where the camera pointed
    direction_ref: str | None = None  # "T" true north, "M" magnetic north
    accuracy_m: float | None = None  # horizontal positioning error
    timestamp: datetime | None = None  # UTC time of the fix
    null_island: bool = False  # 0,0: what devices without a fix often write


class SerialKind(StrEnum):
    BODY = "body"  # the camera or phone
    LENS = "lens"
    INTERNAL = "internal"  # a maker's internal id (not the number printed on the body)


@dataclass(frozen=True)
class SerialNumber(_Plain):
    kind: SerialKind
    value: str
    source: str  # e.g. "exif:BodySerialNumber", "canon:SerialNumber", "xmp:aux:SerialNumber"


@dataclass(frozen=True)
class Device(_Plain):
    """What made the file, and who the device says it belongs to."""

    make: str | None = None
    model: str | None = None
    lens_make: str | None = None
    lens_model: str | None = None
    owner: str | None = None  # CameraOwnerName and the like
    artist: str | None = None
    copyright: str | None = None
    serials: tuple[SerialNumber, ...] = ()

    @property
    def body_serial(self) -> str | None:
        return next((s.value for s in self.serials if s.kind is SerialKind.BODY), None)

    @property
    def key(self) -> str | None:
        """A grouping key for a device list ("make|model|body serial"), or None when the
        file names no device."""
        if not (self.make or self.model or self.body_serial):
            return None
        parts = (self.make or "", self.model or "", self.body_serial or "")
        return "|".join(" ".join(p.split()).casefold() for p in parts)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "key": self.key}


@dataclass(frozen=True)
class HistoryEvent(_Plain):
    """One entry of an XMP ``xmpMM:History``: what software did what, when."""

    action: str | None
    when: str | None
    software: str | None


@dataclass(frozen=True)
class Document(_Plain):
    """Identifiers that link copies and edits of one picture, and its edit history."""

    creator_tool: str | None = None
    image_unique_id: str | None = None  # EXIF ImageUniqueID
    document_id: str | None = None  # xmpMM:DocumentID
    original_document_id: str | None = None  # xmpMM:OriginalDocumentID
    instance_id: str | None = None  # xmpMM:InstanceID
    history: tuple[HistoryEvent, ...] = ()


@dataclass(frozen=True)
class Thumbnail(_Plain):
    """The JPEG thumbnail in EXIF IFD1 and how it compares with the main picture.

    ``mismatch`` is None when no comparison was possible (main picture not decodable,
    thumbnail too featureless)."""

    width: int
    height: int
    size_bytes: int
    pdq: str
    quality: int
    main_pdq: str | None
    distance: int | None
    mismatch: bool | None


@dataclass(frozen=True)
class Metadata(_Plain):
    """Everything `extract` found in one file. ``to_dict`` gives plain JSON types."""

    kind: ContentType
    format: str  # sniffed container: Pillow format ("JPEG") or FFmpeg demuxer ("mov")
    width: int | None = None  # as stored (before EXIF orientation)
    height: int | None = None
    orientation: int | None = None  # EXIF 1-8
    duration_s: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    frame_rate: float | None = None
    captured: Timestamp | None = None
    modified: Timestamp | None = None
    times: tuple[Timestamp, ...] = ()
    gps: Gps | None = None
    place: geo.Place | None = None
    device: Device = field(default_factory=Device)
    software: tuple[str, ...] = ()
    document: Document | None = None
    thumbnail: Thumbnail | None = None
    tags: tuple[tuple[str, str], ...] = ()  # raw readable tags, "exif:Make" -> "samsung"
    problems: tuple[str, ...] = ()

    @property
    def thumbnail_mismatch(self) -> bool | None:
        return None if self.thumbnail is None else self.thumbnail.mismatch

    def to_dict(self) -> dict[str, Any]:
        plain = super().to_dict()
        plain["tags"] = dict(self.tags)
        plain["thumbnail_mismatch"] = self.thumbnail_mismatch
        return plain


# --- small parsers ----------------------------------------------------------------------------


class _Problems:
    """Collects what could not be read; `guard` turns any parsing failure into an entry."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)

    @contextmanager
    def pillow_warnings(self, what: str) -> Iterator[None]:
        """Record the warnings Pillow gives while reading (e.g. "Possibly corrupt EXIF
        data") as problems instead of letting `quiet_pillow` drop them."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for warning in caught:
            self.add(f"{what}: {' '.join(str(warning.message).split())}"[:300])

    def attempt(self, what: str, step: Callable[[], T], default: T) -> T:
        """``step()``, or ``default`` (and a problem) if it fails."""
        with self.guard(what):
            return step()
        return default

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        # Hostile metadata makes Pillow, struct and lxml raise almost anything (struct.error,
        # ValueError, TypeError, KeyError, IndexError, OSError, ZeroDivisionError, ...);
        # whatever it is, that part is skipped and the rest is still read.
        try:
            yield
        except Exception as exc:
            self.add(f"{what}: {type(exc).__name__}: {exc}"[:300])


def _text(value: Any, name: str, problems: _Problems) -> str | None:
    """A tag value as clean text, or None (empty, or the wrong type: noted)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    if not isinstance(value, str):
        problems.add(f"{name} has the wrong type ({type(value).__name__}); ignored")
        return None
    text = _printable(value.split("\x00", 1)[0])  # EXIF ASCII ends at the first NUL
    return text[:MAX_TAG_CHARS] or None


def _printable(text: str) -> str:
    """``text`` without control characters, whitespace runs collapsed."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _number(value: Any) -> float | None:
    """A tag value (int, float, rational, 1-tuple) as a finite float, or None."""
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        try:
            value = float(value)  # IFDRational and friends
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
    try:
        number = float(value)
    except (OverflowError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


_EXIF_DATETIME = re.compile(
    r"(\d{4})[:\-/](\d{2})[:\-/](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_BLANK_DATE = re.compile(r"[\s:0\-T.+Z]*")


def _parse_offset(text: str) -> timedelta:
    """``+02:00`` / ``-0500`` / ``Z`` as a timedelta; ValueError if malformed or beyond
    UTC-14..+14."""
    if text == "Z":
        return timedelta(0)
    match = _OFFSET.fullmatch(text)
    if not match:
        raise ValueError(f"not a UTC offset: {text!r}")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        raise ValueError(f"UTC offset out of range: {text!r}")
    return -delta if sign == "-" else delta


def _parse_datetime(text: str) -> tuple[datetime, timedelta | None] | None:
    """EXIF (``2017:11:07 22:14:15``) or ISO 8601 date-time, with an optional fraction
    and offset, as ``(naive local time, offset)``. None for a blank or all-zero value (how
    cameras say "unknown"); ValueError for anything else that is not a date-time."""
    text = text.strip()
    if _BLANK_DATE.fullmatch(text):
        return None
    match = _EXIF_DATETIME.fullmatch(text)
    if not match:
        raise ValueError(f"not a date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    local = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro
    )
    return local, (_parse_offset(offset) if offset else None)


def _with_subseconds(local: datetime, subsec: str | None) -> datetime:
    digits = (subsec or "").strip()
    if not digits.isdigit() or local.microsecond:
        return local
    return local.replace(microsecond=int(digits[:6].ljust(6, "0")))


def _timestamp(source: str, local: datetime, offset: timedelta | None) -> Timestamp:
    try:
        utc = (local - offset).replace(tzinfo=UTC) if offset is not None else None
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        utc = None
    return Timestamp(source=source, local=local, offset=offset, utc=utc)


def _infer_offset(local: datetime, gps_utc: datetime) -> timedelta | None:
    """The UTC offset that local time minus GPS time is close to (whole quarter hours,
    UTC-12..+14), or None when they do not agree within `GPS_OFFSET_TOLERANCE`."""
    diff = local - gps_utc.replace(tzinfo=None)
    quarters = round(diff / timedelta(minutes=15))
    offset = quarters * timedelta(minutes=15)
    if abs(diff - offset) > GPS_OFFSET_TOLERANCE:
        return None
    if not timedelta(hours=-12) <= offset <= timedelta(hours=14):
        return None
    return offset


def _dedupe(values: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return tuple(seen)


# --- XMP --------------------------------------------------------------------------------------

_XMP_NS = {
    "adobe:ns:meta/": "x",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.google.com/photos/1.0/camera/": "GCamera",
}
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_STEVT = "{http://ns.adobe.com/xap/1.0/sType/ResourceEvent#}"


def _xmp_name(tag: Any) -> str | None:
    """``{uri}Local`` as ``prefix:Local`` for the namespaces we read, else None."""
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    uri, _, local = tag[1:].partition("}")
    prefix = _XMP_NS.get(uri)
    return f"{prefix}:{local}" if prefix else None


def _find_xmp(data: bytes) -> bytes | None:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP_BYTES)
    if end < 0:
        raise ValueError("packet is unterminated or larger than the limit")
    return data[start : end + len(b"</x:xmpmeta>")]


def _parse_xmp(packet: bytes) -> etree._Element:
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        raise ValueError("packet declares a DTD or entities; refused")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    return etree.fromstring(packet, parser=parser)


def _xmp_value(element: etree._Element) -> str | None:
    """Text of a simple property, or of the first item of an rdf:Alt/Seq/Bag."""
    items = element.findall(f"{_RDF}Alt/{_RDF}li") or element.findall(f"{_RDF}Seq/{_RDF}li")
    items = items or element.findall(f"{_RDF}Bag/{_RDF}li")
    target = items[0] if items else element
    if len(target) and not items:
        return None  # a structure, not a simple value
    text = " ".join((target.text or "").split())
    return text or None


def _xmp_history(root: etree._Element) -> tuple[HistoryEvent, ...]:
    events: list[HistoryEvent] = []
    for li in root.iter(f"{_RDF}li"):
        parent = li.getparent()
        holder = parent.getparent() if parent is not None else None
        if holder is None or _xmp_name(holder.tag) != "xmpMM:History":
            continue
        fields: dict[str, str] = {}
        nodes = [li, *li.findall(f"{_RDF}Description")]
        for node in nodes:
            for key, value in node.attrib.items():
                if isinstance(key, str) and key.startswith(_STEVT):
                    fields[key[len(_STEVT) :]] = " ".join(str(value).split())
            for child in node:
                if isinstance(child.tag, str) and child.tag.startswith(_STEVT):
                    fields[child.tag[len(_STEVT) :]] = " ".join((child.text or "").split())
        events.append(
            HistoryEvent(
                action=fields.get("action") or None,
                when=fields.get("when") or None,
                software=fields.get("softwareAgent") or None,
            )
        )
        if len(events) >= MAX_HISTORY:
            break
    return tuple(events)


@dataclass(frozen=True)
class _Xmp:
    values: dict[str, str]
    history: tuple[HistoryEvent, ...]


def _read_xmp(data: bytes, problems: _Problems) -> _Xmp | None:
    with problems.guard("XMP"):
        packet = _find_xmp(data)
        if packet is None:
            return None
        root = _parse_xmp(packet)
        values: dict[str, str] = {}
        for desc in root.iter(f"{_RDF}Description"):
            for key, raw in desc.attrib.items():
                name = _xmp_name(key)
                if name and not name.startswith("rdf:"):
                    values.setdefault(name, " ".join(str(raw).split()))
            for child in desc:
                name = _xmp_name(child.tag)
                if name and not name.startswith("rdf:"):
                    text = _xmp_value(child)
                    if text:
                        values.setdefault(name, text)
        return _Xmp({k: v[:MAX_TAG_CHARS] for k, v in values.items()}, _xmp_history(root))
    return None


_XMP_COORD = re.compile(r"(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])")


def _xmp_coordinate(text: str, axis: str) -> float:
    """XMP ``DDD,MM.mmk`` / ``DDD,MM,SSk`` (k = N/S/E/W) as signed degrees."""
    match = _XMP_COORD.fullmatch(text.strip().upper())
    if not match or match.group(4) not in axis:
        raise ValueError(f"not an XMP {'latitude' if axis == 'NS' else 'longitude'}: {text!r}")
    deg, minutes, seconds, ref = match.groups()
    value = int(deg) + float(minutes) / 60 + float(seconds or 0) / 3600
    return -value if ref in "SW" else value


def _rational_text(text: str) -> float | None:
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def _xmp_gps(xmp: _Xmp, problems: _Problems) -> Gps | None:
    lat_text, lon_text = xmp.values.get("exif:GPSLatitude"), xmp.values.get("exif:GPSLongitude")
    if not lat_text or not lon_text:
        return None
    try:
        lat, lon = _xmp_coordinate(lat_text, "NS"), _xmp_coordinate(lon_text, "EW")
    except ValueError as exc:
        problems.add(f"XMP GPS dropped: {exc}")
        return None
    altitude = _rational_text(xmp.values.get("exif:GPSAltitude", ""))
    if altitude is not None and xmp.values.get("exif:GPSAltitudeRef") == "1":
        altitude = -altitude
    return _checked_gps(
        Gps(source="xmp", latitude=lat, longitude=lon, altitude_m=altitude), problems
    )


def _checked_gps(gps: Gps, problems: _Problems) -> Gps | None:
    """``gps`` rounded to 7 decimals (about 1 cm), flagged at 0,0, or None when unusable."""
    issue = geo.coordinate_issue(gps.latitude, gps.longitude)
    if issue is None or issue is geo.CoordinateIssue.NULL_ISLAND:
        gps = replace(gps, latitude=round(gps.latitude, 7), longitude=round(gps.longitude, 7))
    if issue is geo.CoordinateIssue.NULL_ISLAND:
        problems.add(f"{gps.source} GPS is 0,0 ('null island'): usually a device without a fix")
        return replace(gps, null_island=True)
    if issue is not None:
        problems.add(
            f"{gps.source} GPS dropped: {issue.value} ({gps.latitude!r}, {gps.longitude!r})"
        )
        return None
    return gps


# --- EXIF -------------------------------------------------------------------------------------

_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_ORIENTATION_TRANSPOSE = {
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
class _Exif:
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
    return block if block[:4] in _TIFF_HEADERS else b""


def _load_ifd(exif: Image.Exif, tag: int, problems: _Problems) -> dict[int, Any]:
    with problems.guard(f"EXIF {ExifTags.IFD(tag).name} IFD"):
        return dict(exif.get_ifd(tag))
    return {}


def _read_exif(exif: Image.Exif, tiff: bytes, problems: _Problems) -> _Exif:
    with problems.pillow_warnings("EXIF"):
        ifd0: dict[int, Any] = {}
        with problems.guard("EXIF IFD0"):
            for tag in list(exif.keys()):
                with problems.guard(f"EXIF tag 0x{tag:04x}"):
                    ifd0[tag] = exif[tag]
        result = _Exif(
            ifd0=ifd0,
            exif=_load_ifd(exif, ExifTags.IFD.Exif, problems),
            gps=_load_ifd(exif, ExifTags.IFD.GPSInfo, problems),
            ifd1=_load_ifd(exif, ExifTags.IFD.IFD1, problems),
            maker=_load_ifd(exif, ExifTags.IFD.MakerNote, problems),
            tiff=tiff,
            little_endian=tiff[:2] == b"II" if tiff else exif.endian == "<",
        )
    return result


def _exif_tags(ex: _Exif) -> list[tuple[str, str]]:
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
        value = ", ".join(str(_number(v) if _number(v) is not None else v) for v in value)
    elif not isinstance(value, str):
        number = _number(value)
        value = str(value) if number is None else f"{number:g}"
    text = _printable(value.replace("\x00", " "))
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
    return _printable(text)[:MAX_TAG_CHARS] or None


def _exif_time(
    ex: _Exif, tag: int, offset_tag: int | None, subsec_tag: int | None, problems: _Problems
) -> Timestamp | None:
    where = ex.ifd0 if tag == ExifTags.Base.DateTime else ex.exif
    name = ExifTags.Base(tag).name
    text = _text(where.get(tag), name, problems)
    if text is None:
        return None
    try:
        parsed = _parse_datetime(text)
    except ValueError as exc:
        problems.add(f"EXIF {name} dropped: {exc}")
        return None
    if parsed is None:
        return None
    local, offset = parsed
    if subsec_tag is not None:
        local = _with_subseconds(local, _text(ex.exif.get(subsec_tag), "SubSecTime", problems))
    if offset is None and offset_tag is not None:
        offset_text = _text(ex.exif.get(offset_tag), ExifTags.Base(offset_tag).name, problems)
        if offset_text and offset_text.strip(" :"):  # "   :  " is how cameras say unknown
            try:
                offset = _parse_offset(offset_text)
            except ValueError as exc:
                problems.add(f"EXIF {ExifTags.Base(offset_tag).name} dropped: {exc}")
    return _timestamp(f"exif:{name}", local, offset)


def _ref(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        text = value.strip("\x00 ").upper()
        return text or None
    return None


def _dms(value: Any, ref_value: Any, axis: str, problems: _Problems) -> float | None:
    """EXIF degrees / minutes / seconds (or a single decimal value) with its N/S/E/W ref."""
    label = "latitude" if axis == "NS" else "longitude"
    parts = value if isinstance(value, tuple) else (value,)
    numbers = [_number(p) for p in parts[:3]]
    if not numbers or any(n is None for n in numbers):
        problems.add(f"EXIF GPS {label} is malformed ({value!r}); GPS dropped")
        return None
    deg, minutes, seconds = [n or 0.0 for n in [*numbers, 0.0, 0.0][:3]]
    degrees = abs(deg) + abs(minutes) / 60 + abs(seconds) / 3600
    if deg < 0:
        degrees = -degrees
    ref = _ref(ref_value)
    if ref is None:
        problems.add(f"EXIF GPS {label} has no reference ({axis[0]}/{axis[1]}); assumed {axis[0]}")
    elif ref[:1] not in axis:
        problems.add(f"EXIF GPS {label} reference {ref!r} is not {axis[0]}/{axis[1]}; GPS dropped")
        return None
    elif ref[:1] == axis[1]:
        degrees = -abs(degrees)
    return degrees


def _gps_time(gps: Mapping[int, Any], problems: _Problems) -> datetime | None:
    date_text = _text(gps.get(ExifTags.GPS.GPSDateStamp), "GPSDateStamp", problems)
    time_value = gps.get(ExifTags.GPS.GPSTimeStamp)
    if not date_text or time_value is None:
        return None
    parts = time_value if isinstance(time_value, tuple) else (time_value,)
    numbers = [_number(p) for p in parts]
    match = re.fullmatch(r"(\d{4})[:\-](\d{2})[:\-](\d{2})", date_text)
    if len(numbers) != 3 or any(n is None for n in numbers) or not match:
        problems.add(f"EXIF GPS date/time is malformed ({date_text!r}, {time_value!r}); ignored")
        return None
    hours, minutes, seconds = (float(n) for n in numbers if n is not None)
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        problems.add(f"EXIF GPS time is out of range ({time_value!r}); ignored")
        return None
    try:
        day = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        problems.add(f"EXIF GPS date is not a date ({date_text!r}); ignored")
        return None
    try:
        return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # 9999-12-31 plus a leap second
        problems.add(f"EXIF GPS date/time is past the calendar ({date_text!r}); ignored")
        return None


def _exif_gps(gps: Mapping[int, Any], problems: _Problems) -> Gps | None:
    lat_value, lon_value = gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLongitude)
    if lat_value is None and lon_value is None:
        return None
    if lat_value is None or lon_value is None:
        problems.add("EXIF GPS has only one of latitude / longitude; GPS dropped")
        return None
    lat = _dms(lat_value, gps.get(ExifTags.GPS.GPSLatitudeRef), "NS", problems)
    lon = _dms(lon_value, gps.get(ExifTags.GPS.GPSLongitudeRef), "EW", problems)
    if lat is None or lon is None:
        return None
    altitude = _number(gps.get(ExifTags.GPS.GPSAltitude))
    alt_ref = gps.get(ExifTags.GPS.GPSAltitudeRef)
    if isinstance(alt_ref, bytes):
        alt_ref = alt_ref[:1] == b"\x01"
    if altitude is not None and (alt_ref is True or alt_ref == 1):
        altitude = -altitude
    direction = _number(gps.get(ExifTags.GPS.GPSImgDirection))
    if direction is not None and not 0 <= direction <= 360:
        problems.add(f"EXIF GPS image direction {direction} is out of range; ignored")
        direction = None
    accuracy = _number(gps.get(ExifTags.GPS.GPSHPositioningError))
    return _checked_gps(
        Gps(
            source="exif",
            latitude=lat,
            longitude=lon,
            altitude_m=altitude,
            direction_deg=direction,
            direction_ref=(
                _ref(gps.get(ExifTags.GPS.GPSImgDirectionRef)) if direction is not None else None
            ),
            accuracy_m=accuracy if accuracy is not None and accuracy >= 0 else None,
            timestamp=_gps_time(gps, problems),
        ),
        problems,
    )


# --- maker notes ------------------------------------------------------------------------------

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_MAX_ENTRIES = 512


def _ifd_values(
    entries: bytes, start: int, values: bytes, little: bool
) -> dict[int, tuple[int, bytes]]:
    """A raw TIFF IFD at ``entries[start:]``: tag -> (type, value bytes). Values longer
    than 4 bytes are read from ``values`` at their offset. Out-of-range entries are
    skipped, so a corrupt maker note yields fewer tags, never an error."""
    order = "<" if little else ">"
    if start + 2 > len(entries):
        return {}
    (count,) = struct.unpack_from(order + "H", entries, start)
    result: dict[int, tuple[int, bytes]] = {}
    for i in range(min(count, _MAX_ENTRIES)):
        pos = start + 2 + 12 * i
        if pos + 12 > len(entries):
            break
        tag, typ, n, raw = struct.unpack_from(order + "HHI4s", entries, pos)
        size = _TYPE_SIZES.get(typ, 0) * n
        if size == 0 or size > 1 << 20:
            continue
        if size <= 4:
            result[tag] = (typ, raw[:size])
            continue
        (offset,) = struct.unpack(order + "I", raw)
        if offset + size <= len(values):
            result[tag] = (typ, values[offset : offset + size])
    return result


def _ascii(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0].decode("latin-1").strip()
    return text or None


def _maker_serials(ex: _Exif, make: str | None) -> tuple[list[SerialNumber], str | None]:
    """Body serial numbers (and owner) in Canon, Nikon and Fujifilm maker notes."""
    note = ex.exif.get(ExifTags.Base.MakerNote)
    serials: list[SerialNumber] = []
    owner: str | None = None
    brand = (make or "").strip().lower()
    if isinstance(note, bytes) and brand.startswith("canon"):
        # Canon: a plain IFD in the TIFF's byte order, offsets relative to the TIFF header.
        tags = _ifd_values(note, 0, ex.tiff, ex.little_endian)
        typ, raw = tags.get(0x000C, (0, b""))
        if typ == 4 and len(raw) == 4:
            number = struct.unpack(("<" if ex.little_endian else ">") + "I", raw)[0]
            serials.append(SerialNumber(SerialKind.BODY, f"{number:010d}", "canon:SerialNumber"))
        typ, raw = tags.get(0x0009, (0, b""))
        owner = _ascii(raw) if typ == 2 else None
    elif isinstance(note, bytes) and note.startswith(b"Nikon\x00") and len(note) > 18:
        # Nikon type 3: "Nikon\0", version, padding, then a TIFF header of its own.
        inner = note[10:]
        if inner[:4] in _TIFF_HEADERS:
            little = inner[:2] == b"II"
            (start,) = struct.unpack_from("<I" if little else ">I", inner, 4)
            tags = _ifd_values(inner, start, inner, little)
            for tag in (0x001D, 0x00A0):
                typ, raw = tags.get(tag, (0, b""))
                value = _ascii(raw) if typ in (2, 7) else None
                if value:
                    serials.append(SerialNumber(SerialKind.BODY, value, "nikon:SerialNumber"))
                    break
    internal = ex.maker.get(0x0010)  # Fujifilm InternalSerialNumber (parsed by Pillow)
    if brand.startswith("fujifilm") and isinstance(internal, (str, bytes)):
        value = _ascii(internal.encode("latin-1") if isinstance(internal, str) else internal)
        if value:
            serials.append(
                SerialNumber(SerialKind.INTERNAL, value, "fujifilm:InternalSerialNumber")
            )
    return serials, owner


# --- thumbnail --------------------------------------------------------------------------------


def _thumbnail_bytes(ex: _Exif, problems: _Problems) -> bytes | None:
    offset = ex.ifd1.get(ExifTags.Base.JpegIFOffset)
    length = ex.ifd1.get(ExifTags.Base.JpegIFByteCount)
    if offset is None and length is None:
        return None
    if not ex.tiff:
        return None
    if not isinstance(offset, int) or not isinstance(length, int) or offset <= 0 or length <= 0:
        problems.add(f"EXIF thumbnail offset/length are malformed ({offset!r}, {length!r})")
        return None
    if offset + length > len(ex.tiff):
        problems.add(
            f"EXIF thumbnail ({length} bytes at {offset}) lies outside the EXIF block "
            f"({len(ex.tiff)} bytes)"
        )
        return None
    blob = ex.tiff[offset : offset + length]
    if not blob.startswith(b"\xff\xd8"):
        problems.add("EXIF thumbnail is not a JPEG; ignored")
        return None
    return blob


def _main_pdq(data: bytes, problems: _Problems) -> str | None:
    try:
        return hash_image(decode_image(data)[0])[0]
    except MediaError as exc:
        problems.add(f"main picture could not be decoded for the thumbnail check: {exc.message}")
        return None


def _thumbnail(
    ex: _Exif, orientation: int | None, main_pdq: Callable[[], str | None], problems: _Problems
) -> Thumbnail | None:
    blob = _thumbnail_bytes(ex, problems)
    if blob is None:
        return None
    try:
        picture = decode_image(blob, fast=False)[0]
    except MediaError as exc:
        problems.add(f"EXIF thumbnail could not be decoded: {exc.message}")
        return None
    # The thumbnail is stored like the main pixels; turn it as the main picture is shown.
    thumb_orientation = _integer(ex.ifd1.get(ExifTags.Base.Orientation)) or orientation
    transpose = _ORIENTATION_TRANSPOSE.get(thumb_orientation or 1)
    shown = picture.transpose(transpose) if transpose is not None else picture
    rgb = np.asarray(shown, dtype=np.uint8)
    box = content_box([rgb])  # letterbox bars some cameras add to fit 160x120
    if box is not None:
        top, bottom, left, right = box
        shown = shown.crop((left, top, right, bottom))
    pdq, quality = hash_image(shown)
    main = main_pdq()
    distance = pdq_distance(pdq, main) if main is not None else None
    mismatch: bool | None = None
    if quality < THUMBNAIL_MIN_QUALITY:
        problems.add(f"EXIF thumbnail is too featureless to compare (PDQ quality {quality})")
    elif distance is not None:
        mismatch = distance > THUMBNAIL_MISMATCH_DISTANCE
    return Thumbnail(
        width=picture.width,
        height=picture.height,
        size_bytes=len(blob),
        pdq=pdq,
        quality=quality,
        main_pdq=main,
        distance=distance,
        mismatch=mismatch,
    )


# --- photos -----------------------------------------------------------------------------------


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _xmp_time(xmp: _Xmp | None, name: str, problems: _Problems) -> Timestamp | None:
    text = xmp.values.get(name) if xmp is not None else None
    if not text:
        return None
    try:
        parsed = _parse_datetime(text)
    except ValueError as exc:
        problems.add(f"XMP {name} dropped: {exc}")
        return None
    return None if parsed is None else _timestamp(f"xmp:{name}", *parsed)


def _photo_device(ex: _Exif, xmp: _Xmp | None, problems: _Problems) -> Device:
    x = xmp.values if xmp is not None else {}

    def exif_text(where: dict[int, Any], tag: int) -> str | None:
        return _text(where.get(tag), ExifTags.Base(tag).name, problems)

    make = _first(exif_text(ex.ifd0, ExifTags.Base.Make), x.get("tiff:Make"))
    serials: list[SerialNumber] = []
    candidates = (
        (
            SerialKind.BODY,
            exif_text(ex.exif, ExifTags.Base.BodySerialNumber),
            "exif:BodySerialNumber",
        ),
        (
            SerialKind.BODY,
            exif_text(ex.ifd0, ExifTags.Base.CameraSerialNumber),
            "exif:CameraSerialNumber",
        ),
        (
            SerialKind.LENS,
            exif_text(ex.exif, ExifTags.Base.LensSerialNumber),
            "exif:LensSerialNumber",
        ),
        (SerialKind.BODY, x.get("exifEX:BodySerialNumber"), "xmp:exifEX:BodySerialNumber"),
        (SerialKind.BODY, x.get("aux:SerialNumber"), "xmp:aux:SerialNumber"),
        (SerialKind.LENS, x.get("exifEX:LensSerialNumber"), "xmp:exifEX:LensSerialNumber"),
        (SerialKind.LENS, x.get("aux:LensSerialNumber"), "xmp:aux:LensSerialNumber"),
    )
    for kind, value, source in candidates:
        if value and not any(s.kind is kind and s.value == value for s in serials):
            serials.append(SerialNumber(kind, value, source))
    maker_serials, maker_owner = _maker_serials(ex, make)
    for serial in maker_serials:
        if not any(s.kind is serial.kind and s.value == serial.value for s in serials):
            serials.append(serial)
    return Device(
        make=make,
        model=_first(exif_text(ex.ifd0, ExifTags.Base.Model), x.get("tiff:Model")),
        lens_make=_first(exif_text(ex.exif, ExifTags.Base.LensMake), x.get("exifEX:LensMake")),
        lens_model=_first(
            exif_text(ex.exif, ExifTags.Base.LensModel),
            x.get("exifEX:LensModel"),
            x.get("aux:Lens"),
        ),
        owner=_first(
            exif_text(ex.exif, ExifTags.Base.CameraOwnerName),
            maker_owner,
            x.get("exifEX:CameraOwnerName"),
            x.get("aux:OwnerName"),
        ),
        artist=_first(exif_text(ex.ifd0, ExifTags.Base.Artist), x.get("dc:creator")),
        copyright=_first(exif_text(ex.ifd0, ExifTags.Base.Copyright), x.get("dc:rights")),
        serials=tuple(serials),
    )


#: (captured, modified, all times)
_Times = tuple[Timestamp | None, Timestamp | None, tuple[Timestamp, ...]]


def _photo_times(ex: _Exif, xmp: _Xmp | None, gps: Gps | None, problems: _Problems) -> _Times:
    """(captured, modified, all times) of a photo."""
    base = ExifTags.Base
    original = _exif_time(
        ex, base.DateTimeOriginal, base.OffsetTimeOriginal, base.SubsecTimeOriginal, problems
    )
    digitized = _exif_time(
        ex, base.DateTimeDigitized, base.OffsetTimeDigitized, base.SubsecTimeDigitized, problems
    )
    changed = _exif_time(ex, base.DateTime, base.OffsetTime, base.SubsecTime, problems)
    xmp_original = _xmp_time(xmp, "exif:DateTimeOriginal", problems)
    xmp_created = _xmp_time(xmp, "photoshop:DateCreated", problems)
    xmp_create = _xmp_time(xmp, "xmp:CreateDate", problems)
    xmp_modify = _xmp_time(xmp, "xmp:ModifyDate", problems)
    xmp_metadata = _xmp_time(xmp, "xmp:MetadataDate", problems)
    gps_time = (
        Timestamp(source="exif:GPSDateStamp", local=None, utc=gps.timestamp)
        if gps is not None and gps.timestamp is not None
        else None
    )
    inferred: timedelta | None = None
    reference = original or digitized
    if reference is not None and reference.local is not None and gps_time is not None:
        assert gps_time.utc is not None
        inferred = _infer_offset(reference.local, gps_time.utc)

    def with_inferred(stamp: Timestamp | None) -> Timestamp | None:
        if stamp is None or stamp.offset is not None or inferred is None:
            return stamp
        return replace(stamp, inferred_offset=inferred)

    original, digitized, changed = (with_inferred(t) for t in (original, digitized, changed))
    everything = (
        original,
        digitized,
        changed,
        gps_time,
        xmp_original,
        xmp_created,
        xmp_create,
        xmp_modify,
        xmp_metadata,
    )
    times = tuple(t for t in everything if t is not None)
    captured = original or xmp_original or xmp_created or digitized or xmp_create
    return captured, changed or xmp_modify, times


def _orientation(ex: _Exif, problems: _Problems) -> int | None:
    value = ex.ifd0.get(ExifTags.Base.Orientation)
    if value is None or value == 0:  # 0: "unknown", as some editors write it
        return None
    number = _integer(value)
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
        if block[:4] in _TIFF_HEADERS:
            return block
        start = at + 1
    return b""


def _open_exif(
    data: bytes, problems: _Problems
) -> tuple[Image.Exif, bytes, tuple[int, int] | None]:
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


def _photo(data: bytes, fmt: str, pdq: str | None) -> Metadata:
    problems = _Problems()
    attempt = problems.attempt
    exif, tiff, size = _open_exif(data, problems)
    with quiet_pillow():
        ex = _read_exif(exif, tiff, problems)
    xmp = _read_xmp(data, problems)
    x = xmp.values if xmp is not None else {}
    gps = attempt("EXIF GPS", lambda: _exif_gps(ex.gps, problems), None)
    if gps is None and xmp is not None:
        gps = attempt("XMP GPS", lambda: _xmp_gps(xmp, problems), None)
    no_times: _Times = (None, None, ())
    times = attempt("times", lambda: _photo_times(ex, xmp, gps, problems), no_times)
    orientation = _orientation(ex, problems)

    def main_pdq() -> str | None:
        if pdq is not None or size is None:
            return pdq
        return _main_pdq(data, problems)

    with quiet_pillow():
        thumbnail = attempt(
            "EXIF thumbnail", lambda: _thumbnail(ex, orientation, main_pdq, problems), None
        )
    software = [
        _text(ex.ifd0.get(ExifTags.Base.Software), "Software", problems),
        x.get("xmp:CreatorTool"),
        *(h.software for h in (xmp.history if xmp is not None else ())),
    ]
    document = Document(
        creator_tool=x.get("xmp:CreatorTool"),
        image_unique_id=_text(ex.exif.get(ExifTags.Base.ImageUniqueID), "ImageUniqueID", problems),
        document_id=x.get("xmpMM:DocumentID"),
        original_document_id=x.get("xmpMM:OriginalDocumentID"),
        instance_id=x.get("xmpMM:InstanceID"),
        history=xmp.history if xmp is not None else (),
    )
    tags: list[tuple[str, str]] = attempt("EXIF tags", lambda: _exif_tags(ex), [])
    tags += [(f"xmp:{k}", v) for k, v in x.items()]
    return Metadata(
        kind=ContentType.PHOTO,
        format=fmt,
        width=size[0] if size else None,
        height=size[1] if size else None,
        orientation=orientation,
        captured=times[0],
        modified=times[1],
        times=times[2],
        gps=gps,
        place=None if gps is None else geo.place(gps.latitude, gps.longitude),
        device=attempt("device", lambda: _photo_device(ex, xmp, problems), Device()),
        software=_dedupe([s for s in software if s]),
        document=document if document != Document() else None,
        thumbnail=thumbnail,
        tags=tuple(tags[:MAX_TAGS]),
        problems=tuple(problems.items),
    )


# --- videos -----------------------------------------------------------------------------------

_ISO6709 = re.compile(
    r"([+-]\d{2,6}(?:\.\d+)?)([+-]\d{3,7}(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?"
)


def _iso6709_part(text: str, degree_digits: int) -> float:
    """One ISO 6709 coordinate: ±DD[D].d, ±DD[D]MM.m or ±DD[D]MMSS.s."""
    sign = -1.0 if text[0] == "-" else 1.0
    whole, _, fraction = text[1:].partition(".")
    frac = float(f"0.{fraction}") if fraction else 0.0
    extra = len(whole) - degree_digits
    if extra == 0:
        value = int(whole) + frac
    elif extra == 2:
        value = int(whole[:degree_digits]) + (int(whole[degree_digits:]) + frac) / 60
    elif extra == 4:
        minutes = int(whole[degree_digits : degree_digits + 2])
        value = int(whole[:degree_digits]) + minutes / 60 + (int(whole[-2:]) + frac) / 3600
    else:
        raise ValueError(f"not an ISO 6709 coordinate: {text!r}")
    return sign * value


def parse_iso6709(text: str) -> tuple[float, float, float | None]:
    """``+52.3702+004.8952+000.000/`` (or the DDMM / DDMMSS forms) as (lat, lon, altitude).
    Raises ValueError when malformed."""
    match = _ISO6709.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an ISO 6709 location: {text!r}")
    lat_text, lon_text, alt_text = match.groups()
    altitude = float(alt_text) if alt_text else None
    return _iso6709_part(lat_text, 2), _iso6709_part(lon_text, 3), altitude


def _tag_map(container: av.container.InputContainer) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in container.metadata.items():
        tags[str(key)] = str(value)
    for stream in container.streams:
        for key, value in stream.metadata.items():
            tags[f"stream{stream.index}:{key}"] = str(value)
    return {k[:100]: " ".join(v.split())[:MAX_TAG_CHARS] for k, v in list(tags.items())[:MAX_TAGS]}


def _lookup(tags: Mapping[str, str], *keys: str) -> tuple[str, str] | None:
    """The first present key, case-insensitively: ``(key, value)``."""
    lowered = {k.lower(): (k, v) for k, v in tags.items() if v}
    for key in keys:
        hit = lowered.get(key.lower())
        if hit is not None:
            return hit
    return None


def _video_times(
    tags: Mapping[str, str], problems: _Problems
) -> tuple[Timestamp | None, tuple[Timestamp, ...]]:
    times: list[Timestamp] = []
    for key in ("com.apple.quicktime.creationdate", "date", "creation_time"):
        hit = _lookup(tags, key)
        if hit is None:
            continue
        name, text = hit
        if re.fullmatch(r"\s*\d{4}\s*", text):
            continue  # a year alone ("date" = ©day often is)
        try:
            parsed = _parse_datetime(text)
        except ValueError as exc:
            problems.add(f"QuickTime {name} dropped: {exc}")
            continue
        if parsed is None:
            continue
        local, offset = parsed
        if key == "creation_time":
            # UTC by definition (MP4 / QuickTime mvhd); 1904-01-01 or 1970-01-01 = unset.
            utc = _timestamp(name, local, offset or timedelta(0)).utc
            if utc is None or utc.year in (1904, 1970):
                continue
            times.append(Timestamp(source=f"quicktime:{name}", local=None, utc=utc))
        else:
            times.append(_timestamp(f"quicktime:{name}", local, offset))
    return (times[0] if times else None), tuple(times)


def _video_gps(tags: Mapping[str, str], problems: _Problems) -> Gps | None:
    hit = _lookup(tags, "com.apple.quicktime.location.ISO6709", "location", "location-eng")
    if hit is None:
        return None
    name, text = hit
    try:
        lat, lon, altitude = parse_iso6709(text)
    except ValueError as exc:
        problems.add(f"QuickTime {name} dropped: {exc}")
        return None
    accuracy_hit = _lookup(tags, "com.apple.quicktime.location.accuracy.horizontal")
    accuracy = _rational_text(accuracy_hit[1]) if accuracy_hit else None
    return _checked_gps(
        Gps(
            source="quicktime",
            latitude=lat,
            longitude=lon,
            altitude_m=altitude,
            accuracy_m=accuracy,
        ),
        problems,
    )


def _rate(stream: Any) -> float | None:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return round(float(Fraction(rate)), 3)
    return None


def _video(data: bytes, fmt: str) -> Metadata:
    problems = _Problems()
    try:
        container = av.open(io.BytesIO(data), mode="r", format=fmt)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"corrupt or truncated {fmt} video: {exc}") from None
    with container:
        tags: dict[str, str] = problems.attempt("tags", lambda: _tag_map(container), {})
        duration = container.duration / av.time_base if container.duration else None
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        # A stream whose codec FFmpeg does not know has no codec context.
        video_ctx = video.codec_context if video is not None else None
        audio_ctx = audio.codec_context if audio is not None else None
        width = (video_ctx.width or None) if video_ctx is not None else None
        height = (video_ctx.height or None) if video_ctx is not None else None
        if duration is None and video is not None and video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        video_codec = video_ctx.name if video_ctx is not None else None
        audio_codec = audio_ctx.name if audio_ctx is not None else None
        frame_rate = _rate(video) if video is not None else None
    if video is None:
        problems.add("the file has no video stream")
    no_times: tuple[Timestamp | None, tuple[Timestamp, ...]] = (None, ())
    captured, times = problems.attempt("times", lambda: _video_times(tags, problems), no_times)
    gps = problems.attempt("location", lambda: _video_gps(tags, problems), None)

    def tag(*keys: str) -> str | None:
        hit = _lookup(tags, *keys)
        return hit[1] if hit else None

    software = [
        tag("com.apple.quicktime.software"),
        tag("software"),
        tag("com.android.version") and f"Android {tag('com.android.version')}",
        tag("encoder"),
    ]
    device = Device(
        make=tag("com.apple.quicktime.make", "com.android.manufacturer", "make"),
        model=tag("com.apple.quicktime.model", "com.android.model", "model"),
        artist=tag("artist", "com.apple.quicktime.author", "author"),
        copyright=tag("copyright", "com.apple.quicktime.copyright"),
    )
    xmp = _read_xmp(data, problems)
    document = None
    if xmp is not None:
        document = Document(
            creator_tool=xmp.values.get("xmp:CreatorTool"),
            document_id=xmp.values.get("xmpMM:DocumentID"),
            original_document_id=xmp.values.get("xmpMM:OriginalDocumentID"),
            instance_id=xmp.values.get("xmpMM:InstanceID"),
            history=xmp.history,
        )
    return Metadata(
        kind=ContentType.VIDEO,
        format=fmt,
        width=width,
        height=height,
        duration_s=None if duration is None else round(duration, 3),
        video_codec=video_codec,
        audio_codec=audio_codec,
        frame_rate=frame_rate,
        captured=captured,
        times=times,
        gps=gps,
        place=None if gps is None else geo.place(gps.latitude, gps.longitude),
        device=device,
        software=_dedupe([s for s in software if s]),
        document=document,
        tags=tuple(sorted(tags.items())),
        problems=tuple(problems.items),
    )


# --- entry point ------------------------------------------------------------------------------


def extract(data: bytes, *, pdq: str | None = None) -> Metadata:
    """Metadata of the photo or video in ``data`` (see the module docstring).

    ``pdq`` is the main picture's PDQ hash if the caller already has it (as computed by
    `vangnet.signals.pdq` on the EXIF-oriented picture); otherwise it is computed when an
    EXIF thumbnail needs comparing. Raises `EmptyInputError`, `UnsupportedMediaError`,
    `MediaTooLargeError` or `MediaError` when ``data`` is not a readable photo or video;
    broken metadata only adds to ``problems``.
    """
    sniffed = sniff(data)
    if sniffed.content_type is ContentType.VIDEO:
        return _video(data, sniffed.format)
    if sniffed.content_type is ContentType.PHOTO:
        return _photo(data, sniffed.format, pdq)
    raise UnsupportedMediaError(f"no metadata reader for {sniffed.format}")
