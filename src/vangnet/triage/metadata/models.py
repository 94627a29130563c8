"""The result of `extract`: times, GPS, device, document ids, thumbnail check, as
frozen dataclasses whose ``to_dict`` gives plain JSON types."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from vangnet.signals.base import ContentType
from vangnet.triage import geo

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
    if isinstance(value, Plain | geo.Place):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class Plain:
    """``to_dict`` for the result dataclasses: every field, converted by `_plain`."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class Timestamp(Plain):
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
class Gps(Plain):
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
class SerialNumber(Plain):
    kind: SerialKind
    value: str
    source: str  # e.g. "exif:BodySerialNumber", "canon:SerialNumber", "xmp:aux:SerialNumber"


@dataclass(frozen=True)
class Device(Plain):
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
class HistoryEvent(Plain):
    """One entry of an XMP ``xmpMM:History``: what software did what, when."""

    action: str | None
    when: str | None
    software: str | None


@dataclass(frozen=True)
class Document(Plain):
    """Identifiers that link copies and edits of one picture, and its edit history."""

    creator_tool: str | None = None
    image_unique_id: str | None = None  # EXIF ImageUniqueID
    document_id: str | None = None  # xmpMM:DocumentID
    original_document_id: str | None = None  # xmpMM:OriginalDocumentID
    instance_id: str | None = None  # xmpMM:InstanceID
    history: tuple[HistoryEvent, ...] = ()


@dataclass(frozen=True)
class Thumbnail(Plain):
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
class Metadata(Plain):
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
