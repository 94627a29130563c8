"""Shared test fixtures. Test data is read from ../shared/data, never copied into the repo."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("VANGNET_SHARED_DATA", REPO.parent / "shared" / "data"))


def _cheap_password_hashing() -> Any:
    """Argon2id at its cheapest (1 pass over 8 KiB, one lane) for the accounts tests make and
    sign in to: the production parameters (3 passes over 64 MiB, 4 lanes) cost ~0.13 s CPU per
    hash and per sign-in, hundreds of times over in the web, security and CLI tests. Returns the
    production hasher, which tests/auth/test_password_hashing.py puts back to check those
    parameters and the upgrade of a cheaper hash at sign-in. Applied in every process that
    loads this file (each xdist worker); a ``vangnet`` subprocess hashes as in production."""
    from argon2 import PasswordHasher

    from vangnet.auth import users

    production = users._HASHER
    users._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    users._DUMMY = users._HASHER.hash("vangnet-no-such-user")
    return production


PRODUCTION_HASHER = _cheap_password_hashing()


def _known_seconds() -> dict[str, float]:
    """Seconds per test file of the tests listed in ``slow_tests.txt``."""
    seconds: dict[str, float] = {}
    for line in (Path(__file__).parent / "slow_tests.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            taken, node = line.split(maxsplit=1)
            module = node.split("::", 1)[0]
            seconds[module] = seconds.get(module, 0.0) + float(taken)
    return seconds


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files holding the longest tests (``slow_tests.txt``) run first, longest first, each
    file's tests together and in their own order (a file's fixtures are made once): the
    xdist workers then end on short tests and together, not one of them idle while the other
    runs a long test it started last. The same order in every worker (xdist requires it)."""
    known = _known_seconds()
    rank = {id(item): -known.get(item.nodeid.split("::", 1)[0], 0.0) for item in items}
    items.sort(key=lambda item: rank[id(item)])  # stable: each file keeps its own order


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"benign test data not found at {SHARED_DATA} (set VANGNET_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own VANGNET_HOME and fresh settings."""
    from vangnet.config import reset_settings

    monkeypatch.setenv("VANGNET_HOME", str(tmp_path / "vangnet-home"))
    for key in list(os.environ):
        if key.startswith("VANGNET_") and key not in ("VANGNET_HOME", "VANGNET_SHARED_DATA"):
            monkeypatch.delenv(key)
    # Tests start their streams, webhook receivers and NCMEC fakes on loopback, which the
    # egress policy denies by default; tests of the policy set egress_allow themselves.
    monkeypatch.setenv("VANGNET_EGRESS_ALLOW", '["loopback"]')
    # Starlette's TestClient sends `Host: testserver` (the request guard checks Host)
    monkeypatch.setenv("VANGNET_ALLOWED_HOSTS", '["testserver"]')
    # No classifier model in every live sample and every app of the suite (open-nsfw costs
    # ~30-50 ms a picture): the tests of classifiers enable them (tests/signals/test_classifier*.py,
    # tests/cli/test_classify.py, tests/api/test_classify_api.py).
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "")
    reset_settings()
    yield
    reset_settings()
    from vangnet.media.limits import MediaLimits, configure

    configure(MediaLimits())  # an entry point a test ran may have installed other caps


# -- database fixtures (store/banks/auth) ------------------------------------------------------
# `db_url` is a migrated, empty database: a SQLite file per test, or a PostgreSQL database on
# 127.0.0.1:5432 (user postgres) created and migrated once per test session (per xdist worker),
# dropped at the end, and emptied (TRUNCATE ... RESTART IDENTITY) before each test.

import uuid  # noqa: E402

from sqlalchemy import Engine, create_engine, make_url  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "VANGNET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    """URL of a migrated database for this session. Skips when PostgreSQL is unreachable."""
    from vangnet.store.migrate import upgrade

    admin = _pg_admin()
    name = f"vangnet_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as error:
        admin.dispose()
        if os.environ.get("CI"):  # CI machines run PostgreSQL: its absence is a failure there
            pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}")
    try:
        url = make_url(PG_ADMIN_URL).set(database=name)
        upgrade(url)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url(_pg_database: str) -> str:
    """The session's PostgreSQL database, migrated and emptied for this test."""
    engine = create_engine(_pg_database)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(_emptying(conn))
    finally:
        engine.dispose()
    return _pg_database


def _emptying(conn: Any) -> str:
    """One batch that empties every table and restarts every sequence: what ``TRUNCATE ...
    RESTART IDENTITY CASCADE`` does, about 7 times faster on the small tables of a test
    (TRUNCATE pays a fixed cost per table). Foreign-key triggers are off for the batch
    (``session_replication_role``), so the order of the deletes does not matter."""
    from vangnet.store.models import Base

    sequences = conn.exec_driver_sql(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences"
    ).scalars()
    return (
        "SET LOCAL session_replication_role = replica;"
        + "".join(f'DELETE FROM "{t.name}";' for t in reversed(Base.metadata.sorted_tables))
        + "".join(f"SELECT setval('{s}', 1, false);" for s in sequences)
    )


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database migrated to head, once per test session (per xdist worker):
    each test gets a copy of this file, not a run of every migration (the migrations have
    tests of their own, tests/store)."""
    from vangnet.store.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "vangnet-template.db"
    upgrade(f"sqlite:///{path}")
    settle_sqlite(path)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database migrated to head, on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        return url
    import shutil

    template: Path = request.getfixturevalue("_sqlite_template")
    path = tmp_path / "vangnet-test.db"
    shutil.copyfile(template, path)
    path.chmod(0o600)
    return f"sqlite:///{path}"


def install_media_limits() -> None:
    """Tests are entry points: install the decode caps of the settings in force (as the CLI
    and the app factory do); the autouse fixture restores the defaults afterwards."""
    from vangnet.config import get_settings
    from vangnet.media.limits import MediaLimits, configure

    configure(MediaLimits.from_settings(get_settings()))


def audited(engine: Engine) -> Engine:
    """Tests are entry points: audit entries written through ``engine`` (and the engines made
    from it afterwards) use the anchor of the settings in force when each is written, so that
    a test may change the audit settings after making its engine."""
    from vangnet.audit.anchor import anchor_for
    from vangnet.audit.chain import ANCHOR_OPTION
    from vangnet.config import get_settings

    engine.update_execution_options(**{ANCHOR_OPTION: lambda: anchor_for(get_settings())})
    return engine


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    from vangnet.store.db import make_engine

    engine = audited(make_engine(db_url))
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(db_engine: Engine) -> Iterator[Session]:
    """A session on `db_url`; the test commits or not. Rolled back and closed afterwards."""
    with Session(db_engine, expire_on_commit=False) as session:
        yield session
        session.rollback()


@pytest.fixture
def receiver() -> Iterator[Any]:
    """A webhook receiver on 127.0.0.1 (see ``webhook_receiver.py``)."""
    from webhook_receiver import run_receiver

    with run_receiver() as state:
        yield state


# -- copies of a database state (built once, restored per test) -------------------------------


def new_pg_database(template: str | None = None) -> str:
    """URL of a new database on the test PostgreSQL server: empty, or a copy of ``template``
    (another database of this server, which must have no open connection: PostgreSQL copies
    it file by file, sequences included). `drop_pg_database` removes it."""
    name = f"vangnet_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    finally:
        admin.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        admin.dispose()


def settle_sqlite(path: Path) -> None:
    """Move everything of the SQLite database at ``path`` into its main file (no ``-wal`` left
    to copy), so that copying the file copies the database."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
