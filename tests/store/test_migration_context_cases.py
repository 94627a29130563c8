"""Migration 0026_context_cases on SQLite and PostgreSQL: an existing case is kept, the
``cases.kind`` check admits ``context`` (and still refuses others), ``case_context_rows`` is
the model's; the downgrade refuses while context cases exist and otherwise restores the
check and drops the table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0026_context_cases"
CASE = sa.text(
    "INSERT INTO cases (key, kind, title, status, subject, created_at, updated_at,"
    " last_signal_at, signal_likely) VALUES (:key, :kind, 't', 'open', '{}', :now, :now, :now,"
    " false)"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def test_upgrade_admits_context_cases_then_downgrade_restores(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        with engine.begin() as conn:
            conn.execute(CASE, {"now": now, "key": "upload:x", "kind": "upload"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(CASE, {"now": now, "key": "context:a", "kind": "context"})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if "case" in repr(d)] == []
        with engine.begin() as conn:
            conn.execute(CASE, {"now": now, "key": "context:a", "kind": "context"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(CASE, {"now": now, "key": "other:a", "kind": "other"})
        with pytest.raises(RuntimeError, match="1 context cases exist"), engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert "case_context_rows" in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM cases WHERE kind = 'context'"))
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert "case_context_rows" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT key, kind FROM cases")).all()
        assert [tuple(r) for r in kept] == [("upload:x", "upload")]
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(CASE, {"now": now, "key": "context:b", "kind": "context"})
    finally:
        engine.dispose()
