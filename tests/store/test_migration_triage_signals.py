"""Migration 0015_triage_signals on SQLite and PostgreSQL: a database with triage items is
upgraded with its items kept (they have no signal rows); afterwards an item keeps a plug-in's
hash as a `TriageSignal` row (one per item and type, removed with its item), the schema is the
models', and the downgrade drops the table and nothing else. Cases and items are written and
read in SQL (the models' later columns are not in a database at this revision)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, schema_diff, upgrade
from vangnet.store.models import TriageSignal

REVISION = "0015_triage_signals"


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0015_triage_signals."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


CASE = sa.text(
    "INSERT INTO cases (key, kind, title, status, subject, created_at, updated_at,"
    " last_signal_at) VALUES (:key, 'investigation', :title, 'open', '{}', :now, :now, :now)"
)
ITEM = sa.text(
    "INSERT INTO triage_items (case_id, key, source, chain, name, size, times, deleted, kind,"
    " status, md5, pdq, item_metadata, findings, matches, created_at) VALUES (:case, :key,"
    " '/seized', :chain, :name, 100, '{}', false, 'photo', 'ok', :md5, :pdq, '{}', '{}', '[]',"
    " :now)"
)
NOW = "2026-12-07 10:00:00"


def _case(conn: sa.Connection, key: str, title: str) -> int:
    conn.execute(CASE, {"key": key, "title": title, "now": NOW})
    found: int = conn.execute(
        sa.text("SELECT id FROM cases WHERE key = :key"), {"key": key}
    ).scalar_one()
    return found


def _item(conn: sa.Connection, case_id: int, key: str) -> int:
    chain = f'["/seized", "/seized/{key}.jpg"]'
    conn.execute(
        ITEM,
        {
            "case": case_id,
            "key": key,
            "chain": chain,
            "name": f"{key}.jpg",
            "md5": "0" * 32,
            "pdq": "f" * 64,
            "now": NOW,
        },
    )
    found: int = conn.execute(
        sa.text("SELECT id FROM triage_items WHERE key = :key"), {"key": key}
    ).scalar_one()
    return found


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_keeps_items_then_holds_plugin_hashes(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        assert "triage_signals" not in _tables(engine)
        with engine.begin() as conn:
            case_id = _case(conn, "investigation:1", "seized phone")
            _item(conn, case_id, "a")
            _item(conn, case_id, "b")

        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        made = [d for d in schema_diff(old_url) if "triage_signals" in repr(d)]
        assert made == []  # the table is the models' (later revisions may change others)
        with engine.connect() as conn:
            items = conn.execute(select_items(case_id)).all()
        assert [(i.name, i.pdq) for i in items] == [("a.jpg", "f" * 64), ("b.jpg", "f" * 64)]
        with Session(engine) as s:
            assert s.scalars(sa.select(TriageSignal)).all() == []  # nothing made up
            s.add(TriageSignal(item_id=items[0].id, signal_type="test_ahash64", value="0f" * 8))
            s.commit()
            s.add(TriageSignal(item_id=items[0].id, signal_type="test_ahash64", value="f0" * 8))
            with pytest.raises(IntegrityError):  # one row per item and type
                s.commit()
            s.rollback()
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM triage_items WHERE id = :id"), {"id": items[0].id})
        with Session(engine) as s:
            assert s.scalars(sa.select(TriageSignal)).all() == []  # gone with its item
    finally:
        engine.dispose()


def test_downgrade_drops_the_table_only(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        upgrade(old_url, REVISION)
        with engine.begin() as conn:
            item_id = _item(conn, _case(conn, "investigation:2", "laptop"), "c")
        with Session(engine) as s:
            s.add(TriageSignal(item_id=item_id, signal_type="test_ahash64", value="0f" * 8))
            s.commit()
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision_before(REVISION))
        assert current_revision(old_url) == revision_before(REVISION)
        assert "triage_signals" not in _tables(engine)
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT name FROM triage_items")).scalars().all()
        assert names == ["c.jpg"]
    finally:
        engine.dispose()


def select_items(case_id: int) -> sa.TextClause:
    return sa.text(
        f"SELECT id, name, pdq FROM triage_items WHERE case_id = {int(case_id)} ORDER BY name"
    )
