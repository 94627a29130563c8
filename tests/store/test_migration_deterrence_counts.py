"""Migration 0024_deterrence_counts on SQLite and PostgreSQL: a database with a stream is
upgraded with it kept and an empty ``deterrence_counts`` table that is the model's; a day,
list and language have one row; the downgrade drops the table and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade

REVISION = "0024_deterrence_counts"
STREAM = sa.text(
    "INSERT INTO streams (kind, stream_metadata, sample_fps, state, desired, samples, matches,"
    " dropped, alerts, stream_time, created_at, updated_at) VALUES ('push', '{}', 1.0, 'live',"
    " 'run', 5, 1, 2, 1, 5.0, :now, :now)"
)
COUNT = sa.text(
    "INSERT INTO deterrence_counts (day, list_name, language, checks, warnings)"
    " VALUES ('2026-12-07', :list, 'nl', 1, 1)"
)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0024_deterrence_counts."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def test_upgrade_adds_the_table_then_downgrade_drops_it(old_url: str) -> None:
    engine = make_engine(old_url)
    now = "2026-12-07 10:00:00"
    try:
        assert "deterrence_counts" not in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(STREAM, {"now": now})
        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert [d for d in schema_diff(old_url) if "deterrence" in repr(d)] == []
        with engine.begin() as conn:
            conn.execute(COUNT, {"list": "a"})
            conn.execute(COUNT, {"list": "b"})
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(COUNT, {"list": "a"})
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert "deterrence_counts" not in sa.inspect(engine).get_table_names()
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT samples, dropped FROM streams")).all()
        assert [tuple(r) for r in kept] == [(5, 2)]
    finally:
        engine.dispose()
