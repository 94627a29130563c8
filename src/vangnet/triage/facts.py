"""One row per item of an investigation case (`Fact`), read in one statement, and the counts
made from them: devices, places and the case's `Overview`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from vangnet.store.models import TriageItem
from vangnet.triage.filters import (
    CAPTURED,
    CITY,
    COUNTRY_CODE,
    DEVICE_KEY,
    HAS_GPS,
    HAS_TEXT,
    KINDS,
    META,
    VISUAL,
    Filters,
    category_label,
    flag_sql,
)
from vangnet.triage.text_calls import LIKELY as VIDEO_CALL_LIKELY


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
    likely_new: bool  # likely by the classify step, matching no bank


def fact_columns(*, likely: float = VIDEO_CALL_LIKELY) -> dict[str, ColumnElement[Any]]:
    """The SQL expression of each `Fact` field (``likely``: see `filters.flag_sql`)."""
    return {
        "id": TriageItem.id,
        "name": TriageItem.name,
        "kind": TriageItem.kind,
        "status": TriageItem.status,
        "deleted": TriageItem.deleted,
        "category": TriageItem.category,
        "series_id": TriageItem.series_id,
        "series": TriageItem.series,
        "has_text": HAS_TEXT,
        "matched": flag_sql("matched"),
        "device_key": DEVICE_KEY,
        "make": META[("device", "make")].as_string(),
        "model": META[("device", "model")].as_string(),
        "country_code": COUNTRY_CODE,
        "country": META[("place", "country")].as_string(),
        "city": CITY,
        "region": META[("place", "region")].as_string(),
        "place_lat": META[("place", "latitude")].as_float(),
        "place_lon": META[("place", "longitude")].as_float(),
        "gps": HAS_GPS,
        "captured": CAPTURED,
        "modified": TriageItem.times["modified"].as_string(),
        "screenshot": flag_sql("screenshot"),
        "video_call": flag_sql("video_call", likely=likely),
        "thumbnail_mismatch": flag_sql("thumbnail_mismatch"),
        "likely_new": flag_sql("likely_new"),
    }


def facts(
    session: Session,
    case_id: int,
    filters: Filters | None = None,
    *,
    likely: float = VIDEO_CALL_LIKELY,
) -> list[Fact]:
    """The case's items (those matching ``filters``) as `Fact` rows, in id order: one
    statement, the JSON of each row parsed once by the database."""
    columns = fact_columns(likely=likely)
    found = filters.conditions(likely=likely) if filters else []
    conditions = [TriageItem.case_id == case_id, *found]
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


def device_label(fact: Fact) -> str:
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
                labels[f.device_key] = device_label(f)
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


def overview(session: Session, case_id: int, *, likely: float = VIDEO_CALL_LIKELY) -> Overview:
    """The case's counts (all items, whatever the grid's filters)."""
    return summarise(facts(session, case_id, likely=likely))


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
        "likely_new": sum(bool(f.likely_new) for f in rows),
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
