"""Writing an import's chunks: validated rows become content and signals marked with the
import's id, which every reader ignores until the import is published
(`vangnet.store.visibility`). Each chunk is one short transaction.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, literal, select, text, update
from sqlalchemy.orm import Session

from vangnet.banks.bulk import allocate_ids, chunks, holders, insert_rows, table_of
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.validation import validator
from vangnet.errors import ConflictError, NotFoundError
from vangnet.jsonlimits import check_text
from vangnet.store.db import is_postgresql, writer
from vangnet.store.models import (
    Bank,
    BankContent,
    BankImport,
    ContentSignal,
    ImportState,
    signal_key,
    utcnow,
)
from vangnet.store.visibility import published_imports, visible


def stage_rows(
    key: str, bank_id: int, batch: list[BankRecord], now: datetime
) -> list[dict[str, Any]]:
    """Validated, canonical rows of one batch of records (no database access)."""
    validators: dict[str, Callable[[str], str]] = {}
    rows = []
    for record in batch:
        check = validators.get(record.signal_type)
        if check is None:
            check = validators[record.signal_type] = validator(record.signal_type)
        value = check(record.value)
        for what, given in (
            ("source", record.source),
            ("series", record.series),
            ("note", record.note),
        ):
            check_text(given, what=what)
        check_text(record.external_id, what="external_id", max_chars=255)
        category = record.category
        rows.append(
            {
                "import_key": key,
                "bank_id": bank_id,
                "signal_type": record.signal_type,
                "value": value,
                "value_key": signal_key(value),
                "external_id": record.external_id,
                "category_profile": category.profile if category else None,
                "category_code": category.code if category else None,
                "source": record.source,
                "series": record.series,
                "note": record.note,
                "enabled": bool(record.enabled),
                "owner": record.external_id is None,  # its own content item
                "content_id": None,
                "staged_at": now,
            }
        )
    return rows


@dataclass(slots=True)
class ImportJob:
    """One bulk write in progress: its id marks every row it writes."""

    id: int
    key: str
    bank_id: int
    group: bool  # records sharing an external id are one item
    placed: int = 0  # signals written by its chunks
    signal_types: set[str] = field(default_factory=set)
    freed_at: float | None = None  # when its last chunk let the write lock go (monotonic)


def begin_import(engine: Engine, bank_id: int, *, group: bool) -> ImportJob:
    key = uuid.uuid4().hex
    with Session(writer(engine)) as session, session.begin():
        row = BankImport(key=key, bank_id=bank_id, state=ImportState.STAGING.value)
        session.add(row)
        session.flush()
        return ImportJob(id=row.id, key=key, bank_id=bank_id, group=group)


def content_row_values(bank: Bank, row: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    return {
        "bank_id": bank.id,
        "category_profile": row["category_profile"] or bank.category_profile,
        "category_code": row["category_code"],
        "source": row["source"],
        "series": row["series"],
        "note": row["note"],
        "external_id": row["external_id"],
        "enabled": bool(row["enabled"]),
        "created_at": now,
        "updated_at": now,
    }


#: After each chunk an import on SQLite leaves the write lock free this long: a writer waiting
#: for it (a live alert, a sign-in) polls with growing sleeps (up to 100 ms) and would
#: otherwise keep missing the moment between two chunks. Reading and validating the next
#: chunk counts towards it (see `wait_gap`).
SQLITE_CHUNK_GAP_SECONDS = 0.05


def wait_gap(engine: Engine, job: ImportJob) -> None:
    """On SQLite, before ``job`` takes the write lock again: wait until its last chunk let
    the lock go `SQLITE_CHUNK_GAP_SECONDS` ago (the time spent meanwhile reading and
    validating the next chunk is not waited again)."""
    if engine.dialect.name != "sqlite" or job.freed_at is None:
        return
    left = SQLITE_CHUNK_GAP_SECONDS - (time.monotonic() - job.freed_at)
    if left > 0:
        time.sleep(left)


def place_chunk(engine: Engine, job: ImportJob, rows: list[dict[str, Any]]) -> None:
    """Write one chunk of records as content and signals marked with the import's id, in
    one short transaction (invisible until the import is published), at least
    `SQLITE_CHUNK_GAP_SECONDS` after the previous one on SQLite.

    A value the bank holds (by hand, published, or earlier in this import) is skipped; one
    that another unpublished import holds is kept aside (``deferred``) and settled when this
    import publishes."""
    staging = table_of("bank_import_rows")
    wait_gap(engine, job)
    with Session(writer(engine)) as session, session.begin():
        _publish_cache(session, PUBLISH_CACHE_KB)
        alive = session.execute(
            update(BankImport)
            .where(BankImport.id == job.id, BankImport.state == ImportState.STAGING.value)
            .values(touched_at=utcnow())
        )
        if alive.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError("the import was stopped (removed as abandoned); run it again")
        bank = session.get(Bank, job.bank_id)
        if bank is None:
            raise NotFoundError("the bank was deleted during the import")
        fresh: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            fresh.setdefault((row["signal_type"], row["value_key"]), row)
        by_type: dict[str, list[str]] = {}
        for signal_type, key in fresh:
            by_type.setdefault(signal_type, []).append(key)
        deferred: list[dict[str, Any]] = []
        others: dict[tuple[str, str], int] = {}
        for signal_type, keys in by_type.items():
            for key, holder in holders(session, bank.id, signal_type, keys).items():
                row = fresh.pop((signal_type, key))
                if holder is not None and holder != job.id:
                    others[(signal_type, key)] = holder
                    row["status"] = "deferred"
                    deferred.append(row)
        if others:  # held by a published import: skipped like a hand-added value
            published = set(
                session.scalars(published_imports().where(BankImport.id.in_(set(others.values()))))
            )
            deferred = [
                row
                for row in deferred
                if others[(row["signal_type"], row["value_key"])] not in published
            ]
        insert_rows(session, staging, deferred, ignore_conflicts=True)
        if fresh:
            _write_rows(session, job, bank, list(fresh.values()))
        _publish_cache(session, None)
    job.freed_at = time.monotonic()


def _write_rows(session: Session, job: ImportJob, bank: Bank, rows: list[dict[str, Any]]) -> None:
    """Content (grouped by external id) and signals for ``rows``, marked with the import."""
    content_of: dict[str, int] = {}  # external id -> content id
    external = sorted({r["external_id"] for r in rows if r["external_id"] is not None})
    if job.group:
        for chunk in chunks(external):
            found = session.execute(
                select(BankContent.external_id, BankContent.id)
                .where(
                    BankContent.bank_id == bank.id,
                    BankContent.external_id.in_(chunk),
                    visible(BankContent.import_id) | (BankContent.import_id == job.id),
                )
                .order_by(BankContent.id.desc())
            )
            for external_id, content_id in found:
                content_of.setdefault(str(external_id), int(content_id))
    now = utcnow()
    owners: list[dict[str, Any]] = []
    for row in rows:
        external_id = row["external_id"] if job.group else None
        if external_id is not None and external_id in content_of:
            continue
        if external_id is not None:
            content_of[external_id] = 0  # created below
        owners.append(row)
    new_ids: list[int] = []
    if owners:
        new_ids = allocate_ids(session, table_of("bank_content"), len(owners))
        contents = []
        for row, content_id in zip(owners, new_ids, strict=True):
            row["content_id"] = content_id
            if job.group and row["external_id"] is not None:
                content_of[row["external_id"]] = content_id
            contents.append(
                {"id": content_id, **content_row_values(bank, row, now), "import_id": job.id}
            )
        insert_rows(session, table_of("bank_content"), contents)
    for row in rows:
        if row["content_id"] is None:
            row["content_id"] = content_of[row["external_id"]]
    signal_ids = allocate_ids(session, table_of("content_signals"), len(rows))
    signals = [
        {
            "id": signal_id,
            "content_id": row["content_id"],
            "bank_id": bank.id,
            "signal_type": row["signal_type"],
            "value": row["value"],
            "value_key": row["value_key"],
            "import_id": job.id,
        }
        for signal_id, row in zip(signal_ids, rows, strict=True)
    ]
    # in index order: the unique index takes them as appends, not random inserts
    signals.sort(key=lambda s: (s["signal_type"], s["value_key"]))
    written = insert_rows(session, table_of("content_signals"), signals, ignore_conflicts=True)
    mine = (
        ContentSignal.import_id == job.id,
        ContentSignal.id.between(signal_ids[0], signal_ids[-1]),
    )
    if written < 0:  # the driver did not say (counting on PostgreSQL reads the import so far)
        written = int(session.scalar(select(func.count()).where(*mine)) or 0)
    if written < len(rows):  # PostgreSQL: another writer took a value meanwhile
        placed = set(session.scalars(select(ContentSignal.id).where(*mine)))
        lost = [row for sid, row in zip(signal_ids, rows, strict=True) if sid not in placed]
        for row in lost:
            row["status"] = "deferred"
        insert_rows(session, table_of("bank_import_rows"), lost, ignore_conflicts=True)
        has_signal = (
            select(literal(1))
            .select_from(ContentSignal)
            .where(ContentSignal.content_id == BankContent.id)
            .exists()
        )
        for chunk in chunks(new_ids):
            session.execute(delete(BankContent).where(BankContent.id.in_(chunk), ~has_signal))
    job.placed += written
    job.signal_types.update(row["signal_type"] for row in rows)


#: SQLite page cache of an import's connection: the indexes it extends stay in memory, so
#: writing a chunk is bound by CPU, not by re-reading pages (the default cache is 2 MB).
PUBLISH_CACHE_KB = 256 * 1024


def _publish_cache(session: Session, kib: int | None) -> None:
    """Set (or, with None, restore) the SQLite page cache of ``session``'s connection."""
    if not is_postgresql(session):
        size = -2000 if kib is None else -int(kib)
        session.execute(text(f"PRAGMA cache_size={size}"))
