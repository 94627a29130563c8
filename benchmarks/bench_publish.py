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

Alert latency during an import is measured end to end (server, push stream, alert) by
``tests/security/test_live_no_loss.py``; run it with ``-s`` to see its ``PUBLISH`` line.

Run (loopback only; PostgreSQL on 127.0.0.1:5432, user postgres)::

    .venv/bin/python -m benchmarks.bench_publish --sizes 100000,1000000 --db sqlite,postgresql

Writes ``benchmarks/results/publish.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url
from sqlalchemy.orm import Session

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="100000", help="comma-separated import sizes")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument(
        "--chunk", type=int, default=CHUNK, help="records per transaction (bank_import_chunk)"
    )
    parser.add_argument("--out", default="benchmarks/results", help="folder for publish.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("VANGNET_EGRESS_ALLOW", '["loopback"]')
    rows = []
    for database in args.db.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            run = run_sqlite if database == "sqlite" else run_postgresql
            row = run(size, args.chunk)
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "publish.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
