"""The IntegrityError fallback of `Triage._write` (h-review: it had no test). Another run of
the same case records a file of this run's next batch, so that batch's flush fails on
(case_id, key); `_write_one_by_one` then re-adds the same `TriageItem` objects (with their
signal rows) one at a time. The concern was that the objects INSERTed before the failing
statement keep the id of the rolled-back INSERT, which on SQLite (id = max + 1) the other run
can take meanwhile; the fallback would then drop the item as "written by another run".
SQLAlchemy clears those ids on the rollback, so nothing is lost: this test plays the race with
real writes (after this run's first batch, and right after its rollback) on SQLite and
PostgreSQL and keeps it so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from vangnet.config import get_settings
from vangnet.sources.archives import walk
from vangnet.store.db import writer
from vangnet.store.models import Case, TriageItem
from vangnet.triage.run import Triage
from vangnet.triage.tuning import Options, TriageTuning


def _other_runs_item(engine: Engine, case_id: int, key: str, name: str) -> None:
    with Session(writer(engine)) as s:
        s.add(
            TriageItem(
                case_id=case_id,
                key=key,
                source="/other",
                chain=["/other", name],
                name=name,
                size=1,
                kind="other",
                status="ok",
            )
        )
        s.commit()


def test_no_file_is_lost_when_another_run_writes_meanwhile(
    db_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "1.bin").write_bytes(os.urandom(100))
    (folder / "2.bin").write_bytes(os.urandom(100))
    Image.effect_noise((128, 128), 64).convert("RGB").save(folder / "3.jpg", quality=90)
    (folder / "4.bin").write_bytes(os.urandom(100))  # other columns set: its own INSERT
    keys = {e.name: e.key for e in walk([folder])}
    assert sorted(keys) == ["1.bin", "2.bin", "3.jpg", "4.bin"]

    state: dict[str, Any] = {"case_id": None, "armed": False}

    def progress(summary: Any, name: str) -> None:
        if state["case_id"] is None:  # after the first batch: the other run records 4.bin
            state["case_id"] = summary.case_id
            _other_runs_item(db_engine, summary.case_id, keys["4.bin"], "4.bin")
            state["armed"] = True

    def after_rollback(session: Session) -> None:
        if state["armed"]:  # this run's second batch failed: the other run writes on
            state["armed"] = False
            _other_runs_item(db_engine, state["case_id"], "other-run-file", "x.bin")

    event.listen(Session, "after_rollback", after_rollback)
    try:
        summary = Triage(
            db_engine,
            case="RACE",
            sources=[str(folder)],
            actor="test",
            options=Options(ocr=False, workers=1, tuning=TriageTuning(batch=2)),
            settings=get_settings(),
            progress=progress,
        ).run()
    finally:
        event.remove(Session, "after_rollback", after_rollback)
    assert state["case_id"] is not None and not state["armed"], "the race was not played"
    assert summary.processed == 4
    with Session(db_engine) as s:
        case_id = s.scalars(select(Case.id).where(Case.id == summary.case_id)).one()
        stored = set(s.scalars(select(TriageItem.key).where(TriageItem.case_id == case_id)))
    missing = sorted(name for name, key in keys.items() if key not in stored)
    assert missing == [], f"files of this run missing from the case: {missing}"
