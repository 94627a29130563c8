"""Settings are read at the entry points only and passed in to everything else.

An AST scan keeps `get_settings` (and `Settings()` built from the environment) out of every
module but the entry points, and the reverse test proves the bug it guards against is gone:
a `Monitor` given settings uses them, whatever the environment says."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from live.streaming import bank_known, wait_for
from vangnet.config import Settings, reset_settings
from vangnet.live.monitor import Monitor
from vangnet.live.samples import pushed_frame_sample
from vangnet.store.models import Alert, Case, WebhookDelivery

SRC = Path(__file__).resolve().parents[2] / "src" / "vangnet"

#: The entry points: the only modules that read the settings in force (environment, config
#: file). Each maps to why it may.
ENTRY_POINTS = {
    "config.py": "defines the registry and `get_settings`",
    "cli/": "the `vangnet` command (and `vangnet demo`, `python -m vangnet`)",
    "api/app.py": "the app factory (`create_app`, `app_from_environment`)",
    "store/migrations/env.py": "run by the `alembic` command itself",
}

#: Not entry points, still reading the global settings: each is owned by another slice of
#: issue 11 and must leave this list, never grow it.
PENDING: dict[str, str] = {}

READERS = {"get_settings", "reset_settings"}


def _allowed(relative: str, table: dict[str, str]) -> bool:
    return any(relative == k or (k.endswith("/") and relative.startswith(k)) for k in table)


def _readers(tree: ast.AST) -> list[tuple[int, str]]:
    """Where a module reads the settings in force: `get_settings` / `reset_settings` by name
    or attribute, or `Settings()` called without arguments (that reads the environment)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in READERS:
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in READERS:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module == "vangnet.config":
            found += [(node.lineno, a.name) for a in node.names if a.name in READERS]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Settings"
            and not node.args
            and not node.keywords
        ):
            found.append((node.lineno, "Settings()"))
    return found


def _scan() -> dict[str, list[tuple[int, str]]]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        found = _readers(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if found:
            out[relative] = found
    return out


def test_only_entry_points_read_the_settings_in_force() -> None:
    offenders = {
        module: found
        for module, found in _scan().items()
        if not _allowed(module, ENTRY_POINTS) and not _allowed(module, PENDING)
    }
    assert offenders == {}, (
        "these modules read the global settings; take a `Settings` (or the values needed) "
        f"as a keyword argument from the entry point instead: {offenders}"
    )


def test_the_allow_lists_are_not_stale() -> None:
    scanned = _scan()
    for table in (ENTRY_POINTS, PENDING):
        for key in table:
            assert any(m == key or (key.endswith("/") and m.startswith(key)) for m in scanned), (
                f"{key} no longer reads the settings: remove it from the allow-list"
            )


def test_the_scan_sees_every_way_of_reading() -> None:
    code = """
from vangnet.config import get_settings
import vangnet.config as c
def f():
    return get_settings().home, c.get_settings(), c.reset_settings(), Settings()
def g():
    return Settings(home="x")  # passed explicitly: fine
"""
    names = sorted(name for _line, name in _readers(ast.parse(code)))
    assert names == [
        "Settings()",
        "get_settings",
        "get_settings",
        "get_settings",
        "reset_settings",
    ]


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_a_monitor_uses_the_settings_it_is_given(
    db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug of issue 11: `Monitor(settings=...)` queued no webhook and filed the case
    under the global grouping. Here the environment says the opposite of what is passed."""
    monkeypatch.setenv("VANGNET_WEBHOOK_URL", "http://127.0.0.1:9/from-the-environment")
    monkeypatch.setenv("VANGNET_REVIEW_GROUP_BY", "account")
    reset_settings()
    passed = Settings(
        webhook_url="http://127.0.0.1:9/passed-in",
        review_group_by="evidence",
        live_min_frames=1,
        live_window=1,
    )
    photo = sorted((shared_data / "photos/bsds500/train").glob("*.jpg"))[0]
    bank_known(db_engine, photo)
    events: list[dict[str, object]] = []
    monitor = Monitor(
        db_engine, settings=passed, on_event=events.append, deliver_webhooks=False
    ).start()
    try:
        stream = monitor.add_stream(None, metadata={"account": "alice"})
        sample = pushed_frame_sample(
            stream, 1.0, time.time(), photo.read_bytes(), max_pixels=passed.live_max_pixels
        )
        monitor.push_sample(stream, sample)
        assert wait_for(lambda: any(e["event"] == "alert" for e in events), 20)
    finally:
        monitor.close(end_streams=True)
    with Session(db_engine) as session:
        alert = session.scalars(select(Alert)).one()
        urls = set(session.scalars(select(WebhookDelivery.url)))
        keys = list(session.scalars(select(Case.key)))
    assert urls == {"http://127.0.0.1:9/passed-in"}  # queued, to the URL passed in
    assert keys == [f"alert:{alert.id}"]  # grouped by evidence item, not by account


def test_the_cli_installs_the_decode_caps_of_its_settings(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decode caps are the process's: the entry point (here the CLI) installs them from
    the settings it read; a library call made without one gets the documented defaults."""
    from cli.test_cli import Run
    from vangnet.media.limits import media_limits
    from vangnet.signals.hashing import hash_file

    photo = shared_data / "threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"
    assert "pdq" in hash_file(photo, settings=Settings())  # the default cap: 50 MP
    monkeypatch.setenv("VANGNET_MAX_IMAGE_PIXELS", "10000")
    (row,) = Run().lines("hash", str(photo), "--json", code=3)
    assert row["error"]["code"] == "media_too_large"
    assert media_limits().max_image_pixels == 10_000
