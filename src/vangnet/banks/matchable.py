"""What the indexes read: the matchable signals of a type or of one published import, and
the content, bank and category behind signal ids (to describe a match).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from vangnet.banks.bulk import chunks
from vangnet.banks.views import CurrentSignal, SignalInfo, category_of
from vangnet.store.db import is_postgresql
from vangnet.store.models import Bank, BankContent, ContentFeatures, ContentSignal
from vangnet.store.visibility import published_imports, visible


def current_signals(
    session: Session, signal_type: str, *, with_features: str | None = None
) -> Iterator[CurrentSignal]:
    """Every matchable signal of a type: its id, value and bank id (streamed); with
    ``with_features`` (a kind of `vangnet.banks.features`), only those whose content item
    holds features of that kind."""
    stmt = (
        select(ContentSignal.id, ContentSignal.value, ContentSignal.bank_id)
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .join(Bank, Bank.id == ContentSignal.bank_id)
        .where(
            ContentSignal.signal_type == signal_type,
            BankContent.enabled.is_(True),
            Bank.matching_enabled_ratio > 0,
            visible(ContentSignal.import_id),
        )
        .order_by(ContentSignal.id)
        .execution_options(yield_per=10_000)
    )
    if with_features is not None:
        stmt = stmt.where(_holds(with_features))
    for signal_id, value, bank_id in session.execute(stmt):
        yield CurrentSignal(signal_id, value, bank_id)


def _holds(kind: str) -> ColumnElement[bool]:
    """The signal's content item holds local features of ``kind`` (`vangnet.banks.features`)."""
    return exists().where(
        ContentFeatures.content_id == ContentSignal.content_id, ContentFeatures.kind == kind
    )


def import_signals(
    session: Session, *, import_id: int, signal_type: str, after_id: int = 0, limit: int = 10_000
) -> list[CurrentSignal]:
    """The matchable signals of one published import (an ``import`` change-log entry), by
    id after ``after_id`` (a follower reads them with `import_pages`)."""
    stmt = _import_signals(import_id, signal_type, after_id, limit)
    return [CurrentSignal(i, v, b) for i, v, b in session.execute(stmt)]


def import_pages(
    session: Session,
    *,
    import_id: int,
    signal_type: str,
    page: int = 50_000,
    with_features: str | None = None,
) -> Iterator[tuple[list[int], list[str]]]:
    """The matchable signals of one published import as ``(ids, values)`` pages of up to
    ``page``, in no particular order: what a change-log follower adds for that entry.

    One query, streamed (a server-side cursor on PostgreSQL), in the caller's transaction:
    pages by id (`import_signals`) cost a scan of the rest of the import each on PostgreSQL
    right after a bulk insert (the planner's statistics do not know the rows yet), which made
    catching up with a large import quadratic."""
    stmt = (
        select(ContentSignal.id, ContentSignal.value)
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .join(Bank, Bank.id == ContentSignal.bank_id)
        .where(*_import_matchable(import_id, signal_type))
    )
    if with_features is not None:  # only items holding local features of that kind
        stmt = stmt.where(_holds(with_features))
    connection = session.connection()
    if is_postgresql(session):  # a server-side cursor: psycopg would otherwise load it all
        streamed = connection.execution_options(stream_results=True, yield_per=page)
        for part in streamed.execute(stmt).partitions(page):
            yield [r[0] for r in part], [r[1] for r in part]
        return
    result = connection.execute(stmt)
    try:
        # SQLite's cursor reads as it goes: the driver's rows as they are (integers and
        # strings), not one SQLAlchemy row object each (which cost more than the index add)
        while rows := result.cursor.fetchmany(page):
            yield [r[0] for r in rows], [r[1] for r in rows]
    finally:
        result.close()


def _import_matchable(import_id: int, signal_type: str) -> tuple[ColumnElement[bool], ...]:
    return (
        ContentSignal.import_id == import_id,
        ContentSignal.import_id.in_(published_imports()),
        ContentSignal.signal_type == signal_type,
        BankContent.enabled.is_(True),
        Bank.matching_enabled_ratio > 0,
    )


def _import_signals(
    import_id: int, signal_type: str, after_id: int, limit: int
) -> Select[int, str, int]:
    return (
        select(ContentSignal.id, ContentSignal.value, ContentSignal.bank_id)
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .join(Bank, Bank.id == ContentSignal.bank_id)
        .where(*_import_matchable(import_id, signal_type), ContentSignal.id > after_id)
        .order_by(ContentSignal.id)
        .limit(limit)
    )


def describe_signals(session: Session, ids: Iterable[int]) -> dict[int, SignalInfo]:
    """Content, bank and category of each signal id (ids no longer stored are left out)."""
    wanted = sorted(set(ids))
    out: dict[int, SignalInfo] = {}
    for chunk in chunks(wanted):
        rows = session.execute(
            select(
                ContentSignal.id,
                ContentSignal.signal_type,
                ContentSignal.value,
                ContentSignal.content_id,
                ContentSignal.bank_id,
                Bank.name,
                Bank.matching_enabled_ratio,
                BankContent.category_profile,
                BankContent.category_code,
                BankContent.enabled,
            )
            .join(BankContent, BankContent.id == ContentSignal.content_id)
            .join(Bank, Bank.id == ContentSignal.bank_id)
            .where(ContentSignal.id.in_(chunk), visible(ContentSignal.import_id))
        )
        for r in rows:
            out[r.id] = SignalInfo(
                signal_id=r.id,
                signal_type=r.signal_type,
                value=r.value,
                content_id=r.content_id,
                bank_id=r.bank_id,
                bank_name=r.name,
                category=category_of(r.category_profile, r.category_code),
                enabled=bool(r.enabled) and r.matching_enabled_ratio > 0,
            )
    return out
