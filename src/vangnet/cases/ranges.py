"""The matched frames of a live alert in its case, kept as time ranges.

A looping or long stream extends a range instead of adding a row and a timeline line per
frame; every frame stays in the alert (and its evidence in the vault). A case match keeps
a snapshot of its banked item (`banked_snapshot`), so the case still shows it when the
bank changes or is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.cases.filing import iso
from vangnet.store.models import Alert, AlertFrame, Bank, BankContent, Case, CaseMatch, utcnow


def _span(row: CaseMatch, default: float) -> tuple[float, float]:
    """A range's first and last stream time (``default`` for a row without one)."""
    start = row.stream_time if row.stream_time is not None else default
    return start, row.stream_time_end if row.stream_time_end is not None else start


def add_to_ranges(
    session: Session,
    case: Case,
    alert: Alert,
    frames: Sequence[tuple[float, AlertFrame | None]],
    *,
    gap: float,
    max_ranges: int,
    found: Mapping[float, dict[str, Any]] | None = None,
) -> list[float]:
    """Add matched frames (stream time, its alert frame) of ``alert`` to the case's time
    ranges: a frame within ``gap`` seconds of a range extends it; otherwise it opens a new
    range, or extends the nearest once the alert has ``max_ranges``. Returns the start times
    of the ranges opened (a new alert's first range included).

    ``found`` says how each frame's match was found (`vangnet.cases.found.provenance`, by
    stream time): a range keeps that of its first frame, the one its case shows (the
    evidence item at ``stream_time``), and takes a new first frame's when one comes earlier."""
    how = found or {}
    ranges = list(
        session.scalars(
            select(CaseMatch)
            .where(CaseMatch.case_id == case.id, CaseMatch.alert_id == alert.id)
            .order_by(CaseMatch.stream_time)
        )
    )
    opened: list[float] = []
    snapshot: dict[str, Any] | None = None
    for t, frame in sorted(frames, key=lambda pair: pair[0]):
        distance = frame.distance if frame is not None else alert.best_distance
        at = frame.captured_at if frame is not None else utcnow()

        near = [r for r in ranges if _span(r, t)[0] - gap <= t <= _span(r, t)[1] + gap]
        if not near and len(ranges) >= max_ranges:
            near = [min(ranges, key=lambda r: min(abs(t - v) for v in _span(r, t)))]
        if near:
            row = near[0]
            start, end = _span(row, t)
            if t < start:  # the range's first frame is now this one: its provenance
                row.found = dict(how.get(t) or {})
            row.stream_time, row.stream_time_end = min(start, t), max(end, t)
            row.frames = (row.frames or 1) + 1
            row.distance = min(row.distance, distance)
            continue
        if snapshot is None:
            snapshot = banked_snapshot(session, alert.bank_content_id)
        row = CaseMatch(
            banked=snapshot,
            case_id=case.id,
            alert_id=alert.id,
            bank=alert.bank,
            content_id=alert.bank_content_id,
            signal_type=alert.signal_type,
            distance=distance,
            category=alert.category,
            stream_time=t,
            stream_time_end=t,
            frames=1,
            at=at,
            found=dict(how.get(t) or {}),
        )
        session.add(row)
        ranges.append(row)
        opened.append(t)
    return opened


def banked_snapshot(session: Session, content_id: int) -> dict[str, Any]:
    """The banked item's details as they are now (bank, category, note, series, source,
    provenance), kept with a case match so the case still shows them when the bank changes
    or is deleted; ``{}`` if the item is gone already."""
    row = session.get(BankContent, content_id)
    if row is None:
        return {}
    bank = session.get(Bank, row.bank_id)
    return {
        "bank": bank.name if bank is not None else None,
        "content_id": row.id,
        "category": f"{row.category_profile}:{row.category_code}" if row.category_code else None,
        "note": row.note,
        "series": row.series,
        "source": row.source,
        "external_id": row.external_id,
        "banked_at": iso(row.created_at),
    }
