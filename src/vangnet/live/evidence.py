"""Evidence of an alert: the matched frames and the samples around them, encrypted.

Each frame is encoded as PNG in memory (outside any database transaction), encrypted into
the vault (`vangnet.store.vault`), and recorded as an ``evidence_items`` row (SHA-256 of
the plaintext, capture time, stream metadata) with a ``captured`` chain-of-custody entry. A
frame already preserved for the alert (a worker restarted) is skipped: nothing is stored
twice.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.errors import NotFoundError
from vangnet.store.models import CustodyEvent, EvidenceItem
from vangnet.store.vault import Vault, VaultEntry

ACTOR = f"vangnet-monitor@{socket.gethostname()}"


@dataclass(frozen=True)
class EvidenceFrame:
    stream_time: float
    captured_at: datetime
    media_type: str
    encode: Callable[[], bytes]  # the frame's bytes, produced only when preserved
    matched: bool


def preserve(
    engine: Engine,
    vault: Vault,
    *,
    alert_id: int,
    stream_id: int,
    metadata: dict[str, Any],
    frames: Iterable[EvidenceFrame],
) -> list[int]:
    """Encrypt ``frames`` into the vault and record them for an alert; returns new item ids.

    Encoding and encrypting (tens of milliseconds a frame) happen outside any database
    transaction; the rows are then written in one short one. Frames already kept for the
    alert are skipped; a file whose row could not be written is removed again."""
    with Session(engine) as session:
        have = set(
            session.scalars(
                select(EvidenceItem.stream_time).where(EvidenceItem.alert_id == alert_id)
            )
        )
    stored: list[tuple[EvidenceFrame, VaultEntry]] = []
    try:
        for frame in frames:
            if frame.stream_time in have:
                continue
            have.add(frame.stream_time)
            entry = vault.put(frame.encode(), context=f"evidence:alert:{alert_id}")
            stored.append((frame, entry))
        if not stored:
            return []
        with Session(engine) as session:
            items = []
            for frame, entry in stored:
                item = EvidenceItem(
                    alert_id=alert_id,
                    stream_id=stream_id,
                    kind="frame",
                    media_type=frame.media_type,
                    stream_time=frame.stream_time,
                    captured_at=frame.captured_at,
                    sha256=entry.sha256,
                    size=entry.size,
                    vault_name=entry.name,
                    matched=frame.matched,
                    details={"stream_metadata": metadata},
                )
                session.add(item)
                items.append((item, frame))
            session.flush()
            for item, frame in items:
                session.add(
                    CustodyEvent(
                        evidence_id=item.id,
                        actor=ACTOR,
                        action="captured",
                        detail=f"stream {stream_id} at {frame.stream_time:.3f} s, alert {alert_id}",
                    )
                )
            session.commit()
            return [item.id for item, _ in items]
    except BaseException:
        for _frame, entry in stored:  # no row points at these: do not leave them behind
            vault.delete(entry.name)
        raise


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


def read_evidence(session: Session, vault: Vault, item_id: int, *, actor: str) -> bytes:
    """Decrypt one item (checking its SHA-256) and log the access in its chain of custody."""
    import hashlib

    item = session.get(EvidenceItem, item_id)
    if item is None:
        raise NotFoundError(f"no evidence item {item_id}")
    data = vault.get(item.vault_name, context=f"evidence:alert:{item.alert_id}")
    if hashlib.sha256(data).hexdigest() != item.sha256:
        from vangnet.store.vault import VaultError

        raise VaultError(f"evidence item {item_id} does not match its recorded SHA-256")
    session.add(CustodyEvent(evidence_id=item.id, actor=actor, action="accessed"))
    session.flush()
    return data
