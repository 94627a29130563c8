"""What the investigation workbench reads and changes: the data queries behind its pages.

An investigation case is a `Case` of kind ``investigation``; its files are `TriageItem` rows.
Everything here is scoped to one case and runs on SQLite and PostgreSQL alike.

- `grid`: one page of filtered items (`vangnet.triage.filters.Filters`); `get_item`,
  `source_chain`: one item and where it came from; `series_groups`, `bank_series`: the case's
  near-duplicate groups and the bank series its items were linked to.
- `categorise`: bulk categorisation, audited per item (before / after) in the caller's
  transaction.
- the counts (`overview`, `facts`) live in `vangnet.triage.facts`; what only the web
  pages show (item page, timeline, map) in `vangnet.web.investigation_pages`.

Findings read here and by the pages (written by the triage steps, `vangnet.triage.steps`
and `vangnet.triage.tracing`): ``screenshot_of`` (a screenshot traced to the video or
picture it shows: ``[{name, label, kind, frame, timestamp, method, part, distance, inliers,
region}]``, ``name`` "item:ID" for a video of the case, "bank:NAME/ID" for a banked one),
``video_call`` (``{score, reasons}``; likely from `text_calls.LIKELY`), ``text_hints`` (leads in
the text: times, dates, timecodes, handles, e-mails, URLs, apps, file names) and ``language``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.errors import NotFoundError, ValidationError
from vangnet.sources.entries import chain_key
from vangnet.store.models import Case, TriageItem, TriageRun
from vangnet.triage.filters import UNCATEGORISED, VISUAL, Filters, flag_sql
from vangnet.triage.text_calls import LIKELY as VIDEO_CALL_LIKELY

PER_PAGE = 60
MAX_PAGE = 100_000
#: Most items one categorisation may change.
MAX_CATEGORISE = 1000
#: Preview strip length per series.
STRIP = 8


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


# -- the grid --------------------------------------------------------------------------------


def _card(item: TriageItem, likely: float) -> dict[str, Any]:
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
        "video_call": video_call_likely(findings.get("video_call"), likely=likely),
        "previewable": previewable(item.kind, item.status),
        "score": item.priority_signal,
        "likely_new": bool(item.signal_likely) and not item.matches,
        "score_summary": classifier_summary(findings),
    }


def classifier_summary(findings: Any) -> str:
    """The ``classify`` step's fused summary of an item ("" when it was not scored)."""
    found = findings.get("classifiers") if isinstance(findings, dict) else None
    priority = found.get("priority") if isinstance(found, dict) else None
    summary = priority.get("summary") if isinstance(priority, dict) else None
    return summary if isinstance(summary, str) else ""


def previewable(kind: str, status: str) -> bool:
    return kind in VISUAL and status == "ok"


def video_call_likely(value: Any, *, likely: float = VIDEO_CALL_LIKELY) -> bool:
    """Whether a ``video_call`` finding says "likely" (its score reaches ``likely``)."""
    score = value.get("score") if isinstance(value, dict) else None
    return isinstance(score, int | float) and score >= likely


@dataclass(frozen=True)
class GridPage:
    items: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int


def grid(
    session: Session,
    case_id: int,
    filters: Filters,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    likely: float = VIDEO_CALL_LIKELY,
) -> GridPage:
    """Page ``page`` (from 1) of the case's items matching ``filters``, in id order, or
    with ``filters.sort == "score"`` highest priority signal first (unscored items last)
    (``likely``: the video-call score from which an item is flagged a likely call)."""
    conditions = [TriageItem.case_id == case_id, *filters.conditions(likely=likely)]
    total = int(
        session.scalar(select(func.count()).select_from(TriageItem).where(*conditions)) or 0
    )
    pages = max(1, math.ceil(total / per_page))
    page = max(1, min(page, pages))
    rows = session.scalars(
        select(TriageItem)
        .where(*conditions)
        .order_by(
            *(
                (TriageItem.priority_signal.desc().nulls_last(), TriageItem.id)
                if filters.sort == "score"
                else (TriageItem.id,)
            )
        )
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return GridPage(
        items=[_card(r, likely) for r in rows],
        total=total,
        page=page,
        pages=pages,
        per_page=per_page,
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
            flag_sql("matched").label("matched"),
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
