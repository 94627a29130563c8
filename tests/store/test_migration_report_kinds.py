"""Migration 0014_report_kinds on SQLite and PostgreSQL: reports filed before it keep their
rows; afterwards a plug-in format's name fits in ``kind`` (the application checks it), the
``status`` check still holds, and the downgrade refuses while plug-in reports exist."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from store._old_database import DATABASES, database_at, revision_before
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, current_revision, upgrade

REVISION = "0014_report_kinds"


def _previous() -> str:
    return revision_before(REVISION)


@pytest.fixture(params=DATABASES)
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own at the revision before 0014_report_kinds."""
    with database_at(request.param, _previous(), tmp_path) as url:
        yield url


_reports = sa.table(
    "reports",
    sa.column("id", sa.Integer()),
    sa.column("case_id", sa.Integer()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("remote_id", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("body", sa.Text()),
    sa.column("details", sa.JSON()),
)
AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD_ROWS: list[dict[str, Any]] = [
    {"id": 1, "kind": "ncmec", "status": "submitted", "remote_id": "123456", "body": "<report/>"},
    {"id": 2, "kind": "vics", "status": "built", "remote_id": None, "body": None},
    {"id": 3, "kind": "html", "status": "built", "remote_id": None, "body": None},
    {"id": 4, "kind": "pdf", "status": "built", "remote_id": None, "body": None},
    {"id": 5, "kind": "ncmec", "status": "failed", "remote_id": "654321", "body": "<report/>"},
]
PLUG_IN = "a-plug-in-format-with-a-long-name_of-48-chars-xx"  # longer than the old 8


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {"case_id": None, "actor": "alice", "at": AT, "details": {"sha256": "ab"}, **row}


def _rows(engine: sa.Engine) -> list[tuple[int, str, str, str | None, str | None]]:
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(
                _reports.c.id, _reports.c.kind, _reports.c.status, _reports.c.remote_id,
                _reports.c.body,
            ).order_by(_reports.c.id)
        )  # fmt: skip
        return [(int(i), str(k), str(s), r, b) for i, k, s, r, b in got]


def _insert(engine: sa.Engine, **row: Any) -> None:
    with engine.begin() as conn:
        conn.execute(_reports.insert(), [_row(row)])


def test_upgrade_keeps_reports_and_takes_plug_in_kinds(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            conn.execute(_reports.insert(), [_row(r) for r in OLD_ROWS])
        before = _rows(engine)
        with pytest.raises(IntegrityError):  # the old schema refuses another kind
            _insert(engine, id=9, kind="testcsv", status="built")

        assert upgrade(old_url, REVISION) == REVISION
        assert current_revision(old_url) == REVISION
        assert _rows(engine) == before  # every old report kept as it was
        assert len(PLUG_IN) == 48
        _insert(engine, id=6, kind=PLUG_IN, status="built")
        assert _rows(engine)[-1] == (6, PLUG_IN, "built", None, None)
        with pytest.raises(IntegrityError):  # the status check stays
            _insert(engine, id=7, kind="testcsv", status="posted")
        assert [r[0] for r in _rows(engine)] == [1, 2, 3, 4, 5, 6]
    finally:
        engine.dispose()


def test_downgrade_refuses_while_plug_in_reports_exist(old_url: str) -> None:
    engine = make_engine(old_url)
    try:
        with engine.begin() as conn:
            conn.execute(_reports.insert(), [_row(r) for r in OLD_ROWS])
        upgrade(old_url, REVISION)
        _insert(engine, id=6, kind="testcsv", status="built")
        refused = pytest.raises(RuntimeError, match=r"1 of 'testcsv'.*nothing was changed")
        with refused, engine.begin() as conn:
            command.downgrade(alembic_config(conn), _previous())
        assert current_revision(old_url) == REVISION
        assert len(_rows(engine)) == 6

        with engine.begin() as conn:
            conn.execute(_reports.delete().where(_reports.c.kind == "testcsv"))
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), _previous())
        assert current_revision(old_url) == _previous()
        assert [r[1] for r in _rows(engine)] == ["ncmec", "vics", "html", "pdf", "ncmec"]
        with pytest.raises(IntegrityError):  # the kind check is back
            _insert(engine, id=8, kind="testcsv", status="built")
    finally:
        engine.dispose()
