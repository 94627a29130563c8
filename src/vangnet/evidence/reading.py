"""Reading evidence back: decrypt one item for a person or a report (checked against its
recorded SHA-256, logged ``accessed`` in its chain of custody), and an alert's items with
their custody as plain JSON (hashes and custody, never media)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.errors import NotFoundError
from vangnet.evidence.custody import record_custody
from vangnet.evidence.sealing import vault_context
from vangnet.store.models import CustodyEvent, EvidenceItem
from vangnet.store.vault import Vault, VaultError


def read_evidence(session: Session, vault: Vault, item_id: int, *, actor: str) -> bytes:
    """Decrypt one item (checking its SHA-256) and log the access in its chain of custody."""
    item = session.get(EvidenceItem, item_id)
    if item is None:
        raise NotFoundError(f"no evidence item {item_id}")
    data = vault.get(item.vault_name, context=vault_context(item))
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise VaultError(f"evidence item {item_id} does not match its recorded SHA-256")
    record_custody(session, item.id, actor=actor, action="accessed")
    session.flush()
    return data


def evidence_dict(item: EvidenceItem, custody: list[CustodyEvent]) -> dict[str, Any]:
    return {
        "id": item.id,
        "alert_id": item.alert_id,
        "stream_id": item.stream_id,
        "kind": item.kind,
        "media_type": item.media_type,
        "stream_time": item.stream_time,
        "captured_at": item.captured_at.isoformat(),
        "sha256": item.sha256,
        "size": item.size,
        "matched": item.matched,
        "custody": [
            {"at": c.at.isoformat(), "actor": c.actor, "action": c.action, "detail": c.detail}
            for c in custody
        ],
    }


def list_evidence(session: Session, *, alert_id: int) -> list[dict[str, Any]]:
    items = session.scalars(
        select(EvidenceItem)
        .where(EvidenceItem.alert_id == alert_id)
        .order_by(EvidenceItem.stream_time)
    )
    out = []
    for item in items:
        custody = list(
            session.scalars(
                select(CustodyEvent)
                .where(CustodyEvent.evidence_id == item.id)
                .order_by(CustodyEvent.id)
            )
        )
        out.append(evidence_dict(item, custody))
    return out
