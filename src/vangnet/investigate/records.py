"""Reading what a triage recorded: the items of an investigation case as plain JSON."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.cases.document import TriageItemDoc, TriageRunDoc
from vangnet.store.models import TriageItem, TriageRun


def item_dict(item: TriageItem) -> TriageItemDoc:
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
        },
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
    """How many frames a stored vPDQ value holds (a JSON list of frames, one line)."""
    if not vpdq:
        return 0
    try:
        frames = json.loads(vpdq)
    except ValueError:
        return 0
    return len(frames) if isinstance(frames, list) else 0


def triage_items(session: Session, case_id: int) -> list[TriageItemDoc]:
    rows = session.scalars(
        select(TriageItem).where(TriageItem.case_id == case_id).order_by(TriageItem.id)
    )
    return [item_dict(r) for r in rows]


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
