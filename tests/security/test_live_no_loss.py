"""Issue 10, finding 1: a live match is never lost because the database is busy.

- While a large bank import runs (``vangnet bank import``, another process), a banked hash
  pushed to a stream becomes an alert within 2 s, and sign-in, bank reads, bank creation and
  lookups keep answering (no 500): lookups take no write lock, imports stage in short
  transactions and publish at once.
- An alert write that fails (a lock held elsewhere) is journaled on disk, retried, and lands
  once the database is free; a server killed with -9 meanwhile writes it after its restart.
- Staged imports stay all-or-nothing: a failing or killed import leaves nothing visible.

On SQLite and PostgreSQL; all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from conftest import audited
from vangnet.banks import service as banks
from vangnet.banks.categories import Category
from vangnet.banks.formats.base import BankRecord
from vangnet.config import get_settings
from vangnet.errors import ImportFormatError, InvalidHashError
from vangnet.store.db import make_engine
from vangnet.store.models import BankContent, ContentSignal
from web.conftest import login, make_user

from ._live import (
    KNOWN_PDQ,
    VENV_BIN,
    alert_writes_blocked,
    alerts_in_db,
    bank_known,
    cli_env,
    pdq_list,
    poll,
    serve,
    staged_rows,
)

IMPORT_SIZE = 100_000  # long enough to overlap (seconds), quick enough for CI
ALERT_WITHIN = 2.0  # seconds: the "done when"


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
    with Session(engine) as s:
        bank_id = banks.get_bank(s, bank).id
        content = s.scalar(select(func.count()).where(BankContent.bank_id == bank_id))
        signals = s.scalar(select(func.count()).where(ContentSignal.bank_id == bank_id))
        return int(content or 0), int(signals or 0)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = audited(make_engine(db_url))
    yield e
    e.dispose()


# -- a live match during a large import -------------------------------------------------------


def test_alert_within_2s_and_everything_answers_during_a_large_import(
    make_client: AppFactory, db_url: str, tmp_path: Path, engine: Engine
) -> None:
    alert_during_import(make_client, db_url, tmp_path, engine, IMPORT_SIZE)


@pytest.mark.slow
def test_alert_within_2s_during_a_1m_import(
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
    stream_id = start_push(client)

    env = cli_env(db_url, tmp_path / "cli-home")
    command = [str(VENV_BIN / "vangnet"), "bank", "import", "BIG", str(listing), "--create"]
    importer = subprocess.Popen(
        [*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # Well inside the import: its rows are being staged (or, on a build without staging,
        # it has held its transaction for seconds).
        poll(lambda: staged_rows_or_zero(db_url) > 0, timeout=30)
        time.sleep(0.3)
        assert importer.poll() is None, "the import finished too early to overlap"

        pushed = time.monotonic()
        push_known(client, stream_id)
        assert poll(lambda: alert_count(client, stream_id) == 1, timeout=ALERT_WITHIN), (
            f"no alert within {ALERT_WITHIN} s of the push while the import ran"
        )
        took = time.monotonic() - pushed
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
        assert importer.poll() is None, "the import ended before the checks: no overlap shown"
    finally:
        out, err = importer.communicate(timeout=600)
    assert importer.returncode == 0, err
    assert f'"added": {size}' in out
    assert bank_counts(engine, "BIG") == (size, size)
    assert staged_rows(db_url) == 0  # staging cleaned up after publishing
    assert took <= ALERT_WITHIN


def test_alert_within_2s_during_a_large_batch_add_through_the_api(
    make_client: AppFactory, db_url: str
) -> None:
    """``POST /v1/banks/NAME/hashes`` with 10,000 items (the most one request may hold)
    stages them, so it does not hold the write lock while a live alert is due."""
    import random
    import threading

    bank_known(db_url)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
    assert client.post("/v1/banks", json={"name": "BATCH"}).status_code == 201
    rng = random.Random(5)
    items = [{"signal_type": "pdq", "value": f"{rng.getrandbits(256):064x}"} for _ in range(10_000)]
    stream_id = start_push(client)
    answers: list[int] = []

    def add() -> None:
        answers.append(client.post("/v1/banks/BATCH/hashes", json={"items": items}).status_code)

    batch = threading.Thread(target=add)
    batch.start()
    try:
        time.sleep(0.3)  # the request is being handled
        push_known(client, stream_id)
        assert poll(lambda: alert_count(client, stream_id) == 1, timeout=ALERT_WITHIN), (
            f"no alert within {ALERT_WITHIN} s of the push during a batch add"
        )
    finally:
        batch.join(timeout=600)
    assert answers == [200]
    r = client.get("/v1/banks/BATCH")
    assert r.json()["stats"]["content"] == 10_000


def staged_rows_or_zero(db_url: str) -> int:
    """Staged rows, or 0 where the table does not exist (a build without staging)."""
    try:
        return staged_rows(db_url)
    except Exception:
        return 0


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
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    listing = pdq_list(tmp_path / "big.txt", 60_000, seed=3)
    env = cli_env(db_url, tmp_path / "home")
    command = [str(VENV_BIN / "vangnet"), "bank", "import", "BIG", str(listing), "--create"]
    importer = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert poll(lambda: staged_rows(db_url) > 0, timeout=60), "nothing was staged"
        importer.kill()
    finally:
        importer.wait(timeout=30)
    assert bank_counts(engine, "BIG") == (0, 0)
    with Session(engine) as s:
        assert banks.last_change_seq(s) == 0
    small = pdq_list(tmp_path / "small.txt", 500, seed=3)  # the first 500 of the same list
    done = subprocess.run([*command[:4], str(small), "--json"], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert bank_counts(engine, "BIG") == (500, 500)


def records(n: int, start: int = 0) -> list[BankRecord]:
    return [BankRecord("pdq", f"{i + 1:064x}") for i in range(start, start + n)]


def test_staged_import_matches_the_in_transaction_import(engine: Engine) -> None:
    with Session(engine) as s:
        banks.create_bank(s, name="B")
        banks.create_bank(s, name="OFF", matching_enabled_ratio=0)
        s.commit()
    first = banks.import_staged(engine, bank="B", records=records(250), chunk=100)
    assert first == banks.ImportResult(added=250, skipped_existing=0, total=250)
    again = banks.import_staged(engine, bank="B", records=records(300), chunk=100)
    assert again == banks.ImportResult(added=50, skipped_existing=250, total=300)
    dup = [BankRecord("pdq", f"{999:064x}"), BankRecord("pdq", f"{999:064x}".upper())]
    assert (
        banks.import_staged(
            engine, bank="B", records=dup, chunk=get_settings().bank_import_chunk
        ).added
        == 1
    )
    vics1 = Category.parse("vics:1")
    grouped = [
        BankRecord("md5", "a" * 32, category=vics1, external_id="media-1"),
        BankRecord("pdq", "c" * 64, category=vics1, external_id="media-1"),
        BankRecord("pdq", "d" * 64, external_id="media-2"),
        BankRecord("pdq", "e" * 64, enabled=False),
    ]
    assert banks.import_staged(engine, bank="B", records=grouped, chunk=1).added == 4
    later = [BankRecord("sha1", "b" * 40, external_id="media-1")]
    assert (
        banks.import_staged(
            engine, bank="B", records=later, chunk=get_settings().bank_import_chunk
        ).added
        == 1
    )
    assert (
        banks.import_staged(
            engine, bank="OFF", records=records(3), chunk=get_settings().bank_import_chunk
        ).added
        == 3
    )
    with Session(engine) as s:
        assert bank_counts(engine, "B") == (301 + 3, 301 + 5)
        (item,) = banks.find_content_by_signal(s, "sha1", "b" * 40)
        assert item.signals == (("md5", "a" * 32), ("pdq", "c" * 64), ("sha1", "b" * 40))
        assert item.category == vics1
        changes = banks.changes_since(s, 0, limit=10_000)
        # every enabled signal of the enabled bank, once; nothing of the disabled item or bank
        assert len(changes) == 301 + 4
        assert "e" * 64 not in {c.value for c in changes}
        ids = [c.signal_id for c in changes]
        assert len(set(ids)) == len(ids)
        assert set(ids) == set(
            s.scalars(
                select(ContentSignal.id).where(
                    ContentSignal.value != "e" * 64,
                    ContentSignal.bank_id == banks.get_bank(s, "B").id,
                )
            )
        )
    assert staged_rows_from(engine) == 0


def staged_rows_from(engine: Engine) -> int:
    from vangnet.store.models import BankImportRow

    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(BankImportRow)) or 0)


def test_staged_import_is_all_or_nothing(engine: Engine) -> None:
    with Session(engine) as s:
        banks.create_bank(s, name="B")
        s.commit()

    def failing() -> Iterator[BankRecord]:
        yield from records(120)
        raise ImportFormatError("bad value", line=121)

    with pytest.raises(ImportFormatError, match="line 121"):
        banks.import_staged(engine, bank="B", records=failing(), chunk=50)
    with pytest.raises(InvalidHashError):
        banks.import_staged(
            engine, bank="B", records=[*records(10), BankRecord("pdq", "bad")], chunk=5
        )
    assert bank_counts(engine, "B") == (0, 0)
    assert staged_rows_from(engine) == 0
    with Session(engine) as s:
        assert banks.last_change_seq(s) == 0
