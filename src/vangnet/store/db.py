"""Engines and sessions for the embedded SQLite database or PostgreSQL.

`make_engine` turns a URL (default: the configured one) into an engine with the right
per-connection settings; `session_scope` is the unit of work for callers that own the
transaction (CLI commands, HTTP views, background jobs). Services never commit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from vangnet.errors import ValidationError
from vangnet.store.private import private_dir, private_file, sqlite_files

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITER_OPTION = "vangnet_writer"
LOCK_WAIT_OPTION = "vangnet_lock_wait_ms"


def writer(engine: Engine) -> Engine:
    """``engine`` for transactions that read, then write (background workers).

    On SQLite their transactions begin IMMEDIATE: a deferred transaction that has read and
    then wants to write fails at once with "database is locked" when another connection
    wrote meanwhile (SQLite cannot wait there without deadlocking); an immediate one waits
    for the write lock up to the busy timeout instead. Readers are not blocked (WAL).
    PostgreSQL ignores the option."""
    return engine.execution_options(**{WRITER_OPTION: True})


def bounded_writer(engine: Engine, seconds: float) -> Engine:
    """`writer` whose transactions wait at most ``seconds`` for a lock (SQLite: the busy
    timeout; PostgreSQL: ``lock_timeout``) and then fail, so the caller can queue the work
    and retry later instead of holding up everything behind it (live alert writes)."""
    wait_ms = max(1, int(seconds * 1000))
    return engine.execution_options(**{WRITER_OPTION: True, LOCK_WAIT_OPTION: wait_ms})


def database_url(url: str | URL) -> URL:
    """``url`` (``settings.effective_database_url``) with a psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValidationError(f"not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    raise ValidationError(f"unsupported database {backend!r}: use sqlite or postgresql")


def is_postgresql(bind: Engine | Connection | Session) -> bool:
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return dialect.name == "postgresql"


def make_engine(url: str | URL, *, echo: bool = False, home: Path | None = None) -> Engine:
    """An engine for ``url`` (``settings.effective_database_url``). SQLite files and their
    folder are created; a new folder, and the data directory ``home`` (``settings.home``)
    when the file is in it, are made private."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo, home=home)
    engine = create_engine(parsed, echo=echo, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        wait_ms = connection.get_execution_options().get(LOCK_WAIT_OPTION)
        if wait_ms is not None:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wait_ms)}")

    return engine


def _sqlite_engine(url: URL, *, echo: bool, home: Path | None) -> Engine:
    database = url.database or ""
    path: Path | None = None
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).expanduser()
        folder = path.parent
        # The data directory is private (0700): created so, and VANGNET_HOME made so.
        is_home = home is not None and folder.resolve() == home.expanduser().resolve()
        if not folder.exists() or is_home:
            private_dir(folder)
    engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        if path is not None:
            # 0600 before WAL mode: SQLite gives its -wal and -shm files the database file's
            # permissions, so they are private too (existing ones are made so here).
            for file in sqlite_files(path):
                private_file(file)
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that
        # DDL and SAVEPOINTs are transactional (see SQLAlchemy's "Serializable isolation /
        # Savepoints / Transactional DDL" recipe for pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        wait_ms = int(options.get(LOCK_WAIT_OPTION, SQLITE_BUSY_TIMEOUT_MS))
        connection.exec_driver_sql(f"PRAGMA busy_timeout={wait_ms}")  # per transaction
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITER_OPTION) else "BEGIN")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commits when the block succeeds, rolls back when it raises."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
