"""Migration 0025_context_assessments on SQLite and PostgreSQL: a database with context
records is upgraded with them kept and empty ``context_assessments`` / ``context_risks``
tables that are the models'; one account once per assessment; deleting an assessment deletes
its risks; the downgrade drops the two tables and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0025_context_assessments"
TABLES = {"context_assessments", "context_risks"}
PAYMENT = sa.text(
    "INSERT INTO context_payments (ref, at, sender, beneficiary, amount, currency, channel,"
    " narrative, details) VALUES ('TX-1', :now, 'a', 'b', '25.00', 'EUR', 'remittance', '',"
    " '{}')"
)
ASSESSMENT = sa.text(
    "INSERT INTO context_assessments (id, created_at, actor, figures) VALUES (1, :now, 'cli', '{}')"
)
RISK = sa.text(
    "INSERT INTO context_risks (assessment_id, account, score, role, reasons, weekly) VALUES"
    " (1, :account, 0.5, 'viewer', '[]', '[]')"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0025_context_assessments."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def test_upgrade_adds_the_tables_then_downgrade_drops_them(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        with engine.begin() as conn:
            conn.execute(PAYMENT, {"now": now})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if any(f"'{t}'" in repr(d) for t in TABLES)] == []
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.begin() as conn:
            conn.execute(ASSESSMENT, {"now": now})
            conn.execute(RISK, {"account": "a"})
            conn.execute(RISK, {"account": "b"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(RISK, {"account": "a"})
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM context_assessments WHERE id = 1"))
            left = conn.execute(sa.text("SELECT count(*) FROM context_risks")).scalar_one()
        assert left == 0
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert not TABLES & set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT ref FROM context_payments")).scalars().all()
        assert kept == ["TX-1"]
    finally:
        engine.dispose()
