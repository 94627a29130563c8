"""Evidence of an alert: the matched frames and the samples around them, encrypted.

Each frame is encoded as PNG in memory (outside any database transaction), encrypted into
the vault (`vangnet.store.vault`), and recorded as an ``evidence_items`` row (SHA-256 of
the plaintext, capture time, stream metadata) with a ``captured`` chain-of-custody entry. A
frame already preserved for the alert (a worker restarted) is skipped: nothing is stored
twice. Every frame belongs to its alert; a matched frame is also shown in the alert's case
only while its time range has fewer than ``review_live_frames_per_range`` there (the case
stays bounded; the others stay in the alert and the vault).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.errors import NotFoundError
from vangnet.review.cases import representative
from vangnet.store.db import writer
from vangnet.store.models import Alert, CustodyEvent, EvidenceItem
from vangnet.store.vault import Vault, VaultEntry, VaultError

ACTOR = f"vangnet-monitor@{socket.gethostname()}"


@dataclass(frozen=True)
class EvidenceFrame:
    stream_time: float
    captured_at: datetime
    media_type: str
    encode: Callable[[], bytes]  # the frame's bytes, produced only when preserved
    matched: bool
    pdq: str | None = None  # the sample's PDQ, when it was hashed


def preserve(
    engine: Engine,
    vault: Vault,
    *,
    alert_id: int,
    stream_id: int,
    metadata: dict[str, Any],
    frames: Iterable[EvidenceFrame],
    settings: Settings,
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
    stored: list[tuple[EvidenceFrame, VaultEntry, str, str]] = []
    try:
        for frame in frames:
            if frame.stream_time in have:
                continue
            have.add(frame.stream_time)
            data = frame.encode()
            entry = vault.put(data, context=f"evidence:alert:{alert_id}")
            md5, sha1 = hashlib.md5(data).hexdigest(), hashlib.sha1(data).hexdigest()
            stored.append((frame, entry, md5, sha1))
        if not stored:
            return []
        cfg = settings
        with Session(writer(engine)) as session:
            case_id = session.scalar(select(Alert.case_id).where(Alert.id == alert_id))
            shown = representative(
                session,
                alert_id,
                [frame.stream_time for frame, *_rest in stored if frame.matched],
                gap=cfg.review_live_range_gap_seconds,
                per_range=cfg.review_live_frames_per_range,
            )
            items = []
            for frame, entry, md5, sha1 in stored:
                ext = "png" if frame.media_type == "image/png" else "jpg"
                item = EvidenceItem(
                    alert_id=alert_id,
                    stream_id=stream_id,
                    case_id=case_id if not frame.matched or frame.stream_time in shown else None,
                    kind="frame",
                    filename=f"stream{stream_id}-{frame.stream_time:010.3f}s.{ext}",
                    md5=md5,
                    sha1=sha1,
                    pdq=frame.pdq,
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
        # no row points at these: do not leave them behind
        for _frame, entry, _md5, _sha1 in stored:
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


def vault_context(item: EvidenceItem) -> str:
    """The context an item's bytes were sealed with (a file cannot be swapped for another's)."""
    if item.kind == "upload":
        return f"evidence:upload:{item.sha256}"
    return f"evidence:alert:{item.alert_id}"


def read_evidence(session: Session, vault: Vault, item_id: int, *, actor: str) -> bytes:
    """Decrypt one item (checking its SHA-256) and log the access in its chain of custody."""
    item = session.get(EvidenceItem, item_id)
    if item is None:
        raise NotFoundError(f"no evidence item {item_id}")
    data = vault.get(item.vault_name, context=vault_context(item))
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise VaultError(f"evidence item {item_id} does not match its recorded SHA-256")
    session.add(CustodyEvent(evidence_id=item.id, actor=actor, action="accessed"))
    session.flush()
    return data
