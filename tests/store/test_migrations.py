"""Migrations reach head on both databases and produce exactly the models' schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from conftest import audited
from vangnet.config import get_settings
from vangnet.errors import ValidationError
from vangnet.store.db import make_engine, session_scope
from vangnet.store.migrate import current_revision, head_revision, schema_diff, upgrade
from vangnet.store.models import Base


def _newest_file_revision() -> str:
    """The revision of the highest-numbered migration file (files are numbered in order)."""
    versions = Path(__file__).resolve().parents[2] / "src/vangnet/store/migrations/versions"
    return sorted(p.stem for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]


HEAD = _newest_file_revision()


def test_migrated_to_head(db_url: str) -> None:
    assert current_revision(db_url) == head_revision() == HEAD


def test_schema_matches_models(db_url: str) -> None:
    assert schema_diff(db_url) == []


def test_tables_present(db_engine: Engine) -> None:
    names = set(inspect(db_engine).get_table_names())
    assert set(Base.metadata.tables) <= names
    assert "alembic_version" in names


def test_upgrade_is_idempotent(db_url: str) -> None:
    assert upgrade(db_url) == HEAD
    assert upgrade(db_url) == HEAD


def test_ensure_schema_migrates_new_and_older_databases(tmp_path: Path) -> None:
    """At server start: an empty database is migrated, one at an older revision upgraded,
    one at head left as it is."""
    from alembic.script import ScriptDirectory

    from vangnet.store.migrate import alembic_config, ensure_schema

    older = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD).down_revision
    assert isinstance(older, str)
    for name, start in (("empty", None), ("older", older), ("head", HEAD)):
        url = f"sqlite:///{tmp_path / name}.db"
        if start is not None:
            upgrade(url, start)
        engine = make_engine(url)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()
        assert current_revision(url) == HEAD, name
        assert schema_diff(url) == [], name


def test_fresh_sqlite_has_no_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'fresh.db'}"
    assert current_revision(url) is None
    assert (tmp_path / "nested").is_dir()  # folder created on demand


def test_default_url_is_sqlite_in_home() -> None:
    engine = audited(make_engine(get_settings().effective_database_url))
    try:
        assert engine.dialect.name == "sqlite"
        assert engine.url.database is not None
        assert Path(engine.url.database).parent.is_dir()
        assert Path(engine.url.database).name == "vangnet.db"
    finally:
        engine.dispose()


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = audited(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with session_scope(engine) as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert session.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    finally:
        engine.dispose()


def test_session_scope_rolls_back_on_error(tmp_path: Path) -> None:
    engine = audited(make_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with session_scope(engine) as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError), session_scope(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("boom")
        with session_scope(engine) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        audited(make_engine(url))


def test_postgres_driver_is_psycopg() -> None:
    engine = audited(make_engine("postgresql://postgres@127.0.0.1:5432/postgres"))
    try:
        assert engine.url.drivername == "postgresql+psycopg"
    finally:
        engine.dispose()


def test_upgrade_keeps_existing_banks(tmp_path: Path) -> None:
    """A database made at 0001 with a bank in it gains the live tables; the bank's new
    policy column starts empty."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert upgrade(url, "0001_initial") == "0001_initial"
    engine = audited(make_engine(url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO banks (name, matching_enabled_ratio, category_profile, "
                    "high_confidence, thresholds, created_at, updated_at) VALUES "
                    "('OLD', 1.0, 'none', 0, '{}', '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO api_keys (name, prefix, key_hash, role, created_at) VALUES "
                    "('old-key', 'vn_abcde', 'h1', 'reviewer', '2026-01-01')"
                )
            )
        assert upgrade(url) == HEAD
        with engine.connect() as conn:
            assert conn.execute(text("SELECT policy FROM banks")).scalar() == "{}"
            # 0003 rebuilt api_keys for the analyst role: existing keys survive
            assert conn.execute(text("SELECT name, role FROM api_keys")).one() == (
                "old-key",
                "reviewer",
            )
    finally:
        engine.dispose()
