"""Migration 0013_vpdq on SQLite and PostgreSQL: a bank made when ``vpdq`` held bar-cropped
frames is upgraded with data in it; its values become ``vpdq_cropped``, running indexes
follow through the change log, matching still finds the video, and `vangnet bank rehash`
gives the content the standard ``vpdq`` (Meta's), which exports then carry."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from conftest import drop_pg_database, new_pg_database, settle_sqlite
from store._old_database import database_at
from vangnet.banks.changes import changes_since
from vangnet.banks.contents import get_content, replace_signals
from vangnet.cli import app
from vangnet.config import get_settings, reset_settings
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.signals.hashing import hash_file, signal_values
from vangnet.signals.pdq import pdq_distance
from vangnet.signals.vpdq import parse
from vangnet.store.db import make_engine
from vangnet.store.migrate import alembic_config, upgrade
from vangnet.store.models import AuditEntry, signal_key

VIDEO = "threatexchange/video/sample-videos/test-padded-dimensions.mp4"
OTHER = "threatexchange/video/sample-videos/pattern-sd-grey-bar.mp4"
REFERENCE = "threatexchange/video/vpdq-hashes/test-padded-dimensions.txt"


def _previous() -> str:
    """The revision before 0013_vpdq (whatever the migrations are chained to)."""
    script = ScriptDirectory.from_config(alembic_config())
    down = script.get_revision("0013_vpdq").down_revision
    assert isinstance(down, str)
    return down


@pytest.fixture(scope="module")
def _old_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database at the revision before 0013_vpdq, migrated once per module."""
    path = tmp_path_factory.mktemp("before-0013") / "old.db"
    upgrade(f"sqlite:///{path}", _previous())
    settle_sqlite(path)
    return path


@pytest.fixture(scope="module")
def _old_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same on PostgreSQL (each test gets a database made from it as a template)."""
    with database_at("postgresql", _previous(), tmp_path_factory.mktemp("pg")) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own at the revision before 0013_vpdq."""
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        shutil.copyfile(request.getfixturevalue("_old_sqlite"), path)
        path.chmod(0o600)
        yield f"sqlite:///{path}"
        return
    url = new_pg_database(template=request.getfixturevalue("_old_pg"))
    try:
        yield url
    finally:
        drop_pg_database(url)


_banks = sa.table(
    "banks",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("matching_enabled_ratio", sa.Float()),
    sa.column("category_profile", sa.String()),
    sa.column("high_confidence", sa.Boolean()),
    sa.column("thresholds", sa.JSON()),
    sa.column("policy", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_content = sa.table(
    "bank_content",
    sa.column("id", sa.Integer()),
    sa.column("bank_id", sa.Integer()),
    sa.column("category_profile", sa.String()),
    sa.column("enabled", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_signals = sa.table(
    "content_signals",
    sa.column("id", sa.Integer()),
    sa.column("content_id", sa.Integer()),
    sa.column("bank_id", sa.Integer()),
    sa.column("signal_type", sa.String()),
    sa.column("value", sa.Text()),
    sa.column("value_key", sa.String()),
)
_changes = sa.table(
    "index_changes",
    sa.column("seq", sa.Integer()),
    sa.column("signal_type", sa.String()),
    sa.column("signal_id", sa.Integer()),
    sa.column("bank_id", sa.Integer()),
    sa.column("op", sa.String()),
    sa.column("value", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
OLD_RULES = {"threshold": 20, "quality_floor": 40, "query_match_pct": 60.0}


@cache
def _bank_values(path: Path) -> dict[str, str]:
    return signal_values(hash_file(path, settings=get_settings(), for_bank=True))


def _old_bank(engine: sa.Engine, shared_data: Path) -> dict[str, dict[str, str]]:
    """What the previous version stored for `vangnet bank add VIDEO` (its ``vpdq`` was the
    cropped frames) and for a disabled second video; returns the signals by content."""
    now = datetime.now(UTC)
    videos = {1: shared_data / VIDEO, 2: shared_data / OTHER}
    stored: dict[int, dict[str, str]] = {}
    for content_id, path in videos.items():
        values = _bank_values(path)
        old = {k: v for k, v in values.items() if k in ("md5", "sha1", "sha256")}
        old["vpdq"] = values["vpdq_cropped"]  # the old meaning of the name
        stored[content_id] = old
    with engine.begin() as conn:
        conn.execute(
            _banks.insert(),
            [
                {
                    "id": 1,
                    "name": "OLD",
                    "matching_enabled_ratio": 1.0,
                    "category_profile": "none",
                    "high_confidence": False,
                    "thresholds": {"pdq": {"threshold": 31}, "vpdq": OLD_RULES},
                    "policy": {},
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        for content_id, values in stored.items():
            conn.execute(
                _content.insert(),
                [
                    {
                        "id": content_id,
                        "bank_id": 1,
                        "category_profile": "none",
                        "enabled": content_id == 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                ],
            )
            for signal_type, value in values.items():
                conn.execute(
                    _signals.insert(),
                    [
                        {
                            "content_id": content_id,
                            "bank_id": 1,
                            "signal_type": signal_type,
                            "value": value,
                            "value_key": signal_key(value),
                        }
                    ],
                )
        conn.execute(  # the change log as the previous version wrote it: the enabled one
            sa.insert(_changes).from_select(
                ["signal_type", "signal_id", "bank_id", "op", "value", "created_at"],
                sa.select(
                    _signals.c.signal_type,
                    _signals.c.id,
                    _signals.c.bank_id,
                    sa.literal("add"),
                    _signals.c.value,
                    sa.literal(now, sa.DateTime(timezone=True)),
                ).where(_signals.c.content_id == 1),
            )
        )
    return {str(k): v for k, v in stored.items()}


def _types(engine: sa.Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_signals.c.content_id, _signals.c.signal_type)
            .where(_signals.c.signal_type.like("vpdq%"))
            .order_by(_signals.c.content_id, _signals.c.signal_type)
        )
        return [(int(c), str(t)) for c, t in rows]


def _thresholds(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        raw = conn.execute(sa.select(_banks.c.thresholds)).scalar_one()
    return dict(json.loads(raw) if isinstance(raw, str) else raw)


def test_upgrade_renames_cropped_values_and_indexes_follow(old_url: str, shared_data: Path) -> None:
    engine = make_engine(old_url)
    try:
        stored = _old_bank(engine, shared_data)
        running = SignalIndexes(engine)  # a server that keeps running across the upgrade
        running.load()
        assert len(running.indexes["vpdq"]) == 1
        assert len(running.indexes["vpdq_cropped"]) == 0

        assert upgrade(old_url) is not None
        assert _types(engine) == [(1, "vpdq_cropped"), (2, "vpdq_cropped")]
        thresholds = _thresholds(engine)
        assert thresholds["vpdq_cropped"] == thresholds["vpdq"] == OLD_RULES
        with Session(engine) as s:
            signals = dict(get_content(s, 1).signals)
            assert signals == {
                ("vpdq_cropped" if k == "vpdq" else k): v for k, v in stored["1"].items()
            }
            logged = changes_since(s, 0)
        moved = [(c.op.value, c.signal_type) for c in logged if c.signal_type.startswith("vpdq")]
        # the old add, then the move: removes under vpdq (both), an add for the enabled one
        assert moved == [
            ("add", "vpdq"),
            ("remove", "vpdq"),
            ("remove", "vpdq"),
            ("add", "vpdq_cropped"),
        ]

        assert running.refresh() == 3
        assert len(running.indexes["vpdq"]) == 0
        assert len(running.indexes["vpdq_cropped"]) == 1
        fresh = SignalIndexes(engine)
        fresh.load()
        assert {n: len(fresh.indexes[n]) for n in ("vpdq", "vpdq_cropped")} == {
            "vpdq": 0,
            "vpdq_cropped": 1,
        }
        query = hash_file(shared_data / VIDEO, settings=get_settings())
        with Session(engine) as s:
            for indexes in (running, fresh):
                found = Matcher(indexes).match_hashed(s, query)
                assert [(m.bank, m.content_id, m.signal_type) for m in found] == [
                    ("OLD", 1, kind) for kind in ("md5", "sha1", "sha256", "vpdq_cropped")
                ]
    finally:
        engine.dispose()


def test_downgrade_restores_the_old_names(old_url: str, shared_data: Path) -> None:
    engine = make_engine(old_url)
    try:
        _old_bank(engine, shared_data)
        upgrade(old_url)
        with Session(engine) as s:  # a standard vpdq added after the upgrade (a rehash)
            values = _bank_values(shared_data / VIDEO)
            replace_signals(s, 1, signals={"vpdq": values["vpdq"]}, types=["vpdq"], bank="OLD")
            s.commit()
        assert _types(engine) == [(1, "vpdq"), (1, "vpdq_cropped"), (2, "vpdq_cropped")]
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), _previous())
        assert _types(engine) == [(1, "vpdq"), (2, "vpdq")]
        assert "vpdq_cropped" not in _thresholds(engine)
    finally:
        engine.dispose()


def _cli(*args: str, code: int = 0) -> list[dict[str, Any]]:
    reset_settings()
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_rehash_after_upgrade_gives_the_standard_vpdq(
    old_url: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`vangnet bank rehash` (audited) after the upgrade: the content with the file's
    digest gets Meta's vPDQ as ``vpdq`` and keeps the cropped frames as ``vpdq_cropped``;
    the HMA CSV and VICS exports carry the standard frames."""
    engine = make_engine(old_url)
    try:
        _old_bank(engine, shared_data)
        upgrade(old_url)
        monkeypatch.setenv("VANGNET_DATABASE_URL", old_url)
        running = SignalIndexes(engine)
        running.load()

        out = _cli("bank", "rehash", "OLD", str(shared_data / VIDEO), "--json")
        assert out == [
            {
                "path": str(shared_data / VIDEO),
                "content_ids": [1],
                "signals": ["vpdq", "vpdq_cropped", "vpdq_regions"],
            }
        ]
        after = [(1, "vpdq"), (1, "vpdq_cropped"), (1, "vpdq_regions"), (2, "vpdq_cropped")]
        assert _types(engine) == after
        with Session(engine) as s:
            audit = [(e.action, e.target) for e in s.scalars(sa.select(AuditEntry))]
        assert ("bank.rehash", "bank:OLD") in audit
        running.refresh()
        assert {n: len(running.indexes[n]) for n in ("vpdq", "vpdq_cropped")} == {
            "vpdq": 1,
            "vpdq_cropped": 1,
        }

        ref = {
            int(n): h
            for n, _q, h, _t in (
                line.split(",") for line in (shared_data / REFERENCE).read_text().split()
            )
        }
        csv_file = tmp_path / "old.csv"
        _cli("bank", "export", "OLD", "-f", "hma-csv", "-o", str(csv_file))
        rows = [line.split(",", 1) for line in csv_file.read_text().splitlines()[1:]]
        exported = {kind for kind, _ in rows}
        assert {"vpdq", "vpdq_cropped"} <= exported
        vics_file = tmp_path / "old.json"
        _cli("bank", "export", "OLD", "-f", "vics2", "-o", str(vics_file))
        media = json.loads(vics_file.read_text())["value"]
        alternatives = {
            a["HashName"]: a["HashValue"] for m in media for a in m.get("AlternativeHashes", [])
        }

        def distances(value: str) -> list[int]:
            """Each frame's distance from Meta's hash of the frame at its timestamp (the
            value keeps three significant digits of the time: the nearest frame)."""
            frames = parse(value)
            assert len(frames) >= 4
            nearest = [min(ref, key=lambda n, t=f.timestamp: abs(n / 30 - t)) for f in frames]
            return [pdq_distance(f.pdq, ref[n]) for f, n in zip(frames, nearest, strict=True)]

        standard = distances(alternatives["VPDQ"])
        assert sum(d <= 31 for d in standard) / len(standard) >= 0.9
        assert min(distances(alternatives["VPDQ_CROPPED"])) > 31

        # a file that is not a video, and a video the bank does not hold: nothing changes
        photo = next((shared_data / "photos").rglob("*.jpg"))
        out = _cli("bank", "rehash", "OLD", str(photo), "--json", code=3)
        assert out[0]["error"]["code"] == "not_video"
        other = shared_data / "threatexchange/video/sample-videos/pattern-hd-no-bar.mp4"
        out = _cli("bank", "rehash", "OLD", str(other), "--json", code=4)
        assert out[0]["error"]["code"] == "not_found"
        _cli("bank", "rehash", "NO_SUCH_BANK", str(other), code=4)
        assert _types(engine) == after
    finally:
        engine.dispose()
