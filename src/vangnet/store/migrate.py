"""Schema migrations: Alembic configured in code, scripts shipped inside the package.

`upgrade` runs at `vangnet db upgrade` and at server start; several processes may call it at
once (on PostgreSQL an advisory lock serialises them).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, func, select
from sqlalchemy.engine import Connection

from vangnet.store.db import is_postgresql, make_engine
from vangnet.store.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ADVISORY_LOCK_KEY = 0x76616E67  # "vang"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts; ``connection`` is used if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RuntimeError("no migrations found")
    return head


def upgrade(url: str | URL, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` to ``revision``; return it."""
    engine = make_engine(url)
    try:
        return upgrade_engine(engine, revision)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine, revision: str = "head") -> str | None:
    """Like `upgrade`, on an engine the caller keeps (e.g. the server's)."""
    with engine.begin() as connection:
        if is_postgresql(connection):
            connection.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK_KEY)))
        command.upgrade(alembic_config(connection), revision)
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(engine: Engine) -> None:
    """Bring the database up to the newest schema (used at server start and by commands).
    A database at the newest revision already costs one query: Alembic (which loads every
    migration script, on every call) runs only when there is something to upgrade."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is None or current != _head():
        upgrade_engine(engine)


@cache
def _head() -> str:
    """`head_revision`, read once per process (the scripts ship inside the package)."""
    return head_revision()


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def schema_diff(url: str | URL) -> list[Any]:
    """Differences between the database and the models (empty when they agree)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()
