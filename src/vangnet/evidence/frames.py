"""Evidence of a live alert: the matched frames and the samples around them, encrypted.

Each frame is encoded as PNG in memory (outside any database transaction), sealed into the
vault under its alert's context, and recorded as an ``evidence_items`` row (SHA-256 of the
plaintext, capture time, stream metadata, the sample's PDQ) with a ``captured``
chain-of-custody entry and, in the same transaction, one ``evidence_signals`` row for each
other signal type hashed on the sample (a plug-in's picture hash: the value it matched on). A
frame already preserved for the alert (a worker restarted) is skipped: nothing is stored
twice. Every frame belongs to its alert; a matched frame is also shown in the alert's case
only while its time range has fewer than ``review_live_frames_per_range`` there
(`representative`: the case stays bounded; the others stay in the alert and the vault).
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.evidence.custody import record_custody
from vangnet.evidence.hashes import add_item_signals
from vangnet.evidence.sealing import alert_context
from vangnet.store.db import writer
from vangnet.store.models import Alert, CaseMatch, EvidenceItem
from vangnet.store.vault import Vault, VaultEntry

ACTOR = f"vangnet-monitor@{socket.gethostname()}"


@dataclass(frozen=True)
class EvidenceFrame:
    stream_time: float
    captured_at: datetime
    media_type: str
    encode: Callable[[], bytes]  # the frame's bytes, produced only when preserved
    matched: bool
    pdq: str | None = None  # the sample's PDQ, when it was hashed
    #: the sample's values of other signal types (plug-ins), by type: `evidence_signals` rows
    signals: Mapping[str, str] = field(default_factory=dict)


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
            entry = vault.put(data, context=alert_context(alert_id))
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
                add_item_signals(session, item, frame.signals)
                record_custody(
                    session,
                    item.id,
                    actor=ACTOR,
                    action="captured",
                    detail=f"stream {stream_id} at {frame.stream_time:.3f} s, alert {alert_id}",
                )
            session.commit()
            return [item.id for item, _ in items]
    except BaseException:
        # no row points at these: do not leave them behind
        for _frame, entry, _md5, _sha1 in stored:
            vault.delete(entry.name)
        raise


def representative(
    session: Session, alert_id: int, stream_times: Sequence[float], *, gap: float, per_range: int
) -> set[float]:
    """Which of these newly preserved matched frames of ``alert_id`` are shown in its case:
    the first ``per_range`` of each time range (the rest stay in the alert and the vault)."""
    ranges = [
        (r.stream_time, r.stream_time_end if r.stream_time_end is not None else r.stream_time)
        for r in session.scalars(select(CaseMatch).where(CaseMatch.alert_id == alert_id))
        if r.stream_time is not None
    ]
    shown = [
        t
        for t in session.scalars(
            select(EvidenceItem.stream_time).where(
                EvidenceItem.alert_id == alert_id,
                EvidenceItem.case_id.is_not(None),
                EvidenceItem.matched.is_(True),
            )
        )
        if t is not None
    ]

    def which(t: float) -> int | None:
        for index, (start, end) in enumerate(ranges):
            if start - gap <= t <= end + gap:
                return index
        return None

    counts: dict[int | None, int] = {}
    for t in shown:
        key = which(t)
        counts[key] = counts.get(key, 0) + 1
    keep = set()
    for t in sorted(stream_times):
        key = which(t)
        if counts.get(key, 0) < per_range:
            counts[key] = counts.get(key, 0) + 1
            keep.add(t)
    return keep
