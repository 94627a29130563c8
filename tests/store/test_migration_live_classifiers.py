"""Migration 0019_live_classifiers on SQLite and PostgreSQL: a database with a stream and
its alert is upgraded with both kept, the stream counting 0 samples the classifiers skipped
or failed; the columns are the models'; the downgrade drops the two columns and nothing
else (the stream's alert stays: no table copy that would cascade)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0019_live_classifiers"
STREAM = sa.text(
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
COLUMNS = {"classify_skipped", "classifier_failures"}


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0019_live_classifiers."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_upgrade_keeps_streams_then_downgrade_drops_the_columns(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        assert not COLUMNS & _columns(engine, "streams")
        with engine.begin() as conn:
            conn.execute(STREAM, {"now": now})
            stream = conn.execute(sa.text("SELECT id FROM streams")).scalar_one()
            conn.execute(ALERT, {"stream": stream, "now": now})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if any(c in repr(d) for c in COLUMNS)] == []
        with engine.connect() as conn:
            streams = conn.execute(
                sa.text("SELECT dropped, classify_skipped, classifier_failures FROM streams")
            ).all()
        assert [tuple(r) for r in streams] == [(2, 0, 0)]
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE streams SET classify_skipped = 3"))
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert not COLUMNS & _columns(engine, "streams")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
            alerts = conn.execute(sa.text("SELECT best_distance FROM alerts")).all()
        assert [tuple(r) for r in kept] == [(5, 2)]
        assert [tuple(r) for r in alerts] == [(4,)]
    finally:
        engine.dispose()
