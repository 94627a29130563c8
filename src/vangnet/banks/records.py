"""Records in and out within the caller's transaction: `import_records` adds format records
(`vangnet.banks.formats`) in batches, `export_records` streams a bank's signals as records.

For a large import that must not hold the write lock, see `vangnet.banks.imports`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vangnet.banks.bank import bank_by_name
from vangnet.banks.bulk import allocate_ids, batches, chunks, held_keys, insert_rows, table_of
from vangnet.banks.changes import lock_change_log, log_changes
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.pending import take_pending
from vangnet.banks.validation import validator
from vangnet.banks.views import ImportResult, category_of
from vangnet.errors import ValidationError
from vangnet.store.models import Bank, BankContent, ChangeOp, ContentSignal, signal_key, utcnow
from vangnet.store.visibility import visible


def _import_batch(session: Session, bank: Bank, batch: list[BankRecord]) -> int:
    """Insert the new records of one batch; return how many signals were added."""
    validators: dict[str, Callable[[str], str]] = {}
    fresh: dict[tuple[str, str], tuple[BankRecord, str]] = {}  # (type, key) -> record, value
    for record in batch:
        check = validators.get(record.signal_type)
        if check is None:
            check = validators[record.signal_type] = validator(record.signal_type)
        value = check(record.value)
        fresh.setdefault((record.signal_type, signal_key(value)), (record, value))

    by_type: dict[str, list[str]] = {}
    for signal_type, key in fresh:
        by_type.setdefault(signal_type, []).append(key)
    for signal_type, keys in by_type.items():
        take_pending(session, bank.id, signal_type, keys)  # this transaction publishes first
        for key in held_keys(session, bank.id, signal_type, keys):
            del fresh[(signal_type, key)]
    if not fresh:
        return 0

    # Records sharing an external id are one content item (e.g. a VICS media item with its
    # MD5, SHA-1 and PDQ); reuse the bank's existing item with that id if there is one.
    content_of: dict[str, tuple[int, bool]] = {}  # external id -> (content id, enabled)
    external = sorted({r.external_id for r, _ in fresh.values() if r.external_id is not None})
    for chunk in chunks(external):
        rows = session.execute(
            select(BankContent.external_id, BankContent.id, BankContent.enabled)
            .where(
                BankContent.bank_id == bank.id,
                BankContent.external_id.in_(chunk),
                visible(BankContent.import_id),
            )
            .order_by(BankContent.id.desc())
        )
        for external_id, content_id, enabled in rows:
            content_of[str(external_id)] = (content_id, enabled)

    now = utcnow()
    new_contents: list[dict[str, Any]] = []
    owners: list[BankRecord] = []
    pending: set[str] = set()
    for record, _value in fresh.values():
        if record.external_id is not None:
            if record.external_id in content_of or record.external_id in pending:
                continue
            pending.add(record.external_id)
        owners.append(record)
        category = record.category
        new_contents.append(
            {
                "bank_id": bank.id,
                "category_profile": category.profile if category else bank.category_profile,
                "category_code": category.code if category else None,
                "source": record.source,
                "series": record.series,
                "note": record.note,
                "external_id": record.external_id,
                "enabled": bool(record.enabled),
                "created_at": now,
                "updated_at": now,
            }
        )
    content_for_record: dict[int, tuple[int, bool]] = {}
    if new_contents:
        ids = allocate_ids(session, table_of("bank_content"), len(new_contents))
        for row, content_id in zip(new_contents, ids, strict=True):
            row["id"] = content_id
        insert_rows(session, table_of("bank_content"), new_contents)
        for record, content_id in zip(owners, ids, strict=True):
            content_for_record[id(record)] = (content_id, bool(record.enabled))
            if record.external_id is not None:
                content_of[record.external_id] = (content_id, bool(record.enabled))

    signal_ids = allocate_ids(session, table_of("content_signals"), len(fresh))
    signal_rows: list[dict[str, Any]] = []
    for signal_id, ((signal_type, key), (record, value)) in zip(
        signal_ids, fresh.items(), strict=True
    ):
        if record.external_id is not None:
            content_id, _enabled = content_of[record.external_id]
        else:
            content_id, _enabled = content_for_record[id(record)]
        signal_rows.append(
            {
                "id": signal_id,
                "content_id": content_id,
                "bank_id": bank.id,
                "signal_type": signal_type,
                "value": value,
                "value_key": key,
            }
        )
    insert_rows(session, table_of("content_signals"), signal_rows, ignore_conflicts=True)
    in_batch = ContentSignal.id.between(signal_ids[0], signal_ids[-1])
    added = session.scalar(select(func.count()).where(ContentSignal.bank_id == bank.id, in_batch))
    if bank.enabled:
        log_changes(
            session,
            ChangeOp.ADD,
            ContentSignal.bank_id == bank.id,
            in_batch,
            BankContent.enabled.is_(True),
        )
    return int(added or 0)


def import_records(
    session: Session, *, bank: str, records: Iterable[BankRecord], batch_size: int = 5000
) -> ImportResult:
    """Add ``records`` to ``bank`` in batches, within the caller's transaction.

    Values the bank already holds are skipped, so importing a list twice adds nothing. If
    ``records`` raises (e.g. `ImportFormatError`), the exception propagates and the caller's
    rollback discards everything this call wrote.
    """
    if batch_size < 1:
        raise ValidationError("batch_size must be at least 1")
    lock_change_log(session)
    row = bank_by_name(session, bank)
    total = added = 0
    for batch in batches(records, batch_size):
        total += len(batch)
        added += _import_batch(session, row, batch)
    return ImportResult(added=added, skipped_existing=total - added, total=total)


def export_records(session: Session, *, bank: str) -> Iterator[BankRecord]:
    """Every signal of ``bank`` as a record, streamed in content order.

    Content without an external id is exported with ``vangnet:<content id>`` as its id, so
    the signals of one item (e.g. its PDQ and digests) stay one item through a round trip.
    """
    bank_id = bank_by_name(session, bank).id
    stmt = (
        select(
            ContentSignal.signal_type,
            ContentSignal.value,
            BankContent.category_profile,
            BankContent.category_code,
            BankContent.source,
            BankContent.series,
            BankContent.note,
            BankContent.enabled,
            BankContent.external_id,
            BankContent.id.label("content_id"),
        )
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .where(ContentSignal.bank_id == bank_id, visible(ContentSignal.import_id))
        .order_by(ContentSignal.content_id, ContentSignal.id)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(stmt):
        yield BankRecord(
            signal_type=row.signal_type,
            value=row.value,
            category=category_of(row.category_profile, row.category_code),
            source=row.source,
            series=row.series,
            note=row.note,
            enabled=row.enabled,
            external_id=row.external_id or f"vangnet:{row.content_id}",
        )
