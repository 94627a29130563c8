"""Helpers for the live no-loss and falling-behind tests (issue 10, findings 1 and 15)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import audited
from vangnet.banks.bank import create_bank
from vangnet.banks.contents import add_content
from vangnet.store.db import make_engine, writer
from vangnet.store.models import (
    Alert,
    BankContent,
    BankImport,
    BankImportRow,
    ContentSignal,
    ImportState,
)
from vangnet.store.visibility import unpublished

VENV_BIN = Path(sys.executable).parent
#: A banked PDQ (quality is sent as 100 with it).
KNOWN_PDQ = "f" * 16 + "0" * 16 + "a5" * 8 + "3c" * 8


def poll(check: Callable[[], bool], timeout: float) -> bool:
    """True as soon as ``check()`` is; False after ``timeout`` seconds (a bound)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def bank_known(db_url: str, name: str = "KNOWN") -> int:
    """A high-confidence bank (one matching sample alerts) holding `KNOWN_PDQ`."""
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as s:
            create_bank(s, name=name, high_confidence=True)
            content_id = add_content(s, bank=name, signals={"pdq": KNOWN_PDQ})
            s.commit()
    finally:
        engine.dispose()
    return content_id


def pdq_list(path: Path, count: int, *, seed: int = 10) -> Path:
    """A plain list of ``count`` random PDQ hashes (none near `KNOWN_PDQ`)."""
    rng = random.Random(seed)
    with path.open("w") as out:
        out.write("# signal_type: pdq\n")
        for _ in range(count):
            out.write(f"{rng.getrandbits(256):064x}\n")
    return path


def alerts_in_db(db_url: str, stream_id: int) -> int:
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            return int(s.scalar(select(func.count()).where(Alert.stream_id == stream_id)) or 0)
    finally:
        engine.dispose()


def unpublished_rows(db_url: str) -> int:
    """Signals written by imports that are not published yet (invisible to readers)."""
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            return int(
                s.scalar(select(func.count()).where(unpublished(ContentSignal.import_id))) or 0
            )
    finally:
        engine.dispose()


def leftover_rows(db_url: str) -> int:
    """Rows an import leaves behind until it is published or cleaned up: its signals and
    content while unpublished, its kept-aside rows, its ``bank_imports`` row unless published."""
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return sum(
                int(s.scalar(query) or 0)
                for query in (
                    select(func.count()).where(unpublished(ContentSignal.import_id)),
                    select(func.count()).where(unpublished(BankContent.import_id)),
                    select(func.count()).select_from(BankImportRow),
                    select(func.count()).where(BankImport.state != ImportState.PUBLISHED.value),
                )
            )
    finally:
        engine.dispose()


@contextmanager
def alert_writes_blocked(db_url: str) -> Iterator[None]:
    """Hold a lock that alert writes need: the write lock on SQLite (BEGIN IMMEDIATE), an
    ACCESS EXCLUSIVE lock on ``alerts`` on PostgreSQL (another transaction, as a long
    import or a stuck writer would)."""
    engine = audited(make_engine(db_url))
    try:
        with writer(engine).connect() as conn:
            conn.begin()
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE alerts IN ACCESS EXCLUSIVE MODE")
            else:
                conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS held (x INTEGER)")
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


def cli_env(db_url: str, home: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update(VANGNET_HOME=str(home), VANGNET_DATABASE_URL=db_url)
    # the streams, servers and receivers of these tests are on loopback (egress policy)
    env["VANGNET_EGRESS_ALLOW"] = '["loopback"]'
    env.update({f"VANGNET_{k.upper()}": v for k, v in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``vangnet serve`` on a free loopback port: (base URL, process); killed (SIGKILL) at
    the end if still alive."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(VENV_BIN / "vangnet"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/status", timeout=1).text == "I-AM-ALIVE"
            except httpx.TransportError:
                return False

        assert poll(up, 60), "server did not start"
        yield base, process
    finally:
        try:
            workers = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:  # killed by the test already
            workers = []
        process.kill()
        process.wait(timeout=30)
        # the server's worker processes die with it, also after kill -9 (no orphans serving on)
        _gone, alive = psutil.wait_procs(workers, timeout=10)
        for orphan in alive:
            orphan.kill()
    assert not alive, f"server workers outlived kill -9 of vangnet serve: {alive}"


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
