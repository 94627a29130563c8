"""Audit checkpoints survive a power loss, and never name an entry that did not: the commit
that holds the checkpointed entry is made durable first (SQLite: its ``-wal`` file fsynced;
PostgreSQL flushes its WAL at commit), then the checkpoint line is written and fsynced, and a
new checkpoint file's folder is fsynced so the file itself stays.

What the operating system is asked to sync is observed (os.fsync is wrapped, still called);
the power loss itself is not simulated. Through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from security._audit import Cli
from vangnet.config import reset_settings


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return Cli()


def test_checkpoint_is_fsynced_after_the_commit_it_names_is_durable(
    cli: Cli, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "anchor" / "checkpoints.jsonl"
    monkeypatch.setenv("VANGNET_AUDIT_CHECKPOINT_FILE", str(file))
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    cli("bank", "create", "FIRST")  # the database and its WAL exist from here on
    file.unlink()
    monkeypatch.setattr(os, "fsync", fsync)

    cli("bank", "create", "DURABLE")
    assert file.read_text().count("\n") >= 1
    assert str(file) in synced, synced
    at = synced.index(str(file))
    if db_url.startswith("sqlite"):
        wal = [i for i, path in enumerate(synced) if path.endswith("-wal")]
        assert wal and wal[0] < at, synced  # the commit first, then the line naming it
    assert str(file.parent) in synced[at:], synced  # a new file: its folder entry too

    synced.clear()
    cli("bank", "create", "AGAIN")
    assert str(file) in synced and str(file.parent) not in synced, synced
    cli("audit", "verify")
