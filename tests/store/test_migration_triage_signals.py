"""Migration 0015_triage_signals on SQLite and PostgreSQL: a database with triage items is
upgraded with its items kept (they have no signal rows); afterwards an item keeps a plug-in's
hash as a `TriageSignal` row (one per item and type, removed with its item), the schema is the
models', and the downgrade drops the table and nothing else."""

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
from vangnet.store.models import Case, TriageItem, TriageSignal

REVISION = "0015_triage_signals"


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own at the revision before 0015_triage_signals."""
    with database_at(request.param, revision_before(REVISION), tmp_path) as url:
        yield url


def _item(case_id: int, key: str) -> TriageItem:
    return TriageItem(
        case_id=case_id,
        key=key,
        source="/seized",
        chain=["/seized", f"/seized/{key}.jpg"],
        name=f"{key}.jpg",
        size=100,
        kind="photo",
        md5="0" * 32,
        pdq="f" * 64,
    )


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_keeps_items_then_holds_plugin_hashes(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        assert "triage_signals" not in _tables(engine)
        with Session(engine) as s:
            case = Case(key="investigation:1", kind="investigation", title="seized phone")
            s.add(case)
            s.flush()
            s.add_all([_item(case.id, "a"), _item(case.id, "b")])
            s.commit()
            case_id = case.id

        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        made = [d for d in schema_diff(old_url) if "triage_signals" in repr(d)]
        assert made == []  # the table is the models' (later revisions may change others)
        with Session(engine) as s:
            items = s.scalars(select_items(case_id)).all()
            assert [(i.name, i.pdq) for i in items] == [("a.jpg", "f" * 64), ("b.jpg", "f" * 64)]
            assert s.scalars(sa.select(TriageSignal)).all() == []  # nothing made up
            s.add(TriageSignal(item_id=items[0].id, signal_type="test_ahash64", value="0f" * 8))
            s.commit()
            s.add(TriageSignal(item_id=items[0].id, signal_type="test_ahash64", value="f0" * 8))
            with pytest.raises(IntegrityError):  # one row per item and type
                s.commit()
            s.rollback()
            s.delete(items[0])
            s.commit()
            assert s.scalars(sa.select(TriageSignal)).all() == []  # gone with its item
    finally:
        engine.dispose()


def test_downgrade_drops_the_table_only(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        upgrade(old_url, REVISION)
        with Session(engine) as s:
            case = Case(key="investigation:2", kind="investigation", title="laptop")
            s.add(case)
            s.flush()
            item = _item(case.id, "c")
            s.add(item)
            s.flush()
            s.add(TriageSignal(item_id=item.id, signal_type="test_ahash64", value="0f" * 8))
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


def select_items(case_id: int) -> sa.Select[tuple[TriageItem]]:
    return sa.select(TriageItem).where(TriageItem.case_id == case_id).order_by(TriageItem.name)
