"""Issue 10, finding 1: a bulk write publishes in one tiny transaction, whatever its size.

An import (``vangnet bank import``, ``POST /v1/banks/NAME/hashes``) writes its content and
signals in short transactions, marked with its import id; every reader ignores them until one
transaction publishes the import. These tests stop an import between two of its chunks (its
records come from a generator that waits) and look at the bank through the doors a user
has (API, OpenMediaMatch routes, CLI) and through the index follower:

- nothing of it is visible before it publishes, all of it at once after;
- a value added by hand, or by another import, while it runs ends up once, and is not lost
  if the import then fails;
- deleting or disabling the bank during the import does what it says.

On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from vangnet.banks.bank import bank_stats, create_bank
from vangnet.banks.changes import last_change_seq
from vangnet.banks.contents import add_content, find_content_by_signal
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.imports import import_staged
from vangnet.banks.views import ImportResult
from vangnet.errors import ImportFormatError, NotFoundError
from vangnet.match.indexes import SignalIndexes
from vangnet.store.db import make_engine, writer
from vangnet.store.models import BankContent, ContentSignal, signal_key

from ._live import VENV_BIN, cli_env, leftover_rows, poll, unpublished_rows

CHUNK = 100


def value(i: int) -> str:
    """The ``i``-th PDQ hash of these tests (random-looking: far apart from each other)."""
    return hashlib.sha256(f"publish-{i}".encode()).hexdigest()


def records(start: int, stop: int) -> list[BankRecord]:
    return [BankRecord("pdq", value(i)) for i in range(start, stop)]


@dataclass
class Paused:
    """An import running in a thread whose records stop after ``after`` of them (its
    earlier chunks written, unpublished) until `resume`."""

    reached: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)
    result: ImportResult | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def feed(
        self, items: Iterable[BankRecord], after: int, fail: bool = False
    ) -> Iterator[BankRecord]:
        items = list(items)
        for i, item in enumerate(items):
            if i == after:
                self.pause()
            yield item
        if after >= len(items):
            self.pause()
        if fail:
            raise ImportFormatError("bad value", line=999)

    def pause(self) -> None:
        self.reached.set()
        assert self.go.wait(120)

    def start(
        self, engine: Engine, bank: str, items: list[BankRecord], after: int, fail: bool = False
    ) -> Paused:
        def run() -> None:
            try:
                self.result = import_staged(
                    engine, bank=bank, records=self.feed(items, after, fail), chunk=CHUNK
                )
            except BaseException as error:
                self.error = error

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert self.reached.wait(120), "the import never reached its pause"
        return self

    def resume(self) -> None:
        self.go.set()
        assert self.thread is not None
        self.thread.join(timeout=300)
        assert not self.thread.is_alive()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    yield e
    e.dispose()


def make_bank(engine: Engine, name: str = "B", enabled: bool = True) -> None:
    with Session(writer(engine)) as s:
        create_bank(s, name=name, matching_enabled_ratio=1.0 if enabled else 0.0)
        s.commit()


def stats(engine: Engine, bank: str = "B") -> tuple[int, int]:
    with Session(engine) as s:
        found = bank_stats(s, bank)
        return int(found["content"]), int(found["signals"])


def raw(engine: Engine) -> tuple[int, int]:
    """Every content and signal row, visible or not."""
    with Session(engine) as s:
        content = s.scalar(select(func.count()).select_from(BankContent))
        signals = s.scalar(select(func.count()).select_from(ContentSignal))
        return int(content or 0), int(signals or 0)


def copies(engine: Engine, i: int) -> int:
    with Session(engine) as s:
        key = signal_key(value(i))
        return int(s.scalar(select(func.count()).where(ContentSignal.value_key == key)) or 0)


def indexed(indexes: SignalIndexes) -> int:
    indexes.refresh()
    return len(indexes.indexes["pdq"]) if "pdq" in indexes.indexes else 0


def bank_lookup(client: object, i: int) -> list[str]:
    r = client.post("/v1/lookup", json={"signal_type": "pdq", "value": value(i)})  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return [m["bank"] for m in r.json()["matches"]]


# -- nothing before it publishes, everything at once after --------------------------------------


def test_readers_never_see_a_half_published_import(
    make_client: AppFactory, db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_bank(engine)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    follower = SignalIndexes(engine)
    follower.load()
    paused = Paused().start(engine, "B", records(0, 500), after=300)
    try:
        assert unpublished_rows(db_url) == 300  # three chunks written...
        assert stats(engine) == (0, 0)  # ...and invisible to every reader:
        r = client.get("/v1/banks/B")
        assert r.status_code == 200 and r.json()["stats"]["content"] == 0
        assert client.get("/v1/banks/B/content").json()["items"] == []
        client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
        assert bank_lookup(client, 0) == []
        with Session(engine) as s:
            pending_id = s.scalar(select(func.min(BankContent.id)))
        r = client.get(f"/c/bank/B/content/{pending_id}")
        assert r.status_code == 404, r.text
        r = client.delete(f"/v1/banks/B/content/{pending_id}")
        assert r.status_code == 404, r.text
        exported = subprocess.run(
            [str(VENV_BIN / "vangnet"), "bank", "export", "B", "--format", "plain"],
            env=cli_env(db_url, tmp_path / "home"),
            capture_output=True,
            text=True,
        )
        assert exported.returncode == 0, exported.stderr
        assert value(0) not in exported.stdout
        assert indexed(follower) == 0
        with Session(engine) as s:
            assert last_change_seq(s) == 0
    finally:
        paused.resume()
    assert paused.error is None, paused.error
    assert paused.result == ImportResult(added=500, skipped_existing=0, total=500)
    assert stats(engine) == raw(engine) == (500, 500)
    with Session(engine) as s:
        assert last_change_seq(s) == 1  # one change-log entry for the whole import
    assert indexed(follower) == 500  # the follower reads the import behind it
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
    assert bank_lookup(client, 0) == ["B"] and bank_lookup(client, 499) == ["B"]
    assert leftover_rows(db_url) == 0


# -- the uniqueness rule ------------------------------------------------------------------------


def test_a_value_added_by_hand_during_an_import_ends_up_once(
    make_client: AppFactory, db_url: str, engine: Engine
) -> None:
    make_bank(engine)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    paused = Paused().start(engine, "B", records(0, 300), after=200)
    try:
        # value 5 and 7 are written by the import (unpublished): the hand adds take them
        r = client.post("/c/bank/B/signal", json={"pdq": value(5)})  # OpenMediaMatch
        assert r.status_code == 200, r.text
        by_hand = r.json()["id"]
        r = client.post(
            "/v1/banks/B/hashes", json={"items": [{"signal_type": "pdq", "value": value(7)}]}
        )
        assert r.status_code == 200, r.text
        (batch_id,) = r.json()["content_ids"]
        assert stats(engine) == (2, 2)  # visible at once, the import still not
        r = client.post("/c/bank/B/signal", json={"pdq": value(5)})  # idempotent
        assert r.json()["id"] == by_hand
    finally:
        paused.resume()
    assert paused.error is None, paused.error
    assert paused.result == ImportResult(added=298, skipped_existing=2, total=300)
    assert stats(engine) == raw(engine) == (300, 300)  # no item left without its value
    assert copies(engine, 5) == copies(engine, 7) == copies(engine, 0) == 1
    with Session(engine) as s:
        assert [c.id for c in find_content_by_signal(s, "pdq", value(5))] == [by_hand]
        assert [c.id for c in find_content_by_signal(s, "pdq", value(7))] == [batch_id]
    assert leftover_rows(db_url) == 0


def test_the_same_values_imported_concurrently_end_up_once(db_url: str, engine: Engine) -> None:
    make_bank(engine)
    follower = SignalIndexes(engine)
    follower.load()
    first = Paused().start(engine, "B", records(0, 300), after=100)  # 0..99 written
    try:
        second = import_staged(engine, bank="B", records=records(50, 250), chunk=CHUNK)
        # 50..99 were the first import's, unpublished: the second publishes first and takes them
        assert second == ImportResult(added=200, skipped_existing=0, total=200)
        assert stats(engine) == (200, 200)
    finally:
        first.resume()
    assert first.error is None, first.error
    assert first.result == ImportResult(added=100, skipped_existing=200, total=300)
    assert stats(engine) == raw(engine) == (300, 300)
    assert all(copies(engine, i) == 1 for i in (0, 49, 50, 99, 100, 249, 250, 299))
    assert indexed(follower) == 300
    assert leftover_rows(db_url) == 0


def test_a_failed_import_loses_no_value_another_writer_added(db_url: str, engine: Engine) -> None:
    make_bank(engine)
    failing = Paused().start(engine, "B", records(0, 200), after=200, fail=True)
    try:
        other = import_staged(engine, bank="B", records=records(150, 250), chunk=CHUNK)
        assert other.added == 100
        with Session(writer(engine)) as s:
            add_content(s, bank="B", signals={"pdq": value(10)})
            s.commit()
    finally:
        failing.resume()
    assert isinstance(failing.error, ImportFormatError)
    assert stats(engine) == raw(engine) == (101, 101)  # the others' values, nothing of it
    assert copies(engine, 10) == copies(engine, 150) == 1 and copies(engine, 0) == 0
    assert leftover_rows(db_url) == 0


# -- the bank changes during the import -----------------------------------------------------


def test_bank_deleted_during_an_import(
    make_client: AppFactory, db_url: str, engine: Engine
) -> None:
    make_bank(engine)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    paused = Paused().start(engine, "B", records(0, 300), after=200)
    try:
        r = client.delete("/v1/banks/B")
        assert r.status_code == 200, r.text
    finally:
        paused.resume()
    assert isinstance(paused.error, NotFoundError)
    assert raw(engine) == (0, 0)
    assert leftover_rows(db_url) == 0
    # a bank made again with the name starts empty, and imports work
    make_bank(engine)
    assert import_staged(engine, bank="B", records=records(0, 10), chunk=CHUNK).added == 10


def test_bank_disabled_during_an_import_and_enabled_after(
    make_client: AppFactory, db_url: str, engine: Engine
) -> None:
    make_bank(engine)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    follower = SignalIndexes(engine)
    follower.load()
    paused = Paused().start(engine, "B", records(0, 300), after=200)
    try:
        r = client.patch("/v1/banks/B", json={"matching_enabled_ratio": 0})
        assert r.status_code == 200, r.text
    finally:
        paused.resume()
    assert paused.error is None and paused.result is not None and paused.result.added == 300
    assert stats(engine) == (300, 300)
    assert indexed(follower) == 0  # published into a disabled bank: nothing matchable
    r = client.patch("/v1/banks/B", json={"matching_enabled_ratio": 1})
    assert r.status_code == 200, r.text
    assert indexed(follower) == 300
    # and disabled again while the follower is behind: it ends with none
    late = SignalIndexes(engine)
    late.load()
    assert indexed(late) == 300
    paused2 = Paused().start(engine, "B", records(300, 400), after=50)
    paused2.resume()
    r = client.patch("/v1/banks/B", json={"matching_enabled_ratio": 0})
    assert indexed(late) == 0 and indexed(follower) == 0
    assert poll(lambda: leftover_rows(db_url) == 0, timeout=5)
