"""The audit log: append-only, each entry chained to the one before by SHA-256 and MACed
with a key that is not in the database.

An entry's hash covers its own fields (number, time, actor, action, target, before, after,
details) and the previous entry's hash, as canonical JSON; its ``mac`` is HMAC-SHA256 of
that hash with the audit key (`vangnet.audit.anchor`). `verify` recomputes the chain and
stops at the first entry that was edited, removed, inserted, reordered or recomputed without
the key; the one-row ``audit_head`` table (locked for every append, which also numbers
entries one at a time) holds the last number and hash, and signed checkpoints in a file
outside the database name committed entries, so a removed tail is caught even when
``audit_head`` was moved back with it.

Entries written before the key existed have no MAC ("legacy"): their SHA-256 chain is still
checked, and the first checkpoint records from which entry on every entry must be keyed, so
stripping MACs later is caught too.

Appends happen in the caller's transaction (no commit here): an action and its audit entry
are written together or not at all. On SQLite use a `vangnet.store.db.writer` session.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.orm import Session

from vangnet.audit.anchor import Anchor, BadLine, Checkpoint, anchor_for
from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.store.db import writer
from vangnet.store.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
_MAX_TEXT = 255
#: The execution option of an engine that carries its `Anchor` (see `attach_anchor`).
ANCHOR_OPTION = "vangnet_audit_anchor"


class AuditNotConfiguredError(RuntimeError):
    """An audit entry was to be written through an engine no entry point gave an anchor."""


def attach_anchor(engine: Engine, settings: Settings) -> Engine:
    """Entry points: audit entries written through ``engine``, and through the engines made
    from it afterwards (`writer`, `bounded_writer`), are MACed and checkpointed with the
    anchor of ``settings`` (`anchor_for`: the key is read, or created, at the first entry).
    Returns ``engine``."""
    engine.update_execution_options(**{ANCHOR_OPTION: partial(anchor_for, settings)})
    return engine


def anchor_of(bind: Engine | Connection | Session) -> Anchor:
    """The anchor attached to ``bind``'s engine; `AuditNotConfiguredError` without one (the
    audit key is never read from the environment behind the caller's back)."""
    found = (bind.get_bind() if isinstance(bind, Session) else bind).get_execution_options()
    make = found.get(ANCHOR_OPTION)
    if make is None:
        raise AuditNotConfiguredError(
            "no audit anchor on this database engine: the entry point that made it attaches "
            "one with vangnet.audit.chain.attach_anchor(engine, settings)"
        )
    anchor = make()
    if not isinstance(anchor, Anchor):  # pragma: no cover - only attach_anchor sets it
        raise AuditNotConfiguredError(f"not an audit anchor: {type(anchor).__name__}")
    return anchor


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
        head = AuditHead(id=1, seq=0, hash=GENESIS, keyed_from=None)
        session.add(head)
        session.flush()
    return head


_PENDING = "vangnet_audit_checkpoint"  # session.info: the checkpoint due after the commit
_DIRTY = "vangnet_audit_uncommitted"  # session.info: this transaction appended entries


def durable(session: Session) -> None:
    """Make what ``session`` committed durable before a checkpoint naming it is written and
    fsynced: a checkpoint must never name an entry that a power loss took away (it would
    report a truncation that no one made).

    PostgreSQL: a commit returns once its WAL record is flushed (``synchronous_commit`` on,
    the default), so nothing is left to do. SQLite in WAL mode with ``synchronous=NORMAL``
    (Vangnet's setting) writes each commit to the ``-wal`` file but syncs it only at WAL
    checkpoints: that file is fsynced here (an fsync only flushes what was written; frames
    already copied into the database file were synced with that copy)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    database = bind.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(f"{database}-wal", os.O_RDONLY)
    except FileNotFoundError:  # no WAL now: every commit is in the (synced) database file
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _after_commit(session: Session) -> None:
    session.info.pop(_DIRTY, None)
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        anchor, seq, digest, keyed_from = pending
        durable(session)
        anchor.write_checkpoint(seq, digest, keyed_from)


def _after_rollback(session: Session) -> None:
    session.info.pop(_DIRTY, None)
    session.info.pop(_PENDING, None)


def _appending(session: Session) -> None:
    if not event.contains(session, "after_commit", _after_commit):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    session.info[_DIRTY] = True


def _checkpoint(
    session: Session, anchor: Anchor, seq: int, digest: str, keyed_from: int | None
) -> None:
    """Checkpoint entry ``seq``: at once when it is committed, else once the transaction
    that holds it commits (a rolled-back entry is never named)."""
    if session.info.get(_DIRTY):
        session.info[_PENDING] = (anchor, seq, digest, keyed_from)
    else:
        durable(session)
        anchor.write_checkpoint(seq, digest, keyed_from)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    details: Mapping[str, Any] | None = None,
    anchor: Anchor | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (not committed). ``anchor`` (default: the
    one attached to the session's engine, `attach_anchor`) MACs it and receives a checkpoint
    after the commit."""
    if not actor or not action:
        raise ValidationError("an audit entry needs an actor and an action")
    anchor = anchor or anchor_of(session)
    head = _head(session)
    _appending(session)
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
    first_keyed = head.keyed_from is None
    if first_keyed:  # a new log, or the first entry after entries written without a key
        head.keyed_from = seq
    entry = AuditEntry(
        seq=seq, at=at, prev_hash=head.hash, hash=digest, mac=anchor.mac(digest), **fields
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    if seq % anchor.every == 0 or first_keyed:
        session.info[_PENDING] = (anchor, seq, digest, head.keyed_from)
    return entry


def record_now(
    engine: Engine,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    details: Mapping[str, Any] | None = None,
    anchor: Anchor | None = None,
) -> None:
    """Append an entry in a transaction of its own (for a change another component has
    committed already, e.g. a stream the monitor started)."""
    with Session(writer(engine)) as session:
        record(
            session,
            actor=actor,
            action=action,
            target=target,
            before=before,
            after=after,
            details=details,
            anchor=anchor,
        )
        session.commit()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    broken_seq: int | None = None
    reason: str | None = None
    # Where the fault shows: "audit_log entry 12", "<file> line 3", "audit_head".
    where: str | None = None
    # "edited", "recomputed", "removed", "reordered", "truncated", "unkeyed", "checkpoint".
    how: str | None = None
    legacy_entries: int = 0  # entries from before the audit key (SHA-256 chain only)
    checkpoints: int = 0  # valid checkpoints checked
    checkpoint_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "broken_seq": self.broken_seq,
            "reason": self.reason,
            "where": self.where,
            "how": self.how,
            "legacy_entries": self.legacy_entries,
            "checkpoints": self.checkpoints,
            "checkpoint_file": self.checkpoint_file,
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


def verify(session: Session, *, anchor: Anchor | None = None, checkpoint: bool = True) -> Verdict:
    """Recompute the chain, its MACs and the checkpoints; the first fault, how and where.

    When the log holds, a new checkpoint naming its last entry is appended (``checkpoint``)."""
    anchor = anchor or anchor_of(session)
    cp_file = str(anchor.checkpoint_file)
    marks: dict[int, list[Checkpoint]] = {}
    keyed_from: int | None = None
    for mark in anchor.checkpoints():
        if isinstance(mark, BadLine):
            return Verdict(
                False,
                0,
                None,
                f"checkpoint line {mark.line} of {cp_file} {mark.reason}",
                where=f"{cp_file} line {mark.line}",
                how="checkpoint",
                checkpoint_file=cp_file,
            )
        marks.setdefault(mark.seq, []).append(mark)
        if mark.keyed_from is not None:
            keyed_from = mark.keyed_from if keyed_from is None else min(keyed_from, mark.keyed_from)
    n_marks = sum(len(v) for v in marks.values())

    def broken(seq: int | None, reason: str, how: str, where: str | None = None) -> Verdict:
        return Verdict(
            False,
            count,
            seq,
            reason,
            where=where or (f"audit_log entry {seq}" if seq is not None else None),
            how=how,
            legacy_entries=legacy,
            checkpoints=n_marks,
            checkpoint_file=cp_file,
        )

    prev_hash = GENESIS
    expected = 1
    count = legacy = 0
    seen_keyed: int | None = None
    for entry in _entries(session):
        if entry.seq != expected:
            return broken(
                expected,
                f"entry {expected} is missing (the next entry is {entry.seq})",
                "removed",
            )
        if entry.prev_hash != prev_hash:
            return broken(
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1} (removed, inserted "
                "or reordered entries)",
                "reordered",
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
            return broken(entry.seq, f"entry {entry.seq} was edited", "edited")
        if entry.mac is None:
            if seen_keyed is not None:
                return broken(
                    entry.seq,
                    f"entry {entry.seq} has no MAC though entry {seen_keyed} before it has one "
                    "(MACs removed)",
                    "unkeyed",
                )
            if keyed_from is not None and entry.seq >= keyed_from:
                return broken(
                    entry.seq,
                    f"entry {entry.seq} has no MAC, but the checkpoints in {cp_file} say every "
                    f"entry from {keyed_from} on is keyed (MACs removed)",
                    "unkeyed",
                )
            legacy += 1
        elif not anchor.mac_ok(entry.hash, entry.mac):
            return broken(
                entry.seq,
                f"entry {entry.seq}'s MAC does not match its hash: the chain was recomputed "
                f"without the audit key ({anchor.key_source}), or written with another key",
                "recomputed",
            )
        elif seen_keyed is None:
            seen_keyed = entry.seq
        for mark in marks.get(entry.seq, ()):
            if mark.hash != entry.hash:
                return broken(
                    entry.seq,
                    f"entry {entry.seq} is not the entry checkpoint line {mark.line} of "
                    f"{cp_file} names (hash {mark.hash[:16]}..., now {entry.hash[:16]}...): "
                    "the log was rewritten from here or before",
                    "recomputed",
                )
        prev_hash = entry.hash
        expected += 1
        count += 1
    last_mark = max(marks) if marks else 0
    if last_mark > count:
        line = marks[last_mark][-1].line
        return broken(
            count + 1,
            f"entries {count + 1}-{last_mark} are missing from the end of the log: checkpoint "
            f"line {line} of {cp_file} names entry {last_mark}, the log ends at {count}",
            "truncated",
            f"{cp_file} line {line}",
        )
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev_hash):
        if head.seq > count:
            return broken(
                count + 1,
                f"entries {count + 1}-{head.seq} are missing from the end of the log",
                "truncated",
                "audit_head",
            )
        return broken(
            head.seq, "the chain head does not match the last entry", "edited", "audit_head"
        )
    if head is None and count:
        return broken(1, "the chain head is missing", "edited", "audit_head")
    if checkpoint and count:
        _checkpoint(session, anchor, count, prev_hash, head.keyed_from if head else None)
        n_marks += 1
    return Verdict(True, count, legacy_entries=legacy, checkpoints=n_marks, checkpoint_file=cp_file)


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
        "mac": entry.mac,
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


def export(session: Session, out: BinaryIO, *, anchor: Anchor | None = None) -> int:
    """Write the whole log as JSON Lines (one entry per line, oldest first, with hashes and
    MACs) so an auditor can recompute the chain without Vangnet (and, with the audit key, the
    MACs); returns the number of entries. A checkpoint naming the last entry written is
    appended to the checkpoint file."""
    anchor = anchor or anchor_of(session)
    count = 0
    last: AuditEntry | None = None
    for entry in _entries(session):
        line = json.dumps(entry_dict(entry), sort_keys=True, ensure_ascii=False)
        out.write(line.encode("utf-8") + b"\n")
        count += 1
        last = entry
    if last is not None:
        head = session.get(AuditHead, 1)
        _checkpoint(session, anchor, last.seq, last.hash, head.keyed_from if head else None)
    return count
