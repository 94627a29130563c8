"""Removing what an import leaves behind: its staging rows once published, all of its rows
when it fails, and the rows of imports that stopped without cleaning up (killed).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, Engine, Table, delete, func, select, update
from sqlalchemy.orm import Session

from vangnet.banks.bulk import table_of
from vangnet.store.db import writer
from vangnet.store.models import BankContent, BankImport, ContentSignal, ImportState, utcnow

#: An import that has written nothing for this long has stopped (killed); the next import
#: removes its rows.
STALE_STAGING = timedelta(minutes=10)


def _delete_batches(engine: Engine, table: Table, where: ColumnElement[bool], chunk: int) -> None:
    """Delete the rows of ``table`` matching ``where``, a chunk per short transaction."""
    while True:
        with Session(writer(engine)) as session, session.begin():
            ids = list(session.scalars(select(table.c.id).where(where).limit(chunk)))
            if not ids:
                return
            session.execute(delete(table).where(table.c.id.in_(ids)))


def discard_staging(engine: Engine, key: str, chunk: int) -> None:
    """Delete the deferred and taken rows of import ``key``."""
    staging = table_of("bank_import_rows")
    _delete_batches(engine, staging, staging.c.import_key == key, chunk)


def discard_import(engine: Engine, job_id: int, key: str, chunk: int) -> None:
    """Remove an unpublished import: mark it failed (so it can never be published), then
    delete its signals, content and rows in short transactions, and itself last."""
    with Session(writer(engine)) as session, session.begin():
        state = session.scalar(select(BankImport.state).where(BankImport.id == job_id))
        if state == ImportState.PUBLISHED.value:  # (published meanwhile: keep its rows)
            published = True
        else:
            published = False
            session.execute(
                update(BankImport)
                .where(BankImport.id == job_id)
                .values(state=ImportState.FAILED.value)
            )
    if not published:
        _delete_batches(
            engine, table_of("content_signals"), ContentSignal.import_id == job_id, chunk
        )
        _delete_batches(engine, table_of("bank_content"), BankContent.import_id == job_id, chunk)
    discard_staging(engine, key, chunk)
    if not published:
        with Session(writer(engine)) as session, session.begin():
            session.execute(delete(BankImport).where(BankImport.id == job_id))


def discard_stale(engine: Engine, chunk: int) -> None:
    """Remove what imports that stopped without cleaning up (killed) left behind."""
    cutoff = utcnow() - STALE_STAGING
    staging = table_of("bank_import_rows")
    with Session(engine) as session:
        stale = session.execute(
            select(BankImport.id, BankImport.key).where(
                (BankImport.state == ImportState.FAILED.value)
                | (
                    (BankImport.state == ImportState.STAGING.value)
                    & (BankImport.touched_at < cutoff)
                )
            )
        ).all()
        orphans = list(
            session.scalars(
                select(staging.c.import_key)
                .where(staging.c.import_key.not_in(select(BankImport.key)))
                .group_by(staging.c.import_key)
                .having(func.max(staging.c.staged_at) < cutoff)
            )
        )
    for job_id, key in stale:
        with Session(writer(engine)) as session, session.begin():  # still stale: claim it
            claimed = session.execute(
                update(BankImport)
                .where(
                    BankImport.id == job_id,
                    (BankImport.state == ImportState.FAILED.value)
                    | (BankImport.touched_at < cutoff),
                    BankImport.state != ImportState.PUBLISHED.value,
                )
                .values(state=ImportState.FAILED.value)
            )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            discard_import(engine, job_id, key, chunk)
    for key in orphans:
        discard_staging(engine, key, chunk)
