"""What the investigation workbench shows: the data queries behind its pages.

An investigation case is a `Case` of kind ``investigation``; its files are `TriageItem` rows.
Everything here is scoped to one case and runs on SQLite and PostgreSQL alike: JSON fields are
read with SQLAlchemy's JSON paths (``json_extract`` / ``#>>``) and searched as text
(``CAST(... AS TEXT)``, case-insensitive ``LIKE`` with the wildcards escaped).

- `Filters`: the grid's filters as query parameters (category, device, place, capture date
  range, has text, series, kind, deleted, a flag such as "with GPS", full-text ``q``), parsed
  and validated, turned into SQL conditions and back into links.
- `overview`: the case's counts (kinds, known per category, unknown, screenshots, video calls,
  with GPS, per device, per place, deleted, failed, with text, series).
- `grid`: one page of filtered items; `item_page`: everything about one item, its source
  chain and neighbours; `series_groups`, `timeline`, `map_view`: the other views.
- `categorise`: bulk categorisation, audited per item (before / after) in the caller's
  transaction.

Findings read here (written by the triage steps, `vangnet.investigate.steps` and
`vangnet.investigate.tracing`): ``screenshot_of`` (a screenshot traced to the video or picture
it shows: ``[{name, label, kind, frame, timestamp, method, part, distance, inliers, region}]``,
``name`` "item:ID" for a video of the case, "bank:NAME/ID" for a banked one), ``video_call``
(``{score, reasons}``; likely from `text_calls.LIKELY`), ``text_hints`` (leads in the text:
times, dates, timecodes, handles, e-mails, URLs, apps, file names) and ``language``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any, NamedTuple
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Text, and_, cast, false, func, or_, select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.banks.categories import Category, get_profile
from vangnet.errors import NotFoundError, ValidationError
from vangnet.investigate import geo
from vangnet.investigate.records import item_dict
from vangnet.investigate.sources import chain_key
from vangnet.investigate.text_calls import LIKELY as VIDEO_CALL_LIKELY
from vangnet.store.models import Case, TriageItem, TriageRun

PER_PAGE = 60
MAX_PAGE = 100_000
#: Most items one categorisation may change.
MAX_CATEGORISE = 1000
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
}
#: Category profiles an analyst chooses from (VICS 0-4, UK A-C).
PROFILES = ("vics", "uk")
#: A timeline by day with more days than this is shown by month.
MAX_DAYS = 90
#: Preview strip length per series.
STRIP = 8
#: A search of hex digits this long or longer is taken as a hash prefix.
MIN_HASH_PREFIX = 8
_HEX = re.compile(r"[0-9a-f]+")

_M = TriageItem.item_metadata
_F = TriageItem.findings
_device_key = _M[("device", "key")].as_string()
_country_code = _M[("place", "country_code")].as_string()
_city = _M[("place", "city")].as_string()
_captured = _M[("captured", "local")].as_string()
_captured_day = func.substr(_captured, 1, 10)


def _present(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """A JSON value that is there and not null / false (as text: SQLite gives 0, PostgreSQL
    'false')."""
    text = cast(expr, Text)
    return and_(text.is_not(None), text.not_in(("0", "false", "")))


_has_text = and_(TriageItem.text.is_not(None), func.length(TriageItem.text) > 0)
_has_gps = and_(
    _M[("gps", "latitude")].as_string().is_not(None),
    func.coalesce(_M[("gps", "null_island")].as_boolean(), false()).is_(False),
)
_flag_sql: dict[str, ColumnElement[bool]] = {
    "gps": _has_gps,
    "screenshot": _present(_F[("screenshot_of", 0, "name")].as_string()),
    "video_call": func.coalesce(_F[("video_call", "score")].as_float(), 0.0) >= VIDEO_CALL_LIKELY,
    "matched": _present(TriageItem.matches[(0, "bank")].as_string()),
    "thumbnail_mismatch": _M["thumbnail_mismatch"].as_boolean().is_(True),
    "failed": TriageItem.status == "failed",
}


def category_choices() -> list[tuple[str, str]]:
    """``(value, label)`` for the categorisation select: VICS 0-4, UK A-C, uncategorised."""
    choices = [
        (f"{p}:{c.code}", f"{p}:{c.code} — {c.label}")
        for p in PROFILES
        for c in get_profile(p).codes
    ]
    return [*choices, (UNCATEGORISED, "uncategorised")]


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

    def conditions(self) -> list[ColumnElement[bool]]:
        """SQL conditions on `TriageItem` for the filters that are set."""
        found: list[ColumnElement[bool]] = []
        if self.category == UNCATEGORISED:  # the unknown photos and videos
            found.append(TriageItem.category.is_(None))
            found.append(TriageItem.kind.in_(VISUAL))
            found.append(TriageItem.status == "ok")
        elif self.category:
            found.append(TriageItem.category == self.category)
        if self.device:
            found.append(_device_key == self.device)
        if self.place:
            found.append(
                or_(
                    func.upper(_country_code) == self.place.upper(),
                    func.lower(_city) == self.place.lower(),
                )
            )
        if self.date_from:
            found.append(_captured_day >= self.date_from.isoformat())
        if self.date_to:
            found.append(_captured_day <= self.date_to.isoformat())
        if self.has_text is not None:
            found.append(_has_text if self.has_text else ~_has_text)
        if self.series_id is not None:
            found.append(TriageItem.series_id == self.series_id)
        if self.series:
            found.append(TriageItem.series == self.series)
        if self.kind:
            found.append(TriageItem.kind == self.kind)
        if self.deleted is not None:
            found.append(TriageItem.deleted.is_(self.deleted))
        if self.flag:
            found.append(_flag_sql[self.flag])
        if self.q:
            found.append(search_condition(self.q))
        return found


def search_condition(q: str) -> ColumnElement[bool]:
    """Items whose OCR text, name, path, metadata, findings, matches or hashes contain ``q``
    (case-insensitive; ``%`` and ``_`` match themselves).

    JSON is searched as its text, so a word that is part of a key ("model", "video_codec")
    matches every item that has the key. Hashes and the findings (which hold the PDQ of every
    rotation) are searched only for words that cannot be a chance piece of a hex digest
    ("face", "bad" can): anything but hex digits, or a hash prefix of 8 or more."""
    plain = [TriageItem.name, TriageItem.text, TriageItem.series]
    json_columns: list[Any] = [TriageItem.chain, _M, TriageItem.matches]
    if not _HEX.fullmatch(q.lower()) or len(q) >= MIN_HASH_PREFIX:
        plain += [TriageItem.md5, TriageItem.sha1, TriageItem.sha256, TriageItem.pdq]
        json_columns.append(_F)
    stored = [cast(c, Text) for c in json_columns]
    terms = [c.icontains(q, autoescape=True) for c in plain + stored]
    escaped = _json_escaped(q)
    if escaped != q:  # JSON stores "São Paulo" as "S\u00e3o Paulo"
        terms += [c.icontains(escaped, autoescape=True) for c in stored]
    return or_(*terms)


# -- the cases -------------------------------------------------------------------------------


def investigation(session: Session, case_id: int) -> Case:
    """The investigation case ``case_id``; `NotFoundError` for any other case or none."""
    case = session.get(Case, case_id)
    if case is None or case.kind != "investigation":
        raise NotFoundError(f"no investigation case {case_id}")
    return case


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def list_investigations(session: Session) -> list[dict[str, Any]]:
    """Every investigation case with its counts, newest first."""
    visual = TriageItem.kind.in_(VISUAL)
    counts = {
        row.case_id: row
        for row in session.execute(
            select(
                TriageItem.case_id,
                func.count().label("files"),
                func.count().filter(TriageItem.kind == "photo").label("photos"),
                func.count().filter(TriageItem.kind == "video").label("videos"),
                func.count().filter(visual, TriageItem.category.is_not(None)).label("categorised"),
                func.count()
                .filter(visual, TriageItem.category.is_(None), TriageItem.status == "ok")
                .label("uncategorised"),
                func.count().filter(TriageItem.status == "failed").label("failed"),
            ).group_by(TriageItem.case_id)
        )
    }
    runs = {
        row.case_id: row
        for row in session.execute(
            select(
                TriageRun.case_id,
                func.count().label("runs"),
                func.max(TriageRun.started_at).label("last_run"),
            ).group_by(TriageRun.case_id)
        )
    }
    out = []
    cases = session.scalars(
        select(Case).where(Case.kind == "investigation").order_by(Case.created_at.desc())
    )
    for case in cases:
        c, r = counts.get(case.id), runs.get(case.id)
        out.append(
            {
                "id": case.id,
                "title": case.title,
                "status": case.status,
                "created_at": _iso(case.created_at),
                "files": c.files if c else 0,
                "photos": c.photos if c else 0,
                "videos": c.videos if c else 0,
                "categorised": c.categorised if c else 0,
                "uncategorised": c.uncategorised if c else 0,
                "failed": c.failed if c else 0,
                "runs": r.runs if r else 0,
                "last_run": _iso(r.last_run) if r else None,
            }
        )
    return out


# -- facts: one row per item, for counts, the map and the timeline ----------------------------


class Fact(NamedTuple):
    """One item, as the counts, the map and the timeline need it (the columns of `facts`)."""

    id: int
    name: str
    kind: str
    status: str
    deleted: bool
    category: str | None
    series_id: int | None
    series: str | None
    has_text: bool
    matched: bool
    device_key: str | None
    make: str | None
    model: str | None
    country_code: str | None
    country: str | None
    city: str | None
    region: str | None
    place_lat: float | None
    place_lon: float | None
    gps: bool
    captured: str | None  # local ISO time "2017-11-07T22:14:15"
    modified: str | None  # file-system time
    screenshot: bool
    video_call: bool
    thumbnail_mismatch: bool


def _fact_columns() -> dict[str, ColumnElement[Any]]:
    """The SQL expression of each `Fact` field."""
    return {
        "id": TriageItem.id,
        "name": TriageItem.name,
        "kind": TriageItem.kind,
        "status": TriageItem.status,
        "deleted": TriageItem.deleted,
        "category": TriageItem.category,
        "series_id": TriageItem.series_id,
        "series": TriageItem.series,
        "has_text": _has_text,
        "matched": _flag_sql["matched"],
        "device_key": _device_key,
        "make": _M[("device", "make")].as_string(),
        "model": _M[("device", "model")].as_string(),
        "country_code": _country_code,
        "country": _M[("place", "country")].as_string(),
        "city": _city,
        "region": _M[("place", "region")].as_string(),
        "place_lat": _M[("place", "latitude")].as_float(),
        "place_lon": _M[("place", "longitude")].as_float(),
        "gps": _has_gps,
        "captured": _captured,
        "modified": TriageItem.times["modified"].as_string(),
        "screenshot": _flag_sql["screenshot"],
        "video_call": _flag_sql["video_call"],
        "thumbnail_mismatch": _flag_sql["thumbnail_mismatch"],
    }


def facts(session: Session, case_id: int, filters: Filters | None = None) -> list[Fact]:
    """The case's items (those matching ``filters``) as `Fact` rows, in id order: one
    statement, the JSON of each row parsed once by the database."""
    columns = _fact_columns()
    conditions = [TriageItem.case_id == case_id, *(filters.conditions() if filters else [])]
    rows = session.connection().execute(  # (core rows: no ORM loading)
        select(*(columns[name].label(name) for name in Fact._fields))
        .where(*conditions)
        .order_by(TriageItem.id)
    )
    return [Fact._make(r) for r in rows]


@dataclass(frozen=True)
class DeviceCount:
    key: str
    label: str
    count: int
    places: int  # distinct places its items were made at


@dataclass(frozen=True)
class PlaceCount:
    country_code: str
    country: str
    city: str
    region: str | None
    latitude: float | None
    longitude: float | None
    count: int
    devices: int  # distinct devices

    @property
    def label(self) -> str:
        return ", ".join(p for p in (self.city, self.region, self.country) if p)


def _device_label(fact: Fact) -> str:
    make, model = (fact.make or "").strip(), (fact.model or "").strip()
    if make and model.casefold().startswith(make.casefold()):
        make = ""  # "Canon" + "Canon EOS 5D"
    label = " ".join(p for p in (make, model) if p) or "unknown device"
    serial = (fact.device_key or "").split("|")[-1]
    return f"{label} (serial {serial})" if serial else label


def devices(rows: Sequence[Fact]) -> list[DeviceCount]:
    """Devices named by the items' metadata, most items first."""
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    places: dict[str, set[tuple[str, str]]] = {}
    for f in rows:
        if f.device_key:
            counts[f.device_key] += 1
            if f.device_key not in labels:
                labels[f.device_key] = _device_label(f)
            if f.country_code and f.city:
                places.setdefault(f.device_key, set()).add((f.country_code, f.city))
    return [
        DeviceCount(key=k, label=labels[k], count=n, places=len(places.get(k, ())))
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], labels[kv[0]]))
    ]


def places(rows: Sequence[Fact]) -> list[PlaceCount]:
    """Places (nearest populated place of each GPS fix), most items first."""
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], Fact] = {}
    devices_at: dict[tuple[str, str], set[str]] = {}
    for f in rows:
        if f.country_code and f.city:
            key = (f.country_code, f.city)
            counts[key] += 1
            first.setdefault(key, f)
            if f.device_key:
                devices_at.setdefault(key, set()).add(f.device_key)
    out = []
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        f = first[key]
        out.append(
            PlaceCount(
                country_code=key[0],
                country=f.country or key[0],
                city=key[1],
                region=f.region,
                latitude=f.place_lat,
                longitude=f.place_lon,
                count=n,
                devices=len(devices_at.get(key, ())),
            )
        )
    return out


@dataclass(frozen=True)
class Overview:
    files: int
    kinds: dict[str, int]
    known: list[tuple[str, str, int]]  # (category, label, count) over photos and videos
    unknown: int  # photos and videos without a category
    flags: dict[str, int]
    deleted: int
    with_text: int
    series: int
    devices: list[DeviceCount]
    places: list[PlaceCount]


def overview(session: Session, case_id: int) -> Overview:
    """The case's counts (all items, whatever the grid's filters)."""
    return summarise(facts(session, case_id))


def summarise(rows: Sequence[Fact]) -> Overview:
    """The counts of `overview` over ``rows``."""
    visual = [f for f in rows if f.kind in VISUAL and f.status == "ok"]
    known = Counter(f.category for f in visual if f.category)
    flags = {
        "gps": sum(f.gps for f in rows),
        "screenshot": sum(f.screenshot for f in rows),
        "video_call": sum(f.video_call for f in rows),
        "matched": sum(f.matched for f in rows),
        "thumbnail_mismatch": sum(f.thumbnail_mismatch for f in rows),
        "failed": sum(f.status == "failed" for f in rows),
    }
    kinds = Counter(f.kind for f in rows)
    return Overview(
        files=len(rows),
        kinds={k: kinds.get(k, 0) for k in KINDS},
        known=[(c, category_label(c), n) for c, n in sorted(known.items())],
        unknown=sum(1 for f in visual if not f.category),
        flags=flags,
        deleted=sum(f.deleted for f in rows),
        with_text=sum(f.has_text for f in rows),
        series=len({f.series_id for f in rows if f.series_id is not None}),
        devices=devices(rows),
        places=places(rows),
    )


# -- the grid --------------------------------------------------------------------------------


def _card(item: TriageItem) -> dict[str, Any]:
    meta = item.item_metadata or {}
    place = meta.get("place") if isinstance(meta.get("place"), dict) else None
    captured = meta.get("captured") if isinstance(meta.get("captured"), dict) else None
    findings = item.findings or {}
    return {
        "id": item.id,
        "name": item.name,
        "path": " > ".join(item.chain),
        "kind": item.kind,
        "status": item.status,
        "reason": item.reason,
        "deleted": item.deleted,
        "category": item.category,
        "series": item.series,
        "series_id": item.series_id,
        "matched": bool(item.matches),
        "has_text": bool(item.text),
        "place": f"{place.get('city')}, {place.get('country_code')}" if place else None,
        "captured": (captured or {}).get("local"),
        "screenshot": bool(findings.get("screenshot_of")),
        "video_call": video_call_likely(findings.get("video_call")),
        "previewable": previewable(item.kind, item.status),
    }


def previewable(kind: str, status: str) -> bool:
    return kind in VISUAL and status == "ok"


def video_call_likely(value: Any) -> bool:
    """Whether a ``video_call`` finding says "likely" (its score reaches the threshold)."""
    score = value.get("score") if isinstance(value, dict) else None
    return isinstance(score, int | float) and score >= VIDEO_CALL_LIKELY


def _trace(trace: dict[str, Any]) -> dict[str, Any]:
    """A ``screenshot_of`` entry with a link to the case item it was traced to, if any."""
    name = str(trace.get("name") or "")
    item = name.removeprefix("item:")
    return {**trace, "item_id": int(item) if name.startswith("item:") and item.isdigit() else None}


@dataclass(frozen=True)
class GridPage:
    items: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int


def grid(
    session: Session, case_id: int, filters: Filters, *, page: int = 1, per_page: int = PER_PAGE
) -> GridPage:
    """Page ``page`` (from 1) of the case's items matching ``filters``, in id order."""
    conditions = [TriageItem.case_id == case_id, *filters.conditions()]
    total = int(
        session.scalar(select(func.count()).select_from(TriageItem).where(*conditions)) or 0
    )
    pages = max(1, math.ceil(total / per_page))
    page = max(1, min(page, pages))
    rows = session.scalars(
        select(TriageItem)
        .where(*conditions)
        .order_by(TriageItem.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return GridPage(
        items=[_card(r) for r in rows], total=total, page=page, pages=pages, per_page=per_page
    )


# -- one item --------------------------------------------------------------------------------


def get_item(session: Session, item_id: int) -> TriageItem:
    item = session.get(TriageItem, item_id)
    if item is None:
        raise NotFoundError(f"no investigation item {item_id}")
    return item


def _step_kind(index: int, step: str, last: bool, recorded: TriageItem | None) -> str:
    if last:
        return "file"
    if step.startswith("partition"):
        return "partition"
    if step.startswith("whole image"):  # a disk image without a partition table
        return "volume"
    if step.startswith("file system"):
        return "file system"
    if recorded is not None:
        return "disk image" if recorded.kind == "image" else "archive"
    return "source" if index == 0 else "container"


def source_chain(session: Session, item: TriageItem) -> list[dict[str, Any]]:
    """The item's chain, step by step (image → partition → file system → archive → file),
    each with its kind and, where triage recorded it as an item, a link to that item."""
    steps = list(item.chain)
    keys = {chain_key(steps[: i + 1]): i for i in range(len(steps))}
    recorded = {
        keys[r.key]: r
        for r in session.scalars(
            select(TriageItem).where(
                TriageItem.case_id == item.case_id, TriageItem.key.in_(list(keys))
            )
        )
    }
    out = []
    for i, step in enumerate(steps):
        row = recorded.get(i)
        out.append(
            {
                "step": step,
                "kind": _step_kind(i, step, i == len(steps) - 1, row),
                "item_id": row.id if row is not None else None,
            }
        )
    return out


def item_page(session: Session, item: TriageItem) -> dict[str, Any]:
    """Everything the item page shows: the item, its chain, series, neighbours."""
    doc = item_dict(item)
    findings = dict(doc["findings"])
    dihedral = findings.pop("pdq_dihedral", None)
    traced = findings.pop("screenshot_of", None)
    video_call = findings.pop("video_call", None)
    hints = findings.pop("text_hints", None)
    language = findings.pop("language", None)
    lines = findings.pop("text_lines", None)
    video_text = findings.pop("video_text", None)
    traces = [_trace(t) for t in traced or [] if isinstance(t, dict)]
    series_members = 0
    if item.series_id is not None:
        series_members = int(
            session.scalar(
                select(func.count())
                .select_from(TriageItem)
                .where(TriageItem.case_id == item.case_id, TriageItem.series_id == item.series_id)
            )
            or 0
        )
    before = session.scalar(
        select(func.max(TriageItem.id)).where(
            TriageItem.case_id == item.case_id, TriageItem.id < item.id
        )
    )
    after = session.scalar(
        select(func.min(TriageItem.id)).where(
            TriageItem.case_id == item.case_id, TriageItem.id > item.id
        )
    )
    meta = doc["metadata"]
    case = investigation(session, item.case_id)
    return {
        "item": doc,
        "case": {"id": case.id, "title": case.title},
        "chain": source_chain(session, item),
        "meta": meta if isinstance(meta, dict) else {},
        "traces": traces,
        "hints": hints if isinstance(hints, dict) else {},
        "language": language if isinstance(language, dict) else None,
        "text_lines": len(lines) if isinstance(lines, list) else 0,
        "video_text": video_text if isinstance(video_text, dict) else None,
        "video_call": video_call if isinstance(video_call, dict) else None,
        "video_call_likely": video_call_likely(video_call),
        "other_findings": findings,
        "dihedral_variants": len(dihedral or []),
        "series_members": series_members,
        "previous_id": before,
        "next_id": after,
        "previewable": previewable(item.kind, item.status),
        "category_label": category_label(item.category),
    }


# -- series ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesGroup:
    series_id: int
    name: str | None  # the linked bank series
    count: int
    categories: dict[str, int]
    matched: int
    strip: list[int]  # item ids for the preview strip


def series_groups(session: Session, case_id: int) -> list[SeriesGroup]:
    """The case's series (near-duplicate groups), largest first."""
    rows = session.execute(
        select(
            TriageItem.id,
            TriageItem.series_id,
            TriageItem.series,
            TriageItem.category,
            _flag_sql["matched"].label("matched"),
        )
        .where(TriageItem.case_id == case_id, TriageItem.series_id.is_not(None))
        .order_by(TriageItem.series_id, TriageItem.id)
    ).all()
    grouped: dict[int, list[Any]] = {}
    for r in rows:
        grouped.setdefault(int(r.series_id), []).append(r)
    out = []
    for series_id, members in grouped.items():
        names = Counter(m.series for m in members if m.series)
        out.append(
            SeriesGroup(
                series_id=series_id,
                name=names.most_common(1)[0][0] if names else None,
                count=len(members),
                categories=dict(
                    sorted(Counter(m.category or UNCATEGORISED for m in members).items())
                ),
                matched=sum(bool(m.matched) for m in members),
                strip=[m.id for m in members[:STRIP]],
            )
        )
    return sorted(out, key=lambda g: (-g.count, g.series_id))


def bank_series(session: Session, case_id: int) -> list[tuple[str, int]]:
    """Bank series names the case's items were linked to, with item counts."""
    rows = session.execute(
        select(TriageItem.series, func.count())
        .where(TriageItem.case_id == case_id, TriageItem.series.is_not(None))
        .group_by(TriageItem.series)
        .order_by(func.count().desc(), TriageItem.series)
    ).all()
    return [(str(name), int(n)) for name, n in rows]


# -- timeline --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    label: str  # "2017-11-07" or "2017-11"
    count: int
    share: float  # of the largest bucket, 0-1
    date_from: str | None = None  # filter range for a link to the grid
    date_to: str | None = None


def _month_end(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    nxt = date(year + mon // 12, mon % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1).isoformat()


def _buckets(values: Sequence[str], *, link: bool) -> tuple[list[Bucket], str]:
    days = Counter(v[:10] for v in values if len(v) >= 10)
    unit = "day"
    counts: Counter[str] = days
    if len(days) > MAX_DAYS:
        unit = "month"
        counts = Counter()
        for day, n in days.items():
            counts[day[:7]] += n
    top = max(counts.values(), default=0)
    out = []
    for label, n in sorted(counts.items()):
        if unit == "day":
            start, end = label, label
        else:
            start, end = f"{label}-01", _month_end(label)
        out.append(
            Bucket(
                label=label,
                count=n,
                share=n / top if top else 0.0,
                date_from=start if link else None,
                date_to=end if link else None,
            )
        )
    return out, unit


@dataclass(frozen=True)
class Timeline:
    captured: list[Bucket]
    captured_unit: str
    hours: list[Bucket]  # 24 buckets of the captured local hour
    modified: list[Bucket]
    modified_unit: str
    events: list[dict[str, Any]]  # items by capture time, oldest first
    without_capture_time: int
    total: int


def timeline(
    session: Session,
    case_id: int,
    filters: Filters,
    *,
    rows: Sequence[Fact] | None = None,
    limit: int = 500,
) -> Timeline:
    """Capture times (metadata, local) and file times by day (or month) and by hour, of the
    items matching ``filters`` (or of ``rows`` when the caller has them)."""
    found = facts(session, case_id, filters) if rows is None else rows
    rows = [f for f in found if f.status == "ok"]
    captured = [f.captured for f in rows if f.captured]
    modified = [f.modified for f in rows if f.modified]
    by_day, unit = _buckets(captured, link=True)
    by_file_day, file_unit = _buckets(modified, link=False)
    hours = Counter(int(c[11:13]) for c in captured if len(c) >= 13 and c[11:13].isdigit())
    top = max(hours.values(), default=0)
    hour_buckets = [
        Bucket(label=f"{h:02d}", count=hours.get(h, 0), share=hours.get(h, 0) / top if top else 0)
        for h in range(24)
    ]
    dated = sorted((f for f in rows if f.captured), key=lambda f: (f.captured or "", f.id))
    events = [
        {
            "id": f.id,
            "name": f.name,
            "captured": f.captured,
            "kind": f.kind,
            "category": f.category,
            "device": _device_label(f) if f.device_key else None,
            "place": f"{f.city}, {f.country_code}" if f.city else None,
        }
        for f in dated[:limit]
    ]
    return Timeline(
        captured=by_day,
        captured_unit=unit,
        hours=hour_buckets,
        modified=by_file_day,
        modified_unit=file_unit,
        events=events,
        without_capture_time=sum(1 for f in rows if not f.captured and f.kind in VISUAL),
        total=len(rows),
    )


# -- map -------------------------------------------------------------------------------------

MAP_WIDTH = 1000.0
MAP_MAX_HEIGHT = 560.0
MAP_MIN_ASPECT = 0.45


@dataclass(frozen=True)
class MapPoint:
    place: PlaceCount
    x: float
    y: float
    r: float


@dataclass(frozen=True)
class MapView:
    width: float
    height: float
    outline: str  # SVG path data of the land
    points: list[MapPoint]
    places: list[PlaceCount]
    devices: list[DeviceCount]
    with_gps: int
    without_place: int  # GPS fixes with no usable position (0,0 and the like)
    box: dict[str, float] | None


def _framed(box: geo.BoundingBox) -> geo.BoundingBox:
    """``box`` made at least `MAP_MIN_ASPECT` as high as wide (more latitude around the
    same centre), so points spread east-west do not end up on a thin strip."""
    wanted = box.width_degrees * MAP_MIN_ASPECT
    if box.height_degrees >= wanted:
        return box
    middle = (box.north + box.south) / 2
    south, north = max(-85.0, middle - wanted / 2), min(85.0, middle + wanted / 2)
    return geo.BoundingBox(south=south, west=box.west, north=north, east=box.east)


def map_view(
    session: Session, case_id: int, filters: Filters, *, rows: Sequence[Fact] | None = None
) -> MapView:
    """An offline map of the places of the GPS fixes of the items matching ``filters`` (or
    of ``rows``): the land outline zoomed to their bounding box, one circle per place (area
    by item count)."""
    rows = facts(session, case_id, filters) if rows is None else rows
    found = places(rows)
    located = [p for p in found if p.latitude is not None and p.longitude is not None]
    box = geo.bounding_box(
        [(p.latitude, p.longitude) for p in located if p.latitude is not None and p.longitude],
        margin=0.15,
        min_span=2.0,
    )
    box = _framed(box) if box is not None else geo.WORLD
    width = MAP_WIDTH
    height = box.height_for(width)
    if height > MAP_MAX_HEIGHT:  # tall boxes: keep degrees square, narrow the map
        width, height = width * MAP_MAX_HEIGHT / height, MAP_MAX_HEIGHT
    top = max((p.count for p in located), default=1)
    points = []
    for p in located:
        assert p.latitude is not None and p.longitude is not None
        x, y = geo.project(p.latitude, p.longitude, width, height, box=box)
        points.append(MapPoint(place=p, x=x, y=y, r=5.0 + 13.0 * math.sqrt(p.count / top)))
    with_gps = sum(f.gps for f in rows)
    return MapView(
        width=width,
        height=height,
        outline=geo.outline_svg_path(width, height, box=box),
        points=points,
        places=found,
        devices=devices(rows),
        with_gps=with_gps,
        without_place=with_gps - sum(p.count for p in found),
        box=box.to_dict() if located else None,
    )


# -- categorisation --------------------------------------------------------------------------


def categorise(
    session: Session, case_id: int, ids: Sequence[int], category: str | None, *, actor: str
) -> list[dict[str, Any]]:
    """Set the category of items ``ids`` of case ``case_id`` (None: uncategorised); each
    change is audited with its before and after. Returns the changes made (items already in
    that category are left alone). The caller commits."""
    investigation(session, case_id)
    wanted = sorted(set(ids))
    if not wanted:
        raise ValidationError("select at least one item")
    if len(wanted) > MAX_CATEGORISE:
        raise ValidationError(f"at most {MAX_CATEGORISE} items at a time")
    rows = list(
        session.scalars(
            select(TriageItem)
            .where(TriageItem.case_id == case_id, TriageItem.id.in_(wanted))
            .order_by(TriageItem.id)
        )
    )
    missing = set(wanted) - {r.id for r in rows}
    if missing:
        raise NotFoundError(f"items not in case {case_id}: {', '.join(map(str, sorted(missing)))}")
    changes = []
    for row in rows:
        if row.category == category:
            continue
        before = row.category
        row.category = category
        chain.record(
            session,
            actor=actor,
            action="triage_item.categorise",
            target=f"triage_item:{row.id}",
            before={"category": before},
            after={"category": category},
            details={"case": case_id, "name": row.name[:200]},
        )
        changes.append({"id": row.id, "before": before, "after": category})
    session.flush()
    return changes
