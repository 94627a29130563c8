"""Migration 0016_evidence_lost on SQLite and PostgreSQL: a database with streams is
upgraded with its streams kept, each counting 0 frames lost; the column is the models'; the
downgrade drops the column and nothing else (the stream's alerts are kept: on SQLite a copy of
the table would delete them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0016_evidence_lost"
INSERT = sa.text(
    "INSERT INTO streams (kind, stream_metadata, sample_fps, state, desired, samples, matches,"
    " dropped, alerts, stream_time, created_at, updated_at) VALUES ('push', '{}', 1.0, 'live',"
    " 'run', 5, 1, 2, 1, 5.0, :now, :now)"
)
ALERT = sa.text(
    "INSERT INTO alerts (stream_id, bank, bank_content_id, signal_type, rule,"
    " first_stream_time, last_stream_time, best_distance, frames_matched, status, created_at,"
    " updated_at)"
    " VALUES (:stream, 'KNOWN', 1, 'pdq', '1 matching sample', 1.0, 1.0, 4, 1, 'open', :now, :now)"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0016_evidence_lost."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("streams")}


def test_upgrade_counts_nothing_lost_then_downgrade_drops_the_column(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        assert "evidence_lost" not in _columns(engine)
        with engine.begin() as conn:
            conn.execute(INSERT, {"now": "2026-12-07 03:00:00"})
            stream = conn.execute(sa.text("SELECT id FROM streams")).scalar_one()
            conn.execute(ALERT, {"stream": stream, "now": "2026-12-07 03:00:00"})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if "evidence_lost" in repr(d)] == []
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT dropped, evidence_lost FROM streams")).all()
        assert [tuple(r) for r in rows] == [(2, 0)]
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE streams SET evidence_lost = 3"))
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert "evidence_lost" not in _columns(engine)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
        assert [tuple(r) for r in kept] == [(5, 2)]
        with engine.connect() as conn:  # the stream's alerts too (no copy of the table)
            assert conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar_one() == 1
    finally:
        engine.dispose()
