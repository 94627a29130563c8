"""Small parsers shared by the readers: clean text, numbers, EXIF / ISO 8601 date-times
and UTC offsets, and `Problems`, which turns any parsing failure into a note."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from vangnet.triage.metadata.models import Timestamp

T = TypeVar("T")

#: Raw tags kept in ``tags``: at most this many, each value cut to this many characters.
MAX_TAGS = 400
MAX_TAG_CHARS = 500


class Problems:
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


def clean_text(value: Any, name: str, problems: Problems) -> str | None:
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
    text = printable(value.split("\x00", 1)[0])  # EXIF ASCII ends at the first NUL
    return text[:MAX_TAG_CHARS] or None


def printable(text: str) -> str:
    """``text`` without control characters, whitespace runs collapsed."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def as_number(value: Any) -> float | None:
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


def as_integer(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number.is_integer() else None


_EXIF_DATETIME = re.compile(
    r"(\d{4})[:\-/](\d{2})[:\-/](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_BLANK_DATE = re.compile(r"[\s:0\-T.+Z]*")


def parse_offset(text: str) -> timedelta:
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


def parse_datetime(text: str) -> tuple[datetime, timedelta | None] | None:
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
    return local, (parse_offset(offset) if offset else None)


def with_subseconds(local: datetime, subsec: str | None) -> datetime:
    digits = (subsec or "").strip()
    if not digits.isdigit() or local.microsecond:
        return local
    return local.replace(microsecond=int(digits[:6].ljust(6, "0")))


def make_timestamp(source: str, local: datetime, offset: timedelta | None) -> Timestamp:
    try:
        utc = (local - offset).replace(tzinfo=UTC) if offset is not None else None
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        utc = None
    return Timestamp(source=source, local=local, offset=offset, utc=utc)


def infer_offset(local: datetime, gps_utc: datetime, tolerance: timedelta) -> timedelta | None:
    """The UTC offset that local time minus GPS time is close to (whole quarter hours,
    UTC-12..+14), or None when they do not agree within ``tolerance`` (GPS fixes can be a
    little older than the picture)."""
    diff = local - gps_utc.replace(tzinfo=None)
    quarters = round(diff / timedelta(minutes=15))
    offset = quarters * timedelta(minutes=15)
    if abs(diff - offset) > tolerance:
        return None
    if not timedelta(hours=-12) <= offset <= timedelta(hours=14):
        return None
    return offset


def dedupe(values: list[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return tuple(seen)
