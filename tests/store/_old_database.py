"""A database of its own at an older revision, on SQLite or PostgreSQL, for migration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.exc import OperationalError

from conftest import drop_pg_database, new_pg_database
from vangnet.store.migrate import alembic_config, upgrade

#: The ``params`` of a fixture that runs on both databases.
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def revision_before(revision: str) -> str:
    """The revision ``revision`` revises (whatever the migrations are chained to)."""
    down = ScriptDirectory.from_config(alembic_config()).get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


@contextmanager
def database_at(kind: str, revision: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of its own (``kind``: ``sqlite`` or ``postgresql``)
    migrated to ``revision``; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, revision)
        yield url
        return
    try:
        url = new_pg_database()
    except OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    try:
        upgrade(url, revision)
        yield url
    finally:
        drop_pg_database(url)
