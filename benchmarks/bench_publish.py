"""Bank import publish benchmark: how long an import holds the database, whatever its size.

An import (`vangnet.banks.imports.import_staged`, what ``vangnet bank import`` runs) of N
random PDQ hashes into a fresh database, while in the same process:

- a **writer probe** changes a bank's note in a tiny write transaction every 50 ms (as a
  web sign-in or a live alert writes) and records how long each took: the longest is the
  longest the import kept the write lock from another writer;
- a **reader** reads the bank's counts every 100 ms: every reading must be 0 or N (never a
  half-published import);
- the import's publishing step (`vangnet.banks.publish.publish`, inside its one publishing
  transaction) is timed, and so is an index follower (`SignalIndexes.refresh`) catching up
  with it.

**Alert latency during an import** (``--alerts``; issue 10: "while a 1M import runs, a banked
hash pushed to a stream is alerted within 2 s"), end to end, the way a platform sees it:
``vangnet serve`` on 127.0.0.1 with a high-confidence bank holding one PDQ hash, and a
``vangnet bank import`` of N random hashes in another process. While the import writes its
rows (unpublished), a push stream is opened (``POST /v1/streams``), the banked hash pushed
(``POST /v1/streams/ID/hashes``) and ``GET /v1/alerts?stream_id=ID`` polled every 20 ms until
the alert is there; then the next push, on a new stream, 0.25 s later, until the import
publishes. The moment the bank shows the import's rows, ``PUBLISH_PUSHES`` more pushes go
out one after another (the server's index is then adding the import). A push counts as
"during writes" when the import was unpublished both when it was pushed and when its alert
was seen. Latency = the alert seen minus the push sent: p50, p95 and max per phase; a push
with no alert within ``ALERT_TIMEOUT_S`` counts as lost. The test suite
(``tests/security/test_live_no_loss.py``) proves the alert is written while the import still
runs, not behind it; this benchmark gives the figure against the 2 s goal.

Run (loopback only; PostgreSQL on 127.0.0.1:5432, user postgres)::

    .venv/bin/python -m benchmarks.bench_publish --sizes 100000,1000000 --db sqlite,postgresql
    .venv/bin/python -m benchmarks.bench_publish --alerts --sizes 100000 --db sqlite,postgresql

Writes ``benchmarks/results/publish.json`` (``publish-alerts.json`` with ``--alerts``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url
from sqlalchemy.orm import Session

from benchmarks import common
from benchmarks.common import percentile
from vangnet.banks import imports
from vangnet.banks.bank import bank_stats, create_bank, update_bank
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.imports import import_staged
from vangnet.config import Settings
from vangnet.match.indexes import SignalIndexes
from vangnet.store.db import make_engine, writer
from vangnet.store.migrate import upgrade

#: What ``vangnet bank import`` uses: the documented default of ``bank_import_chunk``
CHUNK = Settings.model_construct().bank_import_chunk

PG_ADMIN_URL = os.environ.get(
    "VANGNET_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def hashes(n: int, seed: int = 7) -> Iterator[BankRecord]:
    rng = random.Random(seed)
    for _ in range(n):
        yield BankRecord("pdq", f"{rng.getrandbits(256):064x}")


class Probe:
    def __init__(self, engine: Any, size: int) -> None:
        self.engine = engine
        self.size = size
        self.writes: list[float] = []
        self.reads: list[float] = []
        self.half_seen: list[int] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._write, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]

    def _write(self) -> None:
        n = 0
        while not self._stop.wait(0.05):
            started = time.monotonic()
            with Session(writer(self.engine)) as s, s.begin():
                update_bank(s, "KNOWN", note=f"probe {n}")
            self.writes.append(time.monotonic() - started)
            n += 1

    def _read(self) -> None:
        while not self._stop.wait(0.1):
            started = time.monotonic()
            with Session(self.engine) as s:
                content = int(bank_stats(s, "BIG")["content"])
            self.reads.append(time.monotonic() - started)
            if content not in (0, self.size):
                self.half_seen.append(content)

    def __enter__(self) -> Probe:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def p99(values: list[float]) -> float:
    if len(values) < 2:
        return max(values, default=0.0)
    return statistics.quantiles(values, n=100)[98]


def measure(url: str, size: int, chunk: int = CHUNK) -> dict[str, Any]:
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(writer(engine)) as s:
            create_bank(s, name="KNOWN", high_confidence=True)
            create_bank(s, name="BIG")
            s.commit()
        follower = SignalIndexes(engine)
        follower.load()
        timings: dict[str, float] = {}
        publish = imports.publish

        def timed(session: Session, job: Any) -> int:
            started = time.monotonic()
            try:
                return publish(session, job)
            finally:
                timings["publish_s"] = time.monotonic() - started

        imports.publish = timed  # type: ignore[assignment]
        try:
            with Probe(engine, size) as probe:
                started = time.monotonic()
                result = import_staged(engine, bank="BIG", records=hashes(size), chunk=chunk)
                elapsed = time.monotonic() - started
        finally:
            imports.publish = publish  # type: ignore[assignment]
        assert result.added == size, result
        started = time.monotonic()
        follower.refresh()
        follow_s = time.monotonic() - started
        index = follower.indexes["pdq"]
        assert len(index) == size, len(index)
        return {
            "database": engine.dialect.name,
            "size": size,
            "chunk": chunk,
            "import_s": round(elapsed, 1),
            "rows_per_s": round(size / elapsed),
            "publish_s": round(timings["publish_s"], 4),
            "longest_write_wait_s": round(max(probe.writes, default=0.0), 3),
            "p99_write_s": round(p99(probe.writes), 3),
            "writes": len(probe.writes),
            "longest_read_s": round(max(probe.reads, default=0.0), 3),
            "half_published_seen": len(probe.half_seen),
            "index_follow_s": round(follow_s, 1),
            # this process's peak so far (import and follower together)
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    finally:
        engine.dispose()


def run_sqlite(size: int, chunk: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vangnet-bench-publish-") as folder:
        return measure(f"sqlite:///{Path(folder) / 'bench.db'}", size, chunk)


def run_postgresql(size: int, chunk: int) -> dict[str, Any]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"vangnet_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        return measure(url, size, chunk)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# -- alert latency during an import, end to end ---------------------------------------------

#: A banked PDQ hash (sent with quality 100); random import hashes are never near it.
KNOWN_PDQ = "f" * 16 + "0" * 16 + "a5" * 8 + "3c" * 8
PUBLISH_PUSHES = 5
ALERT_TIMEOUT_S = 60.0
PUSH_GAP_S = 0.25


def _unpublished(engine: Any) -> int:
    from sqlalchemy import func, select

    from vangnet.store.models import ContentSignal
    from vangnet.store.visibility import unpublished

    with Session(engine) as s:
        return int(s.scalar(select(func.count()).where(unpublished(ContentSignal.import_id))) or 0)


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50_s": None, "p95_s": None, "max_s": None}
    return {
        "count": len(values),
        "p50_s": round(percentile(values, 50), 3),
        "p95_s": round(percentile(values, 95), 3),
        "max_s": round(max(values), 3),
    }


def measure_alerts(url: str, size: int, folder: Path) -> dict[str, Any]:
    """Alert latency of pushes to a served stream while a ``vangnet bank import`` of
    ``size`` hashes runs in another process (see the module docstring)."""
    import httpx

    from vangnet.banks.contents import add_content

    upgrade(url)
    engine = make_engine(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update(
        VANGNET_HOME=str(folder / "home"),
        VANGNET_DATABASE_URL=url,
        VANGNET_LOG_LEVEL="warning",
        VANGNET_EGRESS_ALLOW='["loopback"]',
        # the pushes and the 20 ms polling, not the per-key request limit
        VANGNET_KEY_RATE_PER_SECOND="0",
    )
    server: subprocess.Popen[bytes] | None = None
    importer: subprocess.Popen[str] | None = None
    try:
        with Session(writer(engine)) as s:
            create_bank(s, name="KNOWN", high_confidence=True)
            add_content(s, bank="KNOWN", signals={"pdq": KNOWN_PDQ})
            s.commit()
        made = subprocess.run(
            [*common.vangnet_command(), "key", "create", "bench", "--role", "admin", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = json.loads(made.stdout)["key"]
        listing = folder / "big.txt"
        with listing.open("w") as fh:
            fh.write("# signal_type: pdq\n")
            fh.writelines(f"{r.value}\n" for r in hashes(size))
        port = common.free_port()
        server = subprocess.Popen(
            [*common.vangnet_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                if http.get("/status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("vangnet serve did not start")
            time.sleep(0.1)

        def published() -> bool:
            r = http.get("/v1/banks/BIG")
            return r.status_code == 200 and int(r.json()["stats"]["content"]) > 0

        def push() -> float | None:
            """Seconds from the push to its alert (None: none within the timeout)."""
            r = http.post("/v1/streams", json={"url": None})
            r.raise_for_status()
            stream_id = r.json()["id"]
            frames = [{"stream_time": 1.0, "pdq": KNOWN_PDQ, "quality": 100}]
            pushed = time.monotonic()
            r = http.post(f"/v1/streams/{stream_id}/hashes", json={"frames": frames})
            r.raise_for_status()
            took = None
            while time.monotonic() - pushed < ALERT_TIMEOUT_S:
                r = http.get("/v1/alerts", params={"stream_id": stream_id})
                if r.status_code == 200 and r.json()["alerts"]:
                    took = time.monotonic() - pushed
                    break
                time.sleep(0.02)
            # ended, as a platform ends a push stream (a key may hold only so many open)
            http.post(f"/v1/streams/{stream_id}/stop").raise_for_status()
            return took

        command = [
            *common.vangnet_command(),
            "bank",
            "import",
            "BIG",
            str(listing),
            "--create",
            "--json",
        ]
        started = time.monotonic()
        importer = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        while _unpublished(engine) == 0 and importer.poll() is None:
            time.sleep(0.05)  # the import writes its first chunk
        during: list[float] = []
        spanning: list[float] = []  # pushed before publishing, alerted after
        lost = 0
        while importer.poll() is None and not published():
            took = push()
            if took is None:
                lost += 1
            elif published() or importer.poll() is not None:
                spanning.append(took)
            else:
                during.append(took)
            time.sleep(PUSH_GAP_S)
        while not published() and time.monotonic() - started < 3600:
            time.sleep(0.05)
        at_publish: list[float] = []
        for _ in range(PUBLISH_PUSHES):
            took = push()
            if took is None:
                lost += 1
            else:
                at_publish.append(took)
        out, err = importer.communicate(timeout=3600)
        elapsed = time.monotonic() - started
        if importer.returncode != 0:
            raise RuntimeError(f"bank import failed: {err.strip()[-300:]}")
        assert f'"added": {size}' in out, out
        http.close()
        return {
            "database": engine.dialect.name,
            "size": size,
            "import_s": round(elapsed, 1),
            "during_writes": _summary(during),
            "pushed_before_alerted_after_publish": _summary(spanning),
            "at_publish": _summary(at_publish),
            "lost": lost,
            "during_writes_s": [round(v, 3) for v in during],
            "at_publish_s": [round(v, 3) for v in at_publish],
        }
    finally:
        for process in (importer, server):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        engine.dispose()


def run_alerts(database: str, size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vangnet-bench-alerts-") as name:
        folder = Path(name)
        if database == "sqlite":
            return measure_alerts(f"sqlite:///{folder / 'bench.db'}", size, folder)
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        db = f"vangnet_bench_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{db}"')
        try:
            url = make_url(PG_ADMIN_URL).set(database=db).render_as_string(hide_password=False)
            return measure_alerts(url, size, folder)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100000", help="comma-separated import sizes")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument(
        "--chunk", type=int, default=CHUNK, help="records per transaction (bank_import_chunk)"
    )
    parser.add_argument("--out", default="benchmarks/results", help="folder for publish.json")
    parser.add_argument(
        "--alerts",
        action="store_true",
        help="alert latency of pushes to a served stream during the import (publish-alerts.json)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("VANGNET_EGRESS_ALLOW", '["loopback"]')
    rows = []
    for database in args.db.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            if args.alerts:
                row = run_alerts(database, size)
            else:
                run = run_sqlite if database == "sqlite" else run_postgresql
                row = run(size, args.chunk)
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "publish-alerts.json" if args.alerts else "publish.json"
    (out / name).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
