"""Migration 0023_context_records on SQLite and PostgreSQL: a database with a stream is
upgraded with it kept and empty ``context_*`` tables that are the models'; a record's ``ref``
is unique; the downgrade drops the tables and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0023_context_records"
TABLES = {
    "context_imports",
    "context_accounts",
    "context_payments",
    "context_messages",
    "context_sessions",
}
STREAM = sa.text(
    "INSERT INTO streams (kind, stream_metadata, sample_fps, state, desired, samples, matches,"
    " dropped, alerts, stream_time, created_at, updated_at) VALUES ('push', '{}', 1.0, 'live',"
    " 'run', 5, 1, 2, 1, 5.0, :now, :now)"
)
PAYMENT = sa.text(
    "INSERT INTO context_payments (ref, at, sender, beneficiary, amount, currency, channel,"
    " narrative, details) VALUES (:ref, :now, 'a', 'b', '25.00', 'EUR', 'remittance', '',"
    " '{}')"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0023_context_records."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def test_upgrade_adds_the_tables_then_downgrade_drops_them(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        with engine.begin() as conn:
            conn.execute(STREAM, {"now": now})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        # its own tables only: later migrations add other context_* tables
        assert [d for d in schema_diff(old_url) if any(f"'{t}'" in repr(d) for t in TABLES)] == []
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.begin() as conn:
            conn.execute(PAYMENT, {"now": now, "ref": "TX-1"})
            conn.execute(PAYMENT, {"now": now, "ref": "TX-2"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(PAYMENT, {"now": now, "ref": "TX-1"})
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
        assert [tuple(r) for r in kept] == [(5, 2)]
    finally:
        engine.dispose()
