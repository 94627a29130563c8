"""Migration 0020_review_now on SQLite and PostgreSQL: a database with a stream and its match
alert is upgraded with both kept (the alert of kind ``match``, details ``{}``; the stream
counting 0 review-now alerts and samples); the columns are the models'; the downgrade drops
the columns and the review-now alerts, and keeps the match alert and its frame (no table copy
that would cascade)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0020_review_now"
STREAM = sa.text(
    "INSERT INTO streams (kind, stream_metadata, sample_fps, state, desired, samples, matches,"
    " dropped, alerts, stream_time, created_at, updated_at) VALUES ('push', '{}', 1.0, 'live',"
    " 'run', 5, 1, 2, 1, 5.0, :now, :now)"
)
ALERT = sa.text(
    "INSERT INTO alerts (stream_id, bank, bank_content_id, signal_type, rule,"
    " first_stream_time, last_stream_time, best_distance, frames_matched, status, created_at,"
    " updated_at)"
    " VALUES (:stream, 'KNOWN', :item, 'pdq', '1 matching sample', 1.0, 1.0, 4, 1, 'open',"
    " :now, :now)"
)
FRAME = sa.text(
    "INSERT INTO alert_frames (alert_id, stream_time, captured_at, pdq, quality, distance, found)"
    " VALUES (:alert, 1.0, :now, :pdq, 100, 4, '{}')"
)
STREAM_COLUMNS = {"review_now_alerts", "review_now_samples"}
ALERT_COLUMNS = {"kind", "best_value", "summary", "details"}


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0020_review_now."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_upgrade_keeps_alerts_as_matches_then_downgrade_drops_review_now(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        assert not STREAM_COLUMNS & _columns(engine, "streams")
        assert not ALERT_COLUMNS & _columns(engine, "alerts")
        with engine.begin() as conn:
            conn.execute(STREAM, {"now": now})
            stream = conn.execute(sa.text("SELECT id FROM streams")).scalar_one()
            conn.execute(ALERT, {"stream": stream, "item": 1, "now": now})
            alert = conn.execute(sa.text("SELECT id FROM alerts")).scalar_one()
            conn.execute(FRAME, {"alert": alert, "now": now, "pdq": "0" * 64})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if "review_now" in repr(d)] == []
        assert [
            d
            for d in schema_diff(old_url)
            if any(f"'{c}'" in repr(d) for c in ("kind", "best_value", "summary", "details"))
            and "alerts" in repr(d)
        ] == []
        with engine.connect() as conn:
            alerts = conn.execute(sa.text("SELECT kind, best_value, details FROM alerts")).all()
            streams = conn.execute(
                sa.text("SELECT review_now_alerts, review_now_samples FROM streams")
            ).all()
        assert [(k, v) for k, v, _ in alerts] == [("match", None)]
        assert alerts[0][2] in ("{}", {})
        assert [tuple(r) for r in streams] == [(0, 0)]
        with engine.begin() as conn:  # a review-now alert of the stream
            conn.execute(ALERT, {"stream": stream, "item": -1, "now": now})
            conn.execute(sa.text("UPDATE alerts SET kind = 'review_now' WHERE bank_content_id < 0"))
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert not STREAM_COLUMNS & _columns(engine, "streams")
        assert not ALERT_COLUMNS & _columns(engine, "alerts")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT bank_content_id FROM alerts")).all()
            frames = conn.execute(sa.text("SELECT distance FROM alert_frames")).all()
            streams = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
        assert [tuple(r) for r in kept] == [(1,)]
        assert [tuple(r) for r in frames] == [(4,)]
        assert [tuple(r) for r in streams] == [(5, 2)]
    finally:
        engine.dispose()
