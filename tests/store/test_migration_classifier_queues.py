"""Migration 0021_classifier_queues on SQLite and PostgreSQL: cases that hold classifier
scores get their priority signal backfilled (fused at the default thresholds: likely or
not), a case without scores stays unscored, a case's matches survive; the columns and
indexes are the models'; the downgrade drops them and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0021_classifier_queues"
CASE = sa.text(
    "INSERT INTO cases (key, kind, title, status, subject, created_at, updated_at,"
    " last_signal_at) VALUES (:key, 'upload', 'Upload', 'open', :subject, :now, :now, :now)"
)
MATCH = sa.text(
    "INSERT INTO case_matches (case_id, bank, content_id, signal_type, distance, at, banked,"
    " frames, found) VALUES (:case, 'KNOWN', 1, 'pdq', 4, :now, '{}', 1, '{}')"
)
COLUMNS = {"priority_signal", "signal_likely"}


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0021_classifier_queues."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(table)}


def test_upgrade_backfills_the_signal_then_downgrade_drops_it(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    subjects = {
        "upload:likely": '{"account": "a", "scores": {"opennsfw": 0.9}}',
        "upload:low": '{"scores": {"opennsfw": 0.2, "faces": 0.8}}',
        "upload:none": '{"account": "b"}',
    }
    try:
        assert not COLUMNS & _columns(engine, "cases")
        assert not COLUMNS & _columns(engine, "triage_items")
        with engine.begin() as conn:
            for key, subject in subjects.items():
                conn.execute(CASE, {"key": key, "subject": subject, "now": now})
            likely = conn.execute(
                sa.text("SELECT id FROM cases WHERE key = 'upload:likely'")
            ).scalar_one()
            conn.execute(MATCH, {"case": likely, "now": now})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if "signal" in repr(d)] == []
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT key, priority_signal, signal_likely FROM cases ORDER BY key")
            ).all()
        got = {key: (value, bool(is_likely)) for key, value, is_likely in rows}
        assert got["upload:likely"][0] == pytest.approx(0.45)  # no face: half of 0.9
        assert got["upload:likely"][1] is True
        low, low_likely = got["upload:low"]
        assert low == pytest.approx(0.2 * (0.5 + 0.5 * 0.8)) and low_likely is False
        assert got["upload:none"] == (None, False)
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert not COLUMNS & _columns(engine, "cases")
        assert not COLUMNS & _columns(engine, "triage_items")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
            matches = conn.execute(sa.text("SELECT distance FROM case_matches")).all()
        assert kept == 3 and [tuple(r) for r in matches] == [(4,)]
    finally:
        engine.dispose()
