"""Bulk writes that hold the write lock only briefly: `import_staged` (``vangnet bank
import``) and `add_many` (the HTTP batch add).

Records are validated and written a chunk at a time as an unpublished import
(`vangnet.banks.staging`), then published in one tiny transaction (`vangnet.banks.publish`);
on any error the import's rows are removed (`vangnet.banks.discard`). All or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.banks.bank import bank_by_name
from vangnet.banks.bulk import batches, chunks
from vangnet.banks.discard import discard_import, discard_staging, discard_stale
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.publish import publish
from vangnet.banks.staging import begin_import, place_chunk, stage_rows, wait_gap
from vangnet.banks.views import ImportResult
from vangnet.errors import ValidationError, VangnetError
from vangnet.store.db import writer
from vangnet.store.models import ContentSignal, utcnow
from vangnet.store.visibility import visible


def _content_ids(session: Session, bank_id: int, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """The content id holding each row's value in the bank (visible rows only)."""
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row["signal_type"], []).append(row["value_key"])
    found: dict[tuple[str, str], int] = {}
    for signal_type, keys in by_type.items():
        for chunk in chunks(sorted(set(keys))):
            for key, content_id in session.execute(
                select(ContentSignal.value_key, ContentSignal.content_id).where(
                    ContentSignal.bank_id == bank_id,
                    ContentSignal.signal_type == signal_type,
                    ContentSignal.value_key.in_(chunk),
                    visible(ContentSignal.import_id),
                )
            ):
                found[(signal_type, str(key))] = int(content_id)
    return [found[(row["signal_type"], row["value_key"])] for row in rows]


def add_many(
    engine: Engine,
    *,
    bank: str,
    items: Sequence[BankRecord],
    chunk: int,
    on_publish: Callable[[Session, list[int]], None] | None = None,
) -> list[int]:
    """Add each item as its own content item, as `add_content` would one by one (an item
    whose value the bank already holds, or that repeats an earlier item, gives that
    content's id), all or nothing; returns the content ids in item order.

    Written in short transactions as an unpublished import and published in one tiny
    transaction (with ``on_publish``, e.g. the audit entry), so a large batch does not hold
    the write lock while it is validated and copied. A bad item raises before anything is
    written, naming its position (``items[3]: ...``).
    """
    with Session(engine) as session:
        bank_id = bank_by_name(session, bank).id
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            (row,) = stage_rows("", bank_id, [item], now)
        except VangnetError as error:
            raise type(error)(f"items[{position}]: {error.message}") from None
        row["owner"] = True  # its own item, whatever its external id
        rows.append(row)
    size = chunk
    job = begin_import(engine, bank_id, group=False)
    for row in rows:
        row["import_key"] = job.key
    try:
        for part in chunks(rows, size):
            place_chunk(engine, job, list(part))
        wait_gap(engine, job)
        with Session(writer(engine)) as session, session.begin():
            publish(session, job)
            ids = _content_ids(session, bank_id, rows)
            if on_publish is not None:
                on_publish(session, ids)
    except BaseException:
        discard_import(engine, job.id, job.key, size)
        raise
    discard_staging(engine, job.key, size)
    return ids


def import_staged(
    engine: Engine,
    *,
    bank: str,
    records: Iterable[BankRecord],
    chunk: int,
    on_publish: Callable[[Session, ImportResult], None] | None = None,
) -> ImportResult:
    """Import ``records`` into ``bank`` holding the write lock only briefly.

    Records are validated and written ``chunk`` at a time, each chunk in its own short
    transaction, as content and signals marked with a new import's id, which every reader
    ignores (`vangnet.store.visibility`); then one tiny transaction publishes the import
    (its rows become visible, one ``import`` change-log entry per signal type, and whatever
    ``on_publish`` adds, e.g. the audit entry) and commits. All-or-nothing: an error while
    reading or writing removes the import's rows and re-raises; a killed import is never
    published, and the next import removes its rows once it is stale. Values the bank
    already holds are skipped.
    ``chunk`` is the setting ``bank_import_chunk``, passed in by the caller.
    """
    size = chunk
    if size < 1:
        raise ValidationError("chunk must be at least 1")
    with Session(engine) as session:
        bank_id = bank_by_name(session, bank).id
    discard_stale(engine, size)
    job = begin_import(engine, bank_id, group=True)
    total = 0
    try:
        for batch in batches(records, size):
            rows = stage_rows(job.key, bank_id, batch, utcnow())  # ValidationError: nothing kept
            total += len(batch)
            place_chunk(engine, job, rows)
        wait_gap(engine, job)
        with Session(writer(engine)) as session, session.begin():
            added = publish(session, job)
            result = ImportResult(added=added, skipped_existing=total - added, total=total)
            if on_publish is not None:
                on_publish(session, result)
    except BaseException:
        discard_import(engine, job.id, job.key, size)
        raise
    discard_staging(engine, job.key, size)
    return result
