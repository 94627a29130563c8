"""Publishing an import: one short transaction makes its rows visible, settles the values
other writers took or held meanwhile, and logs one ``import`` change per signal type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.orm import Session

from vangnet.banks.bulk import held_keys, table_of
from vangnet.banks.changes import lock_change_log
from vangnet.banks.pending import take_pending
from vangnet.banks.staging import ImportJob, content_row_values
from vangnet.errors import ConflictError, NotFoundError
from vangnet.store.models import (
    Bank,
    BankContent,
    BankImport,
    ChangeOp,
    ContentSignal,
    ImportState,
    IndexChangeEntry,
    utcnow,
)
from vangnet.store.visibility import visible


def publish(session: Session, job: ImportJob) -> int:
    """Publish import ``job`` in the caller's transaction: mark it published (its rows become
    visible at once), settle the few values other writers took or held meanwhile, and log
    one ``import`` change per signal type. Returns the signals added.

    Its cost does not grow with the import's size, only with the values it shares with
    other unpublished imports and hand adds made while it ran."""
    lock_change_log(session)
    bank = session.get(Bank, job.bank_id)
    if bank is None:
        raise NotFoundError("the bank was deleted during the import")
    flipped = session.execute(
        update(BankImport)
        .where(BankImport.id == job.id, BankImport.state == ImportState.STAGING.value)
        .values(state=ImportState.PUBLISHED.value, published_at=utcnow())
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("the import was stopped (removed as abandoned); run it again")
    r = table_of("bank_import_rows")
    mine = r.c.import_key == job.key
    taken = int(session.scalar(select(func.count()).where(mine, r.c.status == "taken")) or 0)
    if taken:  # items whose every value was taken by another writer: drop them
        left = select(r.c.content_id).where(mine, r.c.status == "taken")
        has_signal = (
            select(literal(1))
            .select_from(ContentSignal)
            .where(ContentSignal.content_id == BankContent.id)
            .exists()
        )
        session.execute(
            delete(BankContent).where(
                BankContent.id.in_(left), BankContent.import_id == job.id, ~has_signal
            )
        )
    added = job.placed - taken
    deferred = session.execute(
        select(r).where(mine, r.c.status == "deferred").order_by(r.c.id)
    ).mappings()
    for row in list(deferred):
        if _place_deferred(session, job, bank, row):
            added += 1
            job.signal_types.add(row["signal_type"])
    if bank.enabled:
        session.add_all(
            IndexChangeEntry(
                signal_type=signal_type,
                signal_id=job.id,
                bank_id=bank.id,
                op=ChangeOp.IMPORT.value,
                value=job.key,
            )
            for signal_type in sorted(job.signal_types)
        )
    session.flush()
    return added


def _place_deferred(session: Session, job: ImportJob, bank: Bank, row: Mapping[Any, Any]) -> bool:
    """Write one value that another unpublished import held when its chunk was written
    (taking it from that import if it still does); False when the bank holds it now."""
    signal_type, key = row["signal_type"], row["value_key"]
    take_pending(session, bank.id, signal_type, [key])
    if held_keys(session, bank.id, signal_type, [key]):
        return False
    content_id: int | None = None
    if job.group and row["external_id"] is not None:
        content_id = session.scalar(
            select(func.max(BankContent.id)).where(
                BankContent.bank_id == bank.id,
                BankContent.external_id == row["external_id"],
                visible(BankContent.import_id),
            )
        )
    if content_id is None:
        content = BankContent(**content_row_values(bank, row, utcnow()), import_id=job.id)
        session.add(content)
        session.flush()
        content_id = content.id
    session.add(
        ContentSignal(
            content_id=content_id,
            bank_id=bank.id,
            signal_type=signal_type,
            value=row["value"],
            value_key=key,
            import_id=job.id,
        )
    )
    session.flush()
    return True
