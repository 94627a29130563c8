"""The index change log: every change to which signals are matchable appends rows to
``index_changes`` in the same transaction, so the log and the data never disagree.

Matchable means: the signal's content is enabled and its bank's ``matching_enabled_ratio``
is above zero. The log records transitions of that set only (``add`` when a signal becomes
matchable, ``remove`` when it stops being matchable; a published import logs one ``import``
entry per signal type). The indexes follow it with `last_change_seq` and `changes_since`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, String, func, insert, literal, select, text
from sqlalchemy.orm import Session

from vangnet.banks.views import IndexChange
from vangnet.store.db import is_postgresql
from vangnet.store.models import (
    BankContent,
    ChangeOp,
    ContentSignal,
    IndexChangeEntry,
    UTCDateTime,
    utcnow,
)
from vangnet.store.visibility import visible


def lock_change_log(session: Session) -> None:
    """Serialise writers of the change log so ``seq`` order is commit order.

    Readers tail the log by ``seq``; on PostgreSQL a transaction that took a lower sequence
    value could otherwise commit after a reader has moved past it. SQLite has one writer.
    """
    if is_postgresql(session):
        session.execute(text("LOCK TABLE index_changes IN EXCLUSIVE MODE"))


def log_changes(session: Session, op: ChangeOp, *where: ColumnElement[bool]) -> None:
    """Append one ``op`` row per signal selected by ``where`` (joined to its content)."""
    rows = (
        select(
            ContentSignal.signal_type,
            ContentSignal.id,
            ContentSignal.bank_id,
            literal(op.value, String()),
            ContentSignal.value,
            literal(utcnow(), UTCDateTime()),
        )
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .where(visible(ContentSignal.import_id), *where)
        .order_by(ContentSignal.id)
    )
    columns = ["signal_type", "signal_id", "bank_id", "op", "value", "created_at"]
    session.execute(insert(IndexChangeEntry).from_select(columns, rows))


def last_change_seq(session: Session) -> int:
    """The newest ``seq`` in the log (0 when empty). Read it *before* `current_signals`."""
    return int(session.scalar(select(func.coalesce(func.max(IndexChangeEntry.seq), 0))) or 0)


def changes_since(session: Session, seq: int, *, limit: int = 10_000) -> list[IndexChange]:
    """Log entries after ``seq``, oldest first."""
    rows = session.scalars(
        select(IndexChangeEntry)
        .where(IndexChangeEntry.seq > seq)
        .order_by(IndexChangeEntry.seq)
        .limit(limit)
    )
    return [
        IndexChange(
            seq=r.seq,
            op=ChangeOp(r.op),
            signal_type=r.signal_type,
            signal_id=r.signal_id,
            bank_id=r.bank_id,
            value=r.value,
            created_at=r.created_at,
        )
        for r in rows
    ]
