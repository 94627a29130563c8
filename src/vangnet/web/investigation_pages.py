"""Page logic of the investigation workbench that only the web pages need: the item page
(its findings laid out, links to traced items, neighbours), the categorisation choices, the
timeline buckets and the offline map (SVG geometry). The data comes from
`vangnet.triage.queries` and `vangnet.triage.facts`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vangnet.banks.categories import get_profile
from vangnet.store.models import TriageItem
from vangnet.triage import geo
from vangnet.triage.facts import (
    DeviceCount,
    Fact,
    PlaceCount,
    device_label,
    devices,
    facts,
    places,
)
from vangnet.triage.filters import PROFILES, UNCATEGORISED, VISUAL, Filters, category_label
from vangnet.triage.queries import (
    investigation,
    previewable,
    source_chain,
    video_call_likely,
)
from vangnet.triage.records import item_dict
from vangnet.triage.text_calls import LIKELY as VIDEO_CALL_LIKELY

#: A timeline by day with more days than this is shown by month.
MAX_DAYS = 90


def category_choices() -> list[tuple[str, str]]:
    """``(value, label)`` for the categorisation select: VICS 0-4, UK A-C, uncategorised."""
    choices = [
        (f"{p}:{c.code}", f"{p}:{c.code} — {c.label}")
        for p in PROFILES
        for c in get_profile(p).codes
    ]
    return [*choices, (UNCATEGORISED, "uncategorised")]


def _trace(trace: dict[str, Any]) -> dict[str, Any]:
    """A ``screenshot_of`` entry with a link to the case item it was traced to, if any."""
    name = str(trace.get("name") or "")
    item = name.removeprefix("item:")
    return {**trace, "item_id": int(item) if name.startswith("item:") and item.isdigit() else None}


def item_page(
    session: Session, item: TriageItem, *, likely: float = VIDEO_CALL_LIKELY
) -> dict[str, Any]:
    """Everything the item page shows: the item, its chain, series, neighbours (``likely``:
    the video-call score from which the item is called a likely video call)."""
    doc = item_dict(item)
    findings = dict(doc["findings"])
    dihedral = findings.pop("pdq_dihedral", None)
    traced = findings.pop("screenshot_of", None)
    video_call = findings.pop("video_call", None)
    hints = findings.pop("text_hints", None)
    language = findings.pop("language", None)
    lines = findings.pop("text_lines", None)
    video_text = findings.pop("video_text", None)
    classified = findings.pop("classifiers", None)
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
        "video_call_likely": video_call_likely(video_call, likely=likely),
        "classified": classified if isinstance(classified, dict) else None,
        "likely_new": bool(item.signal_likely) and not item.matches,
        "other_findings": findings,
        "dihedral_variants": len(dihedral or []),
        "series_members": series_members,
        "previous_id": before,
        "next_id": after,
        "previewable": previewable(item.kind, item.status),
        "category_label": category_label(item.category),
    }


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
    likely: float = VIDEO_CALL_LIKELY,
) -> Timeline:
    """Capture times (metadata, local) and file times by day (or month) and by hour, of the
    items matching ``filters`` (or of ``rows`` when the caller has them)."""
    found = facts(session, case_id, filters, likely=likely) if rows is None else rows
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
            "device": device_label(f) if f.device_key else None,
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
    session: Session,
    case_id: int,
    filters: Filters,
    *,
    rows: Sequence[Fact] | None = None,
    likely: float = VIDEO_CALL_LIKELY,
) -> MapView:
    """An offline map of the places of the GPS fixes of the items matching ``filters`` (or
    of ``rows``): the land outline zoomed to their bounding box, one circle per place (area
    by item count)."""
    rows = facts(session, case_id, filters, likely=likely) if rows is None else rows
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
