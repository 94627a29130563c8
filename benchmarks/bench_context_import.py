"""Context import benchmark: how fast ``vangnet context import payments FILE.csv`` stores
payments, and how much memory it takes, as the file grows.

For each size N a CSV of N generated payments (benign: made-up accounts, round amounts) is
written to a temporary file and imported with `vangnet.context.ingest.import_records` (what
the command runs) into a fresh database, then imported again (every row a duplicate: the
idempotent path, one SELECT per batch and no INSERT). Reported per size and database: rows per
second of both runs and the process's peak resident memory after them (``ru_maxrss``; a
streamed import keeps it flat as N grows).

Run (loopback only; PostgreSQL on 127.0.0.1:5432, user postgres)::

    .venv/bin/python -m benchmarks.bench_context_import --sizes 100000 --db sqlite
    .venv/bin/python -m benchmarks.bench_context_import --sizes 10000,100000 --db sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from vangnet.audit.anchor import anchor_for
from vangnet.audit.chain import attach_anchor
from vangnet.config import Settings
from vangnet.context.ingest import import_records
from vangnet.sources.records.model import RecordKind
from vangnet.store.db import make_engine
from vangnet.store.migrate import upgrade

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HEADER = b"ref,at,sender,beneficiary,amount,currency,channel,sender_country,beneficiary_country\n"


def write_csv(path: Path, n: int) -> None:
    """N payments, written as they are generated."""
    with path.open("wb") as out:
        out.write(HEADER)
        for i in range(n):
            out.write(
                f"bench-{i},2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,s-{i % 9973},"
                f"b-{i % 1009},{10 + i % 190}.00,EUR,remittance,NL,PH\n".encode()
            )


def fresh_database(kind: str, folder: Path) -> tuple[str, str | None]:
    """A migrated empty database: its URL and (PostgreSQL) the name to drop afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        return url, None
    name = f"bench_ctx_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url, name


def drop(name: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_once(url: str, path: Path, settings: Settings) -> dict[str, float]:
    engine = attach_anchor(make_engine(url), settings)
    out: dict[str, float] = {}
    try:
        for label in ("import", "reimport"):
            with Session(engine) as session, path.open("rb") as stream:
                started = time.perf_counter()
                result = import_records(
                    session,
                    kind=RecordKind.PAYMENTS,
                    fmt="csv",
                    stream=stream,
                    filename=path.name,
                    actor="bench",
                )
                session.commit()
                seconds = time.perf_counter() - started
            out[f"{label}_seconds"] = round(seconds, 3)
            out[f"{label}_rows_per_s"] = round(result.rows / seconds)
    finally:
        engine.dispose()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000")
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args(argv)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = Settings(home=folder / "home")
        anchor_for(settings)
        for n in (int(s) for s in args.sizes.split(",")):
            path = folder / f"payments-{n}.csv"
            write_csv(path, n)
            for db in args.db.split(","):
                url, name = fresh_database(db, folder / f"{db}-{n}")
                try:
                    timing = run_once(url, path, settings)
                finally:
                    if name:
                        drop(name)
                row = {
                    "rows": n,
                    "db": db,
                    "file_bytes": path.stat().st_size,
                    **timing,
                    "peak_rss_mib": round(
                        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    ),
                }
                print(json.dumps(row))
                results.append(row)
    return {"context_import": results}


if __name__ == "__main__":
    main()
