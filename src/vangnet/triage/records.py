"""Reading what a triage recorded: the items of an investigation case as plain JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from vangnet.cases.document import TriageItemDoc, TriageRunDoc
from vangnet.signals.registry import frame_signal_types
from vangnet.store.models import TriageItem, TriageRun, TriageSignal


def item_dict(item: TriageItem, signals: Mapping[str, str] | None = None) -> TriageItemDoc:
    """An item as plain JSON; ``signals``: its `TriageSignal` rows by type (read here when
    not given: `triage_items` reads those of a whole case at once). A row of a per-frame
    signal type (``vpdq_cropped``, ``vpdq_regions``) is shown as its number of frames under
    ``hashes.video_frames``, like the ``vpdq`` column; every other one under ``signals``."""
    if signals is None:
        session = object_session(item)
        signals = item_signal_rows(session, [item.id]).get(item.id, {}) if session else {}
    columns = {"md5": item.md5, "sha1": item.sha1, "sha256": item.sha256, "pdq": item.pdq}
    all_signals = {n: v for n, v in columns.items() if v}
    video_frames = {"vpdq": _frames(item.vpdq)} if item.vpdq else {}
    per_frame = frame_signal_types()
    for name, value in signals.items():
        if name in per_frame:
            video_frames[name] = _frames(value)
        else:
            all_signals[name] = value
    return {
        "id": item.id,
        "chain": list(item.chain),
        "source_path": " > ".join(item.chain),
        "name": item.name,
        "size": item.size,
        "times": item.times or {},
        "deleted": item.deleted,
        "kind": item.kind,
        "content_type": item.content_type,
        "status": item.status,
        "reason": item.reason,
        "hashes": {
            "md5": item.md5,
            "sha1": item.sha1,
            "sha256": item.sha256,
            "pdq": item.pdq,
            "pdq_quality": item.pdq_quality,
            "vpdq_frames": _frames(item.vpdq),
            "video_frames": video_frames,
        },
        "signals": all_signals,
        "metadata": item.item_metadata or {},
        "text": item.text,
        "language": item.language,
        "findings": item.findings or {},
        "matches": item.matches or [],
        "category": item.category,
        "series": item.series,
        "series_id": item.series_id,
    }


def _frames(vpdq: str | None) -> int:
    """How many frames a stored per-frame value holds (a JSON list of frames, one line)."""
    if not vpdq:
        return 0
    try:
        frames = json.loads(vpdq)
    except ValueError:
        return 0
    return len(frames) if isinstance(frames, list) else 0


def item_signal_rows(session: Session, item_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """The `TriageSignal` rows of ``item_ids``: by item, by signal type."""
    out: dict[int, dict[str, str]] = {}
    ids = list(item_ids)
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(TriageSignal.item_id, TriageSignal.signal_type, TriageSignal.value)
            .where(TriageSignal.item_id.in_(ids[start : start + 1000]))
            .order_by(TriageSignal.item_id, TriageSignal.signal_type)
        )
        for item_id, name, value in rows:
            out.setdefault(int(item_id), {})[str(name)] = str(value)
    return out


def triage_items(session: Session, case_id: int) -> list[TriageItemDoc]:
    rows = list(
        session.scalars(
            select(TriageItem).where(TriageItem.case_id == case_id).order_by(TriageItem.id)
        )
    )
    signals = item_signal_rows(session, [r.id for r in rows])
    return [item_dict(r, signals.get(r.id, {})) for r in rows]


def triage_runs(session: Session, case_id: int) -> list[TriageRunDoc]:
    rows = session.scalars(
        select(TriageRun).where(TriageRun.case_id == case_id).order_by(TriageRun.id)
    )
    return [
        {
            "id": r.id,
            "sources": (r.sources or {}).get("paths", []),
            "options": r.options or {},
            "actor": r.actor,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "counts": {k: v for k, v in (r.counts or {}).items() if k != "failures"},
        }
        for r in rows
    ]
