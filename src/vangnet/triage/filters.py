"""The investigation workbench's filters and the SQL they become.

Everything runs on SQLite and PostgreSQL alike: JSON fields of `TriageItem` are read with
SQLAlchemy's JSON paths (``json_extract`` / ``#>>``) and searched as text (``CAST(... AS
TEXT)``, case-insensitive ``LIKE`` with the wildcards escaped).

- `Filters`: the grid's filters as query parameters (category, device, place, capture date
  range, has text, series, kind, deleted, a flag such as "with GPS", full-text ``q``), parsed
  and validated, turned into SQL conditions and back into links.
- the SQL expressions of the item fields the filters and the counts read (`DEVICE_KEY`,
  `HAS_GPS`, `flag_sql`, ...), and the categories an analyst chooses from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Text, and_, cast, exists, false, func, or_

from vangnet.banks.categories import Category
from vangnet.errors import ValidationError
from vangnet.signals.registry import frame_signal_types
from vangnet.store.models import TriageItem, TriageSignal
from vangnet.triage.text_calls import LIKELY as VIDEO_CALL_LIKELY

UNCATEGORISED = "uncategorised"
KINDS = ("photo", "video", "archive", "image", "other")
VISUAL = ("photo", "video")
#: Flags the overview counts and the grid filters by.
FLAGS = {
    "gps": "with GPS",
    "screenshot": "screenshots traced to a source",
    "video_call": "likely video calls",
    "matched": "bank matches",
    "thumbnail_mismatch": "thumbnail differs",
    "failed": "failed",
    "likely_new": "likely new material",
}
#: How the grid can be ordered: by id (the walk's order, the default) or by the ``classify``
#: step's priority signal, highest first (unscored items last).
SORTS = ("score",)
#: Category profiles an analyst chooses from (VICS 0-4, UK A-C).
PROFILES = ("vics", "uk")
#: A search of hex digits this long or longer is taken as a hash prefix.
MIN_HASH_PREFIX = 8
_HEX = re.compile(r"[0-9a-f]+")

META = TriageItem.item_metadata
FINDINGS = TriageItem.findings
DEVICE_KEY = META[("device", "key")].as_string()
COUNTRY_CODE = META[("place", "country_code")].as_string()
CITY = META[("place", "city")].as_string()
CAPTURED = META[("captured", "local")].as_string()
CAPTURED_DAY = func.substr(CAPTURED, 1, 10)


def _present(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """A JSON value that is there and not null / false (as text: SQLite gives 0, PostgreSQL
    'false')."""
    text = cast(expr, Text)
    return and_(text.is_not(None), text.not_in(("0", "false", "")))


HAS_TEXT = and_(TriageItem.text.is_not(None), func.length(TriageItem.text) > 0)
HAS_GPS = and_(
    META[("gps", "latitude")].as_string().is_not(None),
    func.coalesce(META[("gps", "null_island")].as_boolean(), false()).is_(False),
)
_FIXED_FLAGS: dict[str, ColumnElement[bool]] = {
    "gps": HAS_GPS,
    "screenshot": _present(FINDINGS[("screenshot_of", 0, "name")].as_string()),
    "matched": _present(TriageItem.matches[(0, "bank")].as_string()),
    "thumbnail_mismatch": META["thumbnail_mismatch"].as_boolean().is_(True),
    "failed": TriageItem.status == "failed",
    # likely by the classifiers and matching no bank: what no list knows
    "likely_new": and_(
        TriageItem.signal_likely.is_(True),
        ~_present(TriageItem.matches[(0, "bank")].as_string()),
    ),
}


def flag_sql(flag: str, *, likely: float = VIDEO_CALL_LIKELY) -> ColumnElement[bool]:
    """The SQL condition of ``flag`` (a key of `FLAGS`); ``likely`` is the video-call score
    from which a picture counts as a likely video call (the setting
    ``triage_call_likely``, passed in by the web workbench)."""
    if flag == "video_call":
        return func.coalesce(FINDINGS[("video_call", "score")].as_float(), 0.0) >= likely
    return _FIXED_FLAGS[flag]


def category_label(value: str | None) -> str:
    if not value:
        return UNCATEGORISED
    try:
        return f"{value} — {Category.parse(value).label}"
    except ValidationError:
        return value


def parse_category(value: str) -> str | None:
    """A category to set (``vics:1``, ``uk:A``), or None for "uncategorised"."""
    value = value.strip()
    if value.lower() == UNCATEGORISED:
        return None
    category = Category.parse(value)
    if category.profile not in PROFILES:
        raise ValidationError(f"choose a VICS or UK category, not {value!r}")
    return f"{category.profile}:{category.code}"


# -- filters ---------------------------------------------------------------------------------


def _yes_no(name: str, value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("", "any"):
        return None
    if lowered in ("yes", "1", "true", "on"):
        return True
    if lowered in ("no", "0", "false", "off"):
        return False
    raise ValidationError(f"{name} is yes or no, not {value!r}")


def _day(name: str, value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} is a date (YYYY-MM-DD), not {value!r}") from None


def _score(name: str, value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        score = float(value)
    except ValueError:
        raise ValidationError(f"{name} is a number from 0 to 1, not {value!r}") from None
    if not 0.0 <= score <= 1.0:
        raise ValidationError(f"{name} is a number from 0 to 1, not {value!r}")
    return score


def _text(value: str, limit: int = 200) -> str | None:
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"a filter value is at most {limit} characters")
    return value or None


def _json_escaped(text: str) -> str:
    """``text`` as it appears inside stored JSON (non-ASCII and quotes escaped)."""
    return json.dumps(text)[1:-1]


@dataclass(frozen=True)
class Filters:
    """The grid's filters; empty ones are None. Built from query parameters by `parse`."""

    category: str | None = None  # "vics:1", "uk:A" or "uncategorised"
    device: str | None = None  # a device key ("make|model|serial", casefolded)
    place: str | None = None  # a country code or a city name
    date_from: date | None = None  # captured (local) date, inclusive
    date_to: date | None = None
    has_text: bool | None = None
    series_id: int | None = None
    series: str | None = None  # a bank series name
    kind: str | None = None
    deleted: bool | None = None
    flag: str | None = None  # a key of FLAGS
    q: str | None = None  # full text: OCR text, names and paths, metadata, hashes
    min_score: float | None = None  # the classify step's priority signal, at least (0-1)
    sort: str | None = None  # a key of SORTS; None: id order

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        """From query parameters; raises `ValidationError` on a value that makes no sense."""

        def get(name: str) -> str:
            return str(params.get(name) or "")

        category = _text(get("category"), 64)
        if category and category.lower() == UNCATEGORISED:
            category = UNCATEGORISED
        elif category:
            parsed = Category.parse(category)
            category = f"{parsed.profile}:{parsed.code}"
        kind = _text(get("kind"), 16)
        if kind and kind not in KINDS:
            raise ValidationError(f"kind is one of {', '.join(KINDS)}, not {kind!r}")
        flag = _text(get("flag"), 32)
        if flag and flag not in FLAGS:
            raise ValidationError(f"flag is one of {', '.join(FLAGS)}, not {flag!r}")
        series_id = _text(get("series_id"), 12)
        if series_id and not series_id.isdigit():
            raise ValidationError(f"series_id is a number, not {series_id!r}")
        sort = _text(get("sort"), 16)
        if sort and sort not in SORTS:
            raise ValidationError(f"sort is one of {', '.join(SORTS)}, not {sort!r}")
        date_from, date_to = _day("date_from", get("date_from")), _day("date_to", get("date_to"))
        if date_from and date_to and date_from > date_to:
            date_from, date_to = date_to, date_from
        return cls(
            category=category,
            device=_text(get("device"), 600),
            place=_text(get("place"), 200),
            date_from=date_from,
            date_to=date_to,
            has_text=_yes_no("has_text", get("has_text")),
            series_id=int(series_id) if series_id else None,
            series=_text(get("series"), 500),
            kind=kind,
            deleted=_yes_no("deleted", get("deleted")),
            flag=flag,
            q=_text(get("q"), 200),
            min_score=_score("min_score", get("min_score")),
            sort=sort,
        )

    def params(self) -> dict[str, str]:
        """The filters that are set, as query parameters."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool):
                out[f.name] = "yes" if value else "no"
            elif isinstance(value, date):
                out[f.name] = value.isoformat()
            else:
                out[f.name] = str(value)
        return out

    def query(self, **extra: Any) -> str:
        """A query string of the filters (and ``extra``, None values left out)."""
        params = self.params()
        params.update({k: str(v) for k, v in extra.items() if v is not None})
        return urlencode(params)

    def with_(self, **changes: Any) -> Filters:
        return replace(self, **changes)

    @property
    def active(self) -> bool:
        return bool(self.params())

    def conditions(self, *, likely: float = VIDEO_CALL_LIKELY) -> list[ColumnElement[bool]]:
        """SQL conditions on `TriageItem` for the filters that are set (``likely``: see
        `flag_sql`)."""
        found: list[ColumnElement[bool]] = []
        if self.category == UNCATEGORISED:  # the unknown photos and videos
            found.append(TriageItem.category.is_(None))
            found.append(TriageItem.kind.in_(VISUAL))
            found.append(TriageItem.status == "ok")
        elif self.category:
            found.append(TriageItem.category == self.category)
        if self.device:
            found.append(self.device == DEVICE_KEY)
        if self.place:
            found.append(
                or_(
                    func.upper(COUNTRY_CODE) == self.place.upper(),
                    func.lower(CITY) == self.place.lower(),
                )
            )
        if self.date_from:
            found.append(self.date_from.isoformat() <= CAPTURED_DAY)
        if self.date_to:
            found.append(self.date_to.isoformat() >= CAPTURED_DAY)
        if self.has_text is not None:
            found.append(HAS_TEXT if self.has_text else ~HAS_TEXT)
        if self.series_id is not None:
            found.append(TriageItem.series_id == self.series_id)
        if self.series:
            found.append(TriageItem.series == self.series)
        if self.kind:
            found.append(TriageItem.kind == self.kind)
        if self.deleted is not None:
            found.append(TriageItem.deleted.is_(self.deleted))
        if self.flag:
            found.append(flag_sql(self.flag, likely=likely))
        if self.q:
            found.append(search_condition(self.q))
        if self.min_score is not None:
            found.append(TriageItem.priority_signal >= self.min_score)
        return found


def search_condition(q: str) -> ColumnElement[bool]:
    """Items whose OCR text, name, path, metadata, findings, matches or hashes contain ``q``
    (case-insensitive; ``%`` and ``_`` match themselves). The hashes are the item's columns
    and its `TriageSignal` rows of single-value types (a plug-in's hash), not the frames of a
    video.

    JSON is searched as its text, so a word that is part of a key ("model", "video_codec")
    matches every item that has the key. Hashes and the findings (which hold the PDQ of every
    rotation) are searched only for words that cannot be a chance piece of a hex digest
    ("face", "bad" can): anything but hex digits, or a hash prefix of 8 or more."""
    plain = [TriageItem.name, TriageItem.text, TriageItem.series]
    json_columns: list[Any] = [TriageItem.chain, META, TriageItem.matches]
    hashes = not _HEX.fullmatch(q.lower()) or len(q) >= MIN_HASH_PREFIX
    if hashes:
        plain += [TriageItem.md5, TriageItem.sha1, TriageItem.sha256, TriageItem.pdq]
        json_columns.append(FINDINGS)
    stored = [cast(c, Text) for c in json_columns]
    terms = [c.icontains(q, autoescape=True) for c in plain + stored]
    if hashes:  # a single-value hash of any other signal type (a plug-in's)
        terms.append(
            exists().where(
                TriageSignal.item_id == TriageItem.id,
                TriageSignal.signal_type.not_in(sorted(frame_signal_types())),
                TriageSignal.value.icontains(q, autoescape=True),
            )
        )
    escaped = _json_escaped(q)
    if escaped != q:  # JSON stores "São Paulo" as "S\u00e3o Paulo"
        terms += [c.icontains(escaped, autoescape=True) for c in stored]
    return or_(*terms)
