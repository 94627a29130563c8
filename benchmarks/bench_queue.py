"""What ordering by the priority signal costs: scoring uploads in ``POST /v1/match`` and
listing the review queue by score.

    .venv/bin/python -m benchmarks.bench_queue            # 50 photos, 20,000 cases
    .venv/bin/python -m benchmarks.bench_queue --quick    # 10 photos, 2,000 cases

1. Uploads: the BSDS500 photos of ../shared/data posted to ``POST /v1/match`` of an
   in-process app (FastAPI TestClient, SQLite, an empty bank: benign photos
   should not be likely), with ``classify_uploads`` off and on with the default classifier
   set (``opennsfw``, ``faces``): wall time per upload, median and p95, after one warm-up
   upload, and how many were filed as likely new material (each a false positive of the
   default thresholds). The process is pinned to one core.
2. Queue: a SQLite database with N cases whose priority signals are spread over 0-1 (a
   tenth likely, a third with a match), listed through `vangnet.review.cases.list_cases`
   the way ``GET /v1/cases`` does (limit 100): by priority (the default: every open case's
   points computed in Python, up to 5,000), by score (``order=score``: the indexed column,
   sorted and limited in the database) and the "likely new material" view. Median of 5.

No figure here is asserted by a test; the numbers go to benchmarks/results and the docs.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import common

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _client(db: Path, **settings: Any) -> Any:
    from fastapi.testclient import TestClient

    from vangnet.api.app import create_app
    from vangnet.config import Settings
    from vangnet.store.migrate import upgrade

    url = f"sqlite:///{db}"
    if not db.exists():
        upgrade(url)
    app = create_app(
        Settings(database_url=url, require_api_keys=False, **settings), start_background=False
    )
    client = TestClient(app, base_url="http://127.0.0.1:5000")
    client.__enter__()
    return client


def uploads(photos: int, work: Path) -> list[list[Any]]:
    paths = sorted((DATA / "photos/bsds500/train").glob("*.jpg"))[:photos]
    datas = [p.read_bytes() for p in paths]
    rows = []
    for label, settings in (
        ("classify_uploads off", {"classify_uploads": False}),
        ("on (opennsfw, faces)", {"classifiers": ["opennsfw", "faces"]}),
    ):
        client = _client(work / f"uploads-{len(rows)}.db", **settings)
        try:
            client.post("/v1/match", content=datas[0])  # warm-up: models load
            times = []
            filed = 0
            for data in datas:
                started = common.now()
                r = client.post("/v1/match", content=data)
                times.append(common.now() - started)
                assert r.status_code == 200, r.text
                body = r.json()
                filed += "case_id" in body  # a benign photo read as likely: a false positive
                assert ("priority" in body) is ("classifiers" in settings), body
        finally:
            client.__exit__(None, None, None)
        ms = [t * 1000 for t in times]
        rows.append([label, len(ms), common.median(ms), common.percentile(ms, 95), filed])
    return rows


def queue(cases: int, work: Path) -> list[list[Any]]:
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from vangnet.config import Settings
    from vangnet.review.cases import list_cases
    from vangnet.review.priority import PriorityWeights
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import upgrade
    from vangnet.store.models import Case, CaseMatch

    url = f"sqlite:///{work / 'queue.db'}"
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(13)
    rows = []
    matches = []
    for i in range(cases):
        value = rng.random()
        rows.append(
            {
                "id": i + 1,
                "key": f"upload:{i}",
                "kind": "upload",
                "title": f"Upload {i}",
                "status": "open",
                "subject": {"scores": {"opennsfw": round(value * 2, 4)}} if value < 0.5 else {},
                "priority_signal": value if value < 0.5 else None,
                "signal_likely": value < 0.1,
            }
        )
        if i % 3 == 0:
            matches.append(
                {
                    "case_id": i + 1,
                    "bank": "B",
                    "content_id": i,
                    "signal_type": "pdq",
                    "distance": 8,
                }
            )
    with Session(engine) as s:
        s.execute(insert(Case), rows)
        s.execute(insert(CaseMatch), matches)
        s.commit()
    weights = PriorityWeights.from_settings(Settings(database_url=url))
    out = []
    for label, kw in (
        ("by priority (default)", {}),
        ("by score", {"order": "score"}),
        ("likely new material", {"order": "score", "likely_new": True}),
    ):
        with Session(engine) as s:

            def run(s: Session = s, kw: dict[str, Any] = kw) -> Any:
                return list_cases(s, status="open", limit=100, weights=weights, **kw)

            shown = len(run())
            ms = [t * 1000 for t in common.timed_repeats(run, 5)]
        out.append([label, cases, shown, common.median(ms)])
    engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    photos, cases = (10, 2000) if args.quick else (50, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        upload_rows = uploads(photos, work)
        queue_rows = queue(cases, work)
    common.print_table(
        "POST /v1/match per upload (ms wall, one core)",
        ["setting", "uploads", "median", "p95", "filed as likely"],
        upload_rows,
    )
    common.print_table(
        "Review queue, 100 shown (ms, median of 5)",
        ["order / view", "cases", "shown", "ms"],
        queue_rows,
    )
    common.write_json(
        "queue",
        {"machine": common.machine_info(), "uploads": upload_rows, "queue": queue_rows},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
