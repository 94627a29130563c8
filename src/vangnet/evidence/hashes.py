"""The hashes of an evidence item: four in columns of their own, every other registered
signal type (plug-ins included) as an `EvidenceSignal` row."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from vangnet.signals.registry import signal_types
from vangnet.store.models import EvidenceItem, EvidenceSignal

#: signal types an evidence item keeps in columns of its own; every other one is a row
ITEM_COLUMNS = ("md5", "sha1", "sha256", "pdq")


def add_item_signals(session: Session, item: EvidenceItem, signals: Mapping[str, str]) -> None:
    """Store the item's values (``signals``: by signal type, as `Hashes.signal_values` gives
    them) of every registered signal type that has no column of its own (plug-ins included)
    as `EvidenceSignal` rows."""
    installed = signal_types()
    for name, value in signals.items():
        if name in installed and name not in ITEM_COLUMNS:
            session.add(EvidenceSignal(evidence_id=item.id, signal_type=name, value=value))


def item_signals(item: EvidenceItem) -> dict[str, str]:
    """Every hash of an item by signal type: its columns, then its typed rows."""
    columns = {"md5": item.md5, "sha1": item.sha1, "sha256": item.sha256, "pdq": item.pdq}
    out = {n: v for n, v in columns.items() if v}
    session = object_session(item)
    if session is not None and item.id is not None:
        rows = session.execute(
            select(EvidenceSignal.signal_type, EvidenceSignal.value)
            .where(EvidenceSignal.evidence_id == item.id)
            .order_by(EvidenceSignal.signal_type)
        )
        out.update({str(name): str(value) for name, value in rows})
    return out
