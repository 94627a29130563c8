"""Migration 0017_match_provenance on SQLite and PostgreSQL: case matches are kept, each with
an empty ``found``; the ``content_features`` table is the models'; the downgrade drops the
column and the table and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0017_match_provenance"
NOW = {"now": "2026-12-07 06:00:00"}
ROWS = (
    "INSERT INTO cases (id, key, kind, title, status, subject, created_at, updated_at,"
    " last_signal_at) VALUES (1, 'upload:1', 'upload', 'x', 'open', '{}', :now, :now, :now)",
    "INSERT INTO case_matches (case_id, bank, content_id, signal_type, distance, at, banked,"
    " frames) VALUES (1, 'known', 7, 'pdq', 12, :now, '{}', 1)",
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0017_match_provenance."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("case_matches")}


def test_upgrade_keeps_matches_then_downgrade_drops_column_and_table(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        assert "found" not in _columns(engine)
        with engine.begin() as conn:
            for row in ROWS:
                conn.execute(sa.text(row), NOW)
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        mine = ("'case_matches'", "case_matches.found", "content_features")
        changed = [d for d in schema_diff(old_url) if any(m in repr(d) for m in mine)]
        assert changed == []
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT distance, found FROM case_matches")).all()
        assert [(d, f if isinstance(f, dict) else json.loads(f)) for d, f in rows] == [(12, {})]
        assert "content_features" in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert "found" not in _columns(engine)
        assert "content_features" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT content_id, distance FROM case_matches")).all()
        assert [tuple(r) for r in kept] == [(7, 12)]
    finally:
        engine.dispose()
