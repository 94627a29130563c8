"""Migration 0018_live_regions on SQLite and PostgreSQL: a database with a stream and an
alert frame is upgraded with both kept, the stream counting 0 samples skipped or failed for
regions and the frame found by its whole picture (``{}``); the columns are the models'; the
downgrade drops the three columns and nothing else."""

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

REVISION = "0018_live_regions"
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
FRAME = sa.text(
    "INSERT INTO alert_frames (alert_id, stream_time, captured_at, pdq, quality, distance)"
    " VALUES (:alert, 1.0, :now, :pdq, 90, 4)"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0018_live_regions."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_upgrade_keeps_streams_and_frames_then_downgrade_drops_the_columns(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 06:00:00"
    try:
        assert "regions_skipped" not in _columns(engine, "streams")
        with engine.begin() as conn:
            conn.execute(STREAM, {"now": now})
            stream = conn.execute(sa.text("SELECT id FROM streams")).scalar_one()
            conn.execute(ALERT, {"stream": stream, "now": now})
            alert = conn.execute(sa.text("SELECT id FROM alerts")).scalar_one()
            conn.execute(FRAME, {"alert": alert, "now": now, "pdq": "f" * 64})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [
            d for d in schema_diff(old_url) if "regions_" in repr(d) or "found" in repr(d)
        ] == []
        with engine.connect() as conn:
            streams = conn.execute(
                sa.text("SELECT dropped, regions_skipped, regions_failed FROM streams")
            ).all()
            frames = conn.execute(sa.text("SELECT distance, found FROM alert_frames")).all()
        assert [tuple(r) for r in streams] == [(2, 0, 0)]
        assert [(d, f if isinstance(f, dict) else json.loads(f)) for d, f in frames] == [(4, {})]
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE streams SET regions_skipped = 3"))
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert not {"regions_skipped", "regions_failed"} & _columns(engine, "streams")
        assert "found" not in _columns(engine, "alert_frames")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
            distances = conn.execute(sa.text("SELECT distance FROM alert_frames")).all()
        assert [tuple(r) for r in kept] == [(5, 2)]
        assert [tuple(r) for r in distances] == [(4,)]
    finally:
        engine.dispose()
