"""Issue 10, finding 1: a live match is never lost because the database is busy.

- While a large bank import runs (``vangnet bank import``, another process), a banked hash
  pushed to a stream becomes an alert while the import is still writing (not published, not
  finished: the alert is not stuck behind it), and sign-in, bank reads, bank creation and
  lookups keep answering (no 500): lookups take no write lock, imports write their rows in
  short transactions, invisible until one tiny transaction publishes them. The hash is pushed
  while the import writes the rows that one publishing transaction used to write, and again
  the moment it publishes; a writer probe's tiny writes go through while the import writes.
  These are claims of order, with generous bounds, not timings: the issue's 2 s figure is
  measured by ``python -m benchmarks.bench_publish --alerts`` (p50 / p95 / max over many
  pushes), not asserted here, where a loaded CI machine once took 2.17 s.
- An alert write that fails (a lock held elsewhere) is journaled on disk, retried, and lands
  once the database is free; a server killed with -9 meanwhile writes it after its restart.
- Staged imports stay all-or-nothing: a failing or killed import leaves nothing visible.

On SQLite and PostgreSQL; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from conftest import audited
from vangnet.banks.bank import bank_stats, create_bank, get_bank, update_bank
from vangnet.banks.categories import Category
from vangnet.banks.changes import changes_since, last_change_seq
from vangnet.banks.contents import find_content_by_signal
from vangnet.banks.discard import STALE_STAGING
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.imports import import_staged
from vangnet.banks.matchable import import_signals
from vangnet.banks.records import export_records
from vangnet.banks.views import ImportResult, IndexChange
from vangnet.config import get_settings
from vangnet.errors import ImportFormatError, InvalidHashError
from vangnet.store.db import make_engine, writer
from vangnet.store.models import (
    BankContent,
    BankImport,
    ChangeOp,
    ContentSignal,
    ImportState,
    utcnow,
)
from web.conftest import login, make_user

from ._live import (
    KNOWN_PDQ,
    VENV_BIN,
    alert_writes_blocked,
    alerts_in_db,
    bank_known,
    cli_env,
    leftover_rows,
    pdq_list,
    poll,
    serve,
    unpublished_rows,
)

IMPORT_SIZE = 100_000  # long enough to overlap (seconds), quick enough for CI
#: seconds: a bound, so that a lost or stuck alert fails rather than hangs; not the issue's
#: 2 s goal (benchmarks/bench_publish.py --alerts measures that). What the tests prove is
#: the order: the alert lands while the import (or batch add) has not finished.
ALERT_GUARD = 15.0
#: seconds: the longest a tiny write may wait during an import (a bound, as above); that
#: writes are not held for the import's run is shown by writes that complete while it writes
WRITE_GUARD = 15.0


def push_known(client: httpx.Client | TestClient, stream_id: int, at: float = 1.0) -> None:
    frames = [{"stream_time": at, "pdq": KNOWN_PDQ, "quality": 100}]
    r = client.post(f"/v1/streams/{stream_id}/hashes", json={"frames": frames})
    assert r.status_code == 202, r.text


def start_push(client: httpx.Client | TestClient) -> int:
    r = client.post("/v1/streams", json={"url": None})
    assert r.status_code == 201, r.text
    stream_id: int = r.json()["id"]
    return stream_id


def alert_count(client: httpx.Client | TestClient, stream_id: int) -> int:
    r = client.get("/v1/alerts", params={"stream_id": stream_id})
    assert r.status_code == 200, r.text
    return len(r.json()["alerts"])


def bank_counts(engine: Engine, bank: str) -> tuple[int, int]:
    """Content items and signals of ``bank`` that readers see."""
    with Session(engine) as s:
        stats = bank_stats(s, bank)
        return int(stats["content"]), int(stats["signals"])


def raw_counts(engine: Engine, bank: str) -> tuple[int, int]:
    """Every content and signal row of ``bank``, published or not."""
    with Session(engine) as s:
        bank_id = get_bank(s, bank).id
        content = s.scalar(select(func.count()).where(BankContent.bank_id == bank_id))
        signals = s.scalar(select(func.count()).where(ContentSignal.bank_id == bank_id))
        return int(content or 0), int(signals or 0)


class WriteProbe:
    """A tiny write transaction (a bank note, as a sign-in writes a session) every 50 ms in
    a thread; ``longest`` is the longest one took, i.e. the longest the write lock was held
    against it; ``done`` when each completed (monotonic)."""

    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)
        self.longest = 0.0
        self.count = 0
        self.done: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            started = time.monotonic()
            try:
                with Session(writer(self.engine)) as s, s.begin():
                    update_bank(s, "KNOWN", note=f"probe {self.count}")
                self.done.append(time.monotonic())
            except Exception as error:  # reported by the test
                self.errors.append(repr(error))
            self.longest = max(self.longest, time.monotonic() - started)
            self.count += 1

    def __enter__(self) -> WriteProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = audited(make_engine(db_url))
    yield e
    e.dispose()


# -- a live match during a large import -------------------------------------------------------


def test_alert_lands_while_a_large_import_writes_and_everything_answers(
    make_client: AppFactory, db_url: str, tmp_path: Path, engine: Engine
) -> None:
    alert_during_import(make_client, db_url, tmp_path, engine, IMPORT_SIZE)


@pytest.mark.slow
def test_alert_lands_while_a_1m_import_writes(
    make_client: AppFactory, db_url: str, tmp_path: Path, engine: Engine
) -> None:
    """The issue's figure: 1,000,000 hashes (minutes; excluded from CI)."""
    alert_during_import(make_client, db_url, tmp_path, engine, 1_000_000)


def alert_during_import(
    make_client: AppFactory, db_url: str, tmp_path: Path, engine: Engine, size: int
) -> None:
    bank_known(db_url)
    make_user(db_url, "reviewer1", "reviewer")
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
    listing = pdq_list(tmp_path / "big.txt", size)
    first_hash = listing.read_text().splitlines()[1]
    stream_id = start_push(client)
    second_stream = start_push(client)

    env = cli_env(db_url, tmp_path / "cli-home")
    command = [str(VENV_BIN / "vangnet"), "bank", "import", "BIG", str(listing), "--create"]
    started = time.monotonic()
    with WriteProbe(db_url) as probe:
        importer = subprocess.Popen(
            [*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            # Well inside the publish work: half of the import's rows are written (what one
            # publishing transaction used to write while it held the write lock).
            assert poll(lambda: unpublished_rows(db_url) >= size // 2, timeout=600), (
                "the import's rows were never seen being written"
            )
            assert importer.poll() is None, "the import finished too early to overlap"
            assert bank_counts(engine, "BIG") == (0, 0), "rows visible before publishing"
            writing_from = time.monotonic()

            pushed = time.monotonic()
            push_known(client, stream_id)
            assert poll(lambda: alert_count(client, stream_id) == 1, timeout=ALERT_GUARD), (
                f"no alert within {ALERT_GUARD} s of the push while the import ran"
            )
            took = time.monotonic() - pushed
            # Written while the import still writes: not published, not finished. An alert
            # that waited for the import (its write lock, its publishing) would land after.
            assert bank_counts(engine, "BIG") == (0, 0), "the alert came only after the publish"
            assert importer.poll() is None, "the import ended before the alert: no overlap shown"

            # The rest of the server keeps answering while the import still runs.
            r = client.get("/v1/banks/KNOWN")
            assert r.status_code == 200, r.text
            r = client.post("/v1/lookup", json={"signal_type": "pdq", "value": KNOWN_PDQ})
            assert r.status_code == 200, r.text
            assert [m["bank"] for m in r.json()["matches"]] == ["KNOWN"]
            r = client.post("/v1/banks", json={"name": "MADE_DURING_IMPORT"})
            assert r.status_code == 201, r.text
            web = TestClient(client.app, follow_redirects=False)
            assert login(web, "reviewer1")  # a web sign-in writes a session
            fresh_key = make_key(db_url, "curator", name="fresh")  # not cached: verified now
            r = client.get("/v1/banks/BIG", headers={"X-API-Key": fresh_key})
            assert r.status_code == 200, r.text
            assert r.json()["stats"]["content"] == 0  # nothing of the import shows yet
            assert importer.poll() is None, "the import ended before the checks: no overlap shown"

            # The moment it publishes: push again, and sign in again.
            assert poll(lambda: bank_counts(engine, "BIG")[0] > 0, timeout=600)
            published_at = time.monotonic()
            pushed = time.monotonic()
            push_known(client, second_stream)
            assert poll(lambda: alert_count(client, second_stream) == 1, timeout=ALERT_GUARD), (
                f"no alert within {ALERT_GUARD} s of a push as the import published"
            )
            took_at_publish = time.monotonic() - pushed
            assert login(TestClient(client.app, follow_redirects=False), "reviewer1")
        finally:
            out, err = importer.communicate(timeout=1200)
        elapsed = time.monotonic() - started
    assert importer.returncode == 0, err
    assert f'"added": {size}' in out
    assert bank_counts(engine, "BIG") == raw_counts(engine, "BIG") == (size, size)
    assert leftover_rows(db_url) == 0  # nothing of the import left unpublished
    # the server's index follows the import's one change-log entry
    r = client.post("/v1/lookup", json={"signal_type": "pdq", "value": first_hash})
    assert poll(
        lambda: (
            "BIG"
            in [
                m["bank"]
                for m in client.post(
                    "/v1/lookup", json={"signal_type": "pdq", "value": first_hash}
                ).json()["matches"]
            ]
        ),
        timeout=60,
    ), "the published import never reached the server's index"
    assert not probe.errors, probe.errors
    # Tiny writes went through while the import wrote its second half of rows (from half
    # written until it published): the import does not hold the write lock for its run.
    written = [t for t in probe.done if writing_from < t < published_at]
    dialect = engine.dialect.name
    print(
        f"\nPUBLISH {dialect} size={size} import_s={elapsed:.1f} "
        f"alert_during_writes_s={took:.2f} alert_at_publish_s={took_at_publish:.2f} "
        f"longest_write_wait_s={probe.longest:.2f} probes={probe.count} "
        f"probes_while_writing={len(written)}"
    )
    assert len(written) >= 2, f"{len(written)} probe writes while the import wrote its rows"
    # A bound, not a timing claim: the probe runs in the test process beside the server, so
    # its figure includes waiting for Python's GIL while the server's index adds the import.
    assert probe.longest <= WRITE_GUARD, f"a write waited {probe.longest:.1f} s"


def test_alert_lands_during_a_large_batch_add_through_the_api(
    make_client: AppFactory, db_url: str
) -> None:
    """``POST /v1/banks/NAME/hashes`` with 10,000 items (the most one request may hold)
    stages them, so it does not hold the write lock while a live alert is due: the alert
    lands while the request is still being handled, its rows not yet published."""
    import random
    import threading

    bank_known(db_url)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
    assert client.post("/v1/banks", json={"name": "BATCH"}).status_code == 201
    engine = make_engine(db_url)
    rng = random.Random(5)
    items = [{"signal_type": "pdq", "value": f"{rng.getrandbits(256):064x}"} for _ in range(10_000)]
    stream_id = start_push(client)
    answers: list[int] = []

    def add() -> None:
        answers.append(client.post("/v1/banks/BATCH/hashes", json={"items": items}).status_code)

    batch = threading.Thread(target=add)
    started = time.monotonic()
    batch.start()
    try:
        # the request is writing its rows (staged, unpublished)
        assert poll(lambda: unpublished_rows(db_url) > 0 or bool(answers), timeout=60)
        assert not answers, "the batch add finished before its rows were seen being written"
        pushed = time.monotonic()
        push_known(client, stream_id)
        assert poll(lambda: alert_count(client, stream_id) == 1, timeout=ALERT_GUARD), (
            f"no alert within {ALERT_GUARD} s of the push during a batch add"
        )
        took = time.monotonic() - pushed
        # the order, not a timing: written while the batch add was still being handled
        assert not answers, "the batch add was answered before the alert: no overlap shown"
        assert bank_counts(engine, "BATCH") == (0, 0), "the alert came after the batch published"
    finally:
        batch.join(timeout=600)
        engine.dispose()
    batch_s = time.monotonic() - started
    print(f"\nBATCH {engine.dialect.name} alert_s={took:.2f} batch_add_s={batch_s:.2f}")
    assert answers == [200]
    r = client.get("/v1/banks/BATCH")
    assert r.json()["stats"]["content"] == 10_000


# -- an alert write that fails is retried, and survives a crash ---------------------------------


def test_failed_alert_write_is_journaled_retried_and_lands(
    make_client: AppFactory, db_url: str, tmp_path: Path
) -> None:
    bank_known(db_url)
    client = make_client(live_alert_wait_seconds=0.2, live_alert_retry_max_seconds=0.5)
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
    stream_id = start_push(client)
    home = client.app.state.services.settings.home  # type: ignore[attr-defined]
    journal = Path(home) / "live-journal"

    with alert_writes_blocked(db_url):
        push_known(client, stream_id)

        def pending() -> int:
            r = client.get(f"/v1/streams/{stream_id}")
            assert r.status_code == 200, r.text
            count: int = r.json()["live"]["alerts_pending"]
            return count

        assert poll(lambda: pending() == 1, timeout=10), "the failed write is not shown pending"
        metrics = client.get("/v1/metrics")
        assert metrics.status_code == 200
        assert "vangnet_alert_writes_pending 1" in metrics.text
        assert any(KNOWN_PDQ in p.read_text() for p in journal.glob("*.jsonl"))  # on disk
        time.sleep(1.0)  # several retries fail while the lock is held
        assert pending() == 1
    assert poll(lambda: alert_count(client, stream_id) == 1, timeout=10), "never written"
    assert poll(lambda: pending() == 0, timeout=5)
    assert "vangnet_alert_writes_pending 0" in client.get("/v1/metrics").text
    assert not any(p.read_text().strip() for p in journal.glob("*.jsonl"))


def test_pending_alert_survives_kill_9_and_is_written_after_restart(
    db_url: str, tmp_path: Path
) -> None:
    bank_known(db_url)
    key = make_key(db_url, "admin")
    env = cli_env(
        db_url,
        tmp_path / "home",
        live_alert_wait_seconds="0.2",
        live_alert_retry_max_seconds="0.5",
        index_poll_seconds="0.1",
    )
    headers = {"X-API-Key": key}
    with (
        serve(env) as (base, process),
        httpx.Client(base_url=base, headers=headers, timeout=10) as http,
    ):
        stream_id = start_push(http)
        with alert_writes_blocked(db_url):
            push_known(http, stream_id)

            def pending() -> int:
                count: int = (
                    http.get(f"/v1/streams/{stream_id}").json()["live"].get("alerts_pending", 0)
                )
                return count

            shown_pending = poll(lambda: pending() == 1, timeout=10)
            workers = psutil.Process(process.pid).children(recursive=True)
            process.kill()  # kill -9: no clean-up
            process.wait(timeout=30)
            # its worker processes die with it: none goes on serving (or writing) alone
            _gone, alive = psutil.wait_procs(workers, timeout=10)
            assert workers and not alive, f"workers outlived kill -9: {alive}"
    assert alerts_in_db(db_url, stream_id) == 0  # it really was not written before the crash
    with serve(env) as (base, _process):
        assert poll(lambda: alerts_in_db(db_url, stream_id) == 1, timeout=20), (
            "the journaled alert was not written after the restart"
        )
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            (alert,) = http.get("/v1/alerts", params={"stream_id": stream_id}).json()["alerts"]
    assert alert["bank"] == "KNOWN" and alert["frames_matched"] == 1
    assert shown_pending, "the failed write was not shown as pending before the crash"
    journal = tmp_path / "home" / "live-journal"
    assert not any(p.read_text().strip() for p in journal.glob("*.jsonl"))


# -- staged imports stay all-or-nothing -------------------------------------------------------


def test_killed_import_leaves_nothing_visible_and_a_new_import_succeeds(
    make_client: AppFactory, db_url: str, tmp_path: Path, engine: Engine
) -> None:
    listing = pdq_list(tmp_path / "big.txt", 60_000, seed=3)
    first_hash = listing.read_text().splitlines()[1]
    env = cli_env(db_url, tmp_path / "home", bank_import_chunk="2000")
    command = [str(VENV_BIN / "vangnet"), "bank", "import", "BIG", str(listing), "--create"]
    importer = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:  # killed in the middle of writing its rows (the chunked publish)
        assert poll(lambda: unpublished_rows(db_url) >= 10_000, timeout=120), "nothing written"
        importer.kill()
    finally:
        importer.wait(timeout=30)
    assert unpublished_rows(db_url) >= 10_000  # written, and invisible:
    assert bank_counts(engine, "BIG") == (0, 0)
    with Session(engine) as s:
        assert last_change_seq(s) == 0
        assert list(export_records(s, bank="BIG")) == []
        assert find_content_by_signal(s, "pdq", first_hash) == []
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    assert client.get("/v1/banks/BIG").json()["stats"]["content"] == 0
    r = client.post("/v1/lookup", json={"signal_type": "pdq", "value": first_hash})
    assert r.status_code == 200 and r.json()["matches"] == []
    assert client.get("/v1/banks/BIG/content").json()["items"] == []

    # A later import of values the killed one had written takes them over at once.
    small = pdq_list(tmp_path / "small.txt", 500, seed=3)  # the first 500 of the same list
    done = subprocess.run([*command[:4], str(small), "--json"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert b'"added": 500' in done.stdout
    assert bank_counts(engine, "BIG") == (500, 500)
    assert poll(
        lambda: (
            [
                m["bank"]
                for m in client.post(
                    "/v1/lookup", json={"signal_type": "pdq", "value": first_hash}
                ).json()["matches"]
            ]
            == ["BIG"]
        ),
        timeout=10,
    )

    # Once the killed import is stale (10 minutes without a write), the next import
    # removes everything it left.
    with Session(writer(engine)) as s, s.begin():
        s.execute(
            update(BankImport)
            .where(BankImport.state == ImportState.STAGING.value)
            .values(touched_at=utcnow() - STALE_STAGING - timedelta(seconds=1))
        )
    again = subprocess.run([*command[:4], str(small), "--json"], env=env, capture_output=True)
    assert again.returncode == 0, again.stderr
    assert b'"added": 0' in again.stdout
    assert leftover_rows(db_url) == 0
    assert raw_counts(engine, "BIG") == bank_counts(engine, "BIG") == (500, 500)


def records(n: int, start: int = 0) -> list[BankRecord]:
    return [BankRecord("pdq", f"{i + 1:064x}") for i in range(start, start + n)]


def test_staged_import_matches_the_in_transaction_import(engine: Engine) -> None:
    with Session(engine) as s:
        create_bank(s, name="B")
        create_bank(s, name="OFF", matching_enabled_ratio=0)
        s.commit()
    first = import_staged(engine, bank="B", records=records(250), chunk=100)
    assert first == ImportResult(added=250, skipped_existing=0, total=250)
    again = import_staged(engine, bank="B", records=records(300), chunk=100)
    assert again == ImportResult(added=50, skipped_existing=250, total=300)
    dup = [BankRecord("pdq", f"{999:064x}"), BankRecord("pdq", f"{999:064x}".upper())]
    assert (
        import_staged(engine, bank="B", records=dup, chunk=get_settings().bank_import_chunk).added
        == 1
    )
    vics1 = Category.parse("vics:1")
    grouped = [
        BankRecord("md5", "a" * 32, category=vics1, external_id="media-1"),
        BankRecord("pdq", "c" * 64, category=vics1, external_id="media-1"),
        BankRecord("pdq", "d" * 64, external_id="media-2"),
        BankRecord("pdq", "e" * 64, enabled=False),
    ]
    assert import_staged(engine, bank="B", records=grouped, chunk=1).added == 4
    later = [BankRecord("sha1", "b" * 40, external_id="media-1")]
    assert (
        import_staged(engine, bank="B", records=later, chunk=get_settings().bank_import_chunk).added
        == 1
    )
    assert (
        import_staged(
            engine, bank="OFF", records=records(3), chunk=get_settings().bank_import_chunk
        ).added
        == 3
    )
    with Session(engine) as s:
        assert bank_counts(engine, "B") == (301 + 3, 301 + 5)
        (item,) = find_content_by_signal(s, "sha1", "b" * 40)
        assert item.signals == (("md5", "a" * 32), ("pdq", "c" * 64), ("sha1", "b" * 40))
        assert item.category == vics1
        changes = expanded_changes(s)
        # every enabled signal of the enabled bank, once; nothing of the disabled item or bank
        assert len(changes) == 301 + 4
        assert "e" * 64 not in {c.value for c in changes}
        ids = [c.signal_id for c in changes]
        assert len(set(ids)) == len(ids)
        assert set(ids) == set(
            s.scalars(
                select(ContentSignal.id).where(
                    ContentSignal.value != "e" * 64,
                    ContentSignal.bank_id == get_bank(s, "B").id,
                )
            )
        )
    assert staged_rows_from(engine) == 0


def expanded_changes(s: Session) -> list[IndexChange]:
    """The change log with each ``import`` entry replaced by the signals it adds, as the
    index follower (`vangnet.match.indexes`) reads them."""
    out: list[IndexChange] = []
    for change in changes_since(s, 0, limit=10_000):
        if change.op is ChangeOp.IMPORT:
            out.extend(
                IndexChange(
                    change.seq,
                    ChangeOp.ADD,
                    change.signal_type,
                    row.signal_id,
                    row.bank_id,
                    row.value,
                    change.created_at,
                )
                for row in import_signals(
                    s, import_id=change.signal_id, signal_type=change.signal_type
                )
            )
        else:
            out.append(change)
    return out


def staged_rows_from(engine: Engine) -> int:
    from vangnet.store.models import BankImportRow

    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(BankImportRow)) or 0)


def test_staged_import_is_all_or_nothing(engine: Engine) -> None:
    with Session(engine) as s:
        create_bank(s, name="B")
        s.commit()

    def failing() -> Iterator[BankRecord]:
        yield from records(120)
        raise ImportFormatError("bad value", line=121)

    with pytest.raises(ImportFormatError, match="line 121"):
        import_staged(engine, bank="B", records=failing(), chunk=50)
    with pytest.raises(InvalidHashError):
        import_staged(engine, bank="B", records=[*records(10), BankRecord("pdq", "bad")], chunk=5)
    assert bank_counts(engine, "B") == (0, 0)
    assert staged_rows_from(engine) == 0
    with Session(engine) as s:
        assert last_change_seq(s) == 0
