"""Migration 0022_classifier_calibration on SQLite and PostgreSQL: a database with a stream
is upgraded with it kept and an empty ``classifier_calibrations`` table that is the model's;
a calibration can be stored (one per classifier and version); the downgrade drops the table
and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0022_classifier_calibration"
STREAM = sa.text(
    "INSERT INTO streams (kind, stream_metadata, sample_fps, state, desired, samples, matches,"
    " dropped, alerts, stream_time, created_at, updated_at) VALUES ('push', '{}', 1.0, 'live',"
    " 'run', 5, 1, 2, 1, 5.0, :now, :now)"
)
CALIBRATION = sa.text(
    "INSERT INTO classifier_calibrations (classifier, version, threshold, target_precision,"
    " figures, labels, labels_sha256, actor, created_at) VALUES ('opennsfw', :version, 0.8,"
    " 0.99, '{}', 10, 'ab', 'cli:test', :now)"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0022_classifier_calibration."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def test_upgrade_adds_the_table_then_downgrade_drops_it(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        assert "classifier_calibrations" not in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(STREAM, {"now": now})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if "calibration" in repr(d)] == []
        with engine.begin() as conn:
            conn.execute(CALIBRATION, {"now": now, "version": "1"})
            conn.execute(CALIBRATION, {"now": now, "version": "2"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(CALIBRATION, {"now": now, "version": "1"})
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert "classifier_calibrations" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
        assert [tuple(r) for r in kept] == [(5, 2)]
    finally:
        engine.dispose()
