"""The audit log: append-only, each entry chained to the one before by SHA-256.

An entry's hash covers its own fields (number, time, actor, action, target, before, after,
details) and the previous entry's hash, as canonical JSON. `verify` recomputes the chain and
stops at the first entry that was edited, removed, inserted or reordered; the one-row
``audit_head`` table (locked for every append, which also numbers entries one at a time)
holds the last number and hash, so a removed tail is caught too.

Appends happen in the caller's transaction (no commit here): an action and its audit entry
are written together or not at all. On SQLite use a `vangnet.store.db.writer` session.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vangnet.errors import ValidationError
from vangnet.store.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
_MAX_TEXT = 255


def cli_actor() -> str:
    """Who runs a CLI command: ``cli:<os user>@<host>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str | None,
    before: Any,
    after: Any,
    details: Mapping[str, Any],
    prev_hash: str,
) -> str:
    document = {
        "seq": seq,
        "at": _stamp(at),
        "actor": actor,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "details": dict(details),
        "prev": prev_hash,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so what is hashed is exactly what the database gives back."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"audit values must be JSON: {exc}") from None


def _head(session: Session) -> AuditHead:
    head = session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    return head


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (not committed)."""
    if not actor or not action:
        raise ValidationError("an audit entry needs an actor and an action")
    head = _head(session)
    at = utcnow()
    fields = {
        "actor": actor[:_MAX_TEXT],
        "action": action[:64],
        "target": target[:_MAX_TEXT] if target else None,
        "before": _jsonable(before),
        "after": _jsonable(after),
        "details": _jsonable(dict(details or {})),
    }
    seq = head.seq + 1
    digest = entry_hash(seq=seq, at=at, prev_hash=head.hash, **fields)
    entry = AuditEntry(seq=seq, at=at, prev_hash=head.hash, hash=digest, **fields)
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    return entry


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
        }


def _entries(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> Verdict:
    """Recompute the chain; the first entry that does not fit, and why."""
    prev_hash = GENESIS
    expected = 1
    count = 0
    for entry in _entries(session):
        if entry.seq != expected:
            return Verdict(
                False,
                count,
                expected,
                f"entry {expected} is missing (the next entry is {entry.seq})",
            )
        if entry.prev_hash != prev_hash:
            return Verdict(
                False,
                count,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} (removed, inserted "
                "or reordered entries)",
            )
        digest = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            before=entry.before,
            after=entry.after,
            details=entry.details or {},
            prev_hash=entry.prev_hash,
        )
        if digest != entry.hash:
            return Verdict(False, count, entry.seq, f"entry {entry.seq} was edited")
        prev_hash = entry.hash
        expected += 1
        count += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev_hash):
        if head.seq > count:
            return Verdict(
                False,
                count,
                count + 1,
                f"entries {count + 1}-{head.seq} are missing from the end of the log",
            )
        return Verdict(False, count, head.seq, "the chain head does not match the last entry")
    if head is None and count:
        return Verdict(False, count, 1, "the chain head is missing")
    return Verdict(True, count)


def entry_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": _stamp(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "details": entry.details or {},
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def list_entries(
    session: Session,
    *,
    limit: int = 100,
    before_seq: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``action`` matches a prefix (``case.`` gives every case action)."""
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(max(1, min(limit, 1000)))
    if before_seq is not None:
        stmt = stmt.where(AuditEntry.seq < before_seq)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if target:
        stmt = stmt.where(AuditEntry.target == target)
    return [entry_dict(e) for e in session.scalars(stmt)]


def count_entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def export(session: Session, out: BinaryIO) -> int:
    """Write the whole log as JSON Lines (one entry per line, oldest first, with hashes) so
    an auditor can recompute the chain without Vangnet; returns the number of entries."""
    count = 0
    for entry in _entries(session):
        line = json.dumps(entry_dict(entry), sort_keys=True, ensure_ascii=False)
        out.write(line.encode("utf-8") + b"\n")
        count += 1
    return count
