"""The per-process indexes (change log, snapshots) and the matcher's per-bank rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks.bank import create_bank, set_bank_enabled
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content, delete_content
from vangnet.errors import NotFoundError
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.signals import vpdq
from vangnet.signals.pdq import pdq_distance
from vangnet.signals.vpdq import VpdqFrame

rng = random.Random(7)


def random_pdq() -> str:
    return f"{rng.getrandbits(256):064x}"


def flip(hex_value: str, bits: int) -> str:
    value = int(hex_value, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def add(engine: Engine, bank: str, **signals: str) -> int:
    with Session(engine) as s:
        content_id = add_content(s, bank=bank, signals=signals, category=Category.parse("vics:1"))
        s.commit()
    return content_id


def make_bank(engine: Engine, name: str, **kwargs: object) -> None:
    with Session(engine) as s:
        create_bank(s, name=name, **kwargs)  # type: ignore[arg-type]
        s.commit()


def test_change_log_keeps_indexes_current(db_engine: Engine, tmp_path: Path) -> None:
    make_bank(db_engine, "A")
    first = random_pdq()
    first_id = add(db_engine, "A", pdq=first, md5="0" * 32)
    indexes = SignalIndexes(db_engine, snapshot_dir=tmp_path / "snap")
    indexes.load()
    matcher = Matcher(indexes)
    with Session(db_engine) as s:
        assert [
            m.content_id for m in matcher.lookup(s, signal_type="pdq", value=flip(first, 10))
        ] == [first_id]
        assert [m.category for m in matcher.lookup(s, signal_type="md5", value="0" * 32)] == [
            "vics:1"
        ]

    second = random_pdq()
    second_id = add(db_engine, "A", pdq=second)
    assert indexes.refresh() >= 1
    with Session(db_engine) as s:
        hits = matcher.lookup(s, signal_type="pdq", value=second)
        assert [(m.content_id, m.distance, m.bank) for m in hits] == [(second_id, 0, "A")]

    # Disabling the bank removes its signals from the index; enabling brings them back.
    with Session(db_engine) as s:
        set_bank_enabled(s, "A", enabled=False)
        s.commit()
    indexes.refresh()
    assert len(indexes.indexes["pdq"]) == 0
    with Session(db_engine) as s:
        assert matcher.lookup(s, signal_type="pdq", value=second) == []
        set_bank_enabled(s, "A", enabled=True)
        s.commit()
    indexes.refresh()
    assert len(indexes.indexes["pdq"]) == 2

    # Deleting content removes it.
    with Session(db_engine) as s:
        delete_content(s, second_id)
        s.commit()
    indexes.refresh()
    with Session(db_engine) as s:
        assert matcher.lookup(s, signal_type="pdq", value=second) == []


def test_snapshot_restart_catches_up_and_bad_snapshot_rebuilds(
    db_engine: Engine, tmp_path: Path
) -> None:
    make_bank(db_engine, "A")
    values = [random_pdq() for _ in range(50)]
    ids = [add(db_engine, "A", pdq=v) for v in values]
    snap = tmp_path / "snap"
    indexes = SignalIndexes(db_engine, snapshot_dir=snap)
    indexes.load()
    assert indexes.save_snapshot() == snap
    later = random_pdq()
    later_id = add(db_engine, "A", pdq=later)  # after the snapshot

    restarted = SignalIndexes(db_engine, snapshot_dir=snap)
    restarted.load()  # snapshot + changes since
    with Session(db_engine) as s:
        matcher = Matcher(restarted)
        assert [m.content_id for m in matcher.lookup(s, signal_type="pdq", value=values[3])] == [
            ids[3]
        ]
        assert [m.content_id for m in matcher.lookup(s, signal_type="pdq", value=later)] == [
            later_id
        ]
    assert len(restarted.indexes["pdq"]) == 51

    assert (snap / "pdq.pdq.idx").is_file() and (snap / "md5.exact.idx").is_file()
    (snap / "pdq.pdq.idx").write_bytes(b"garbage")  # a corrupt snapshot is never fatal
    rebuilt = SignalIndexes(db_engine, snapshot_dir=snap)
    rebuilt.load()
    assert len(rebuilt.indexes["pdq"]) == 51


def test_per_bank_thresholds_and_quality_floor(db_engine: Engine) -> None:
    make_bank(db_engine, "STRICT", thresholds={"pdq": {"threshold": 8, "quality_floor": 90}})
    make_bank(db_engine, "LOOSE", thresholds={"pdq": {"threshold": 40}})
    base = random_pdq()
    add(db_engine, "STRICT", pdq=base)
    add(db_engine, "LOOSE", pdq=base)
    indexes = SignalIndexes(db_engine)
    indexes.load()
    matcher = Matcher(indexes)
    with Session(db_engine) as s:
        near = flip(base, 6)
        assert {m.bank for m in matcher.lookup(s, signal_type="pdq", value=near, quality=95)} == {
            "STRICT",
            "LOOSE",
        }
        assert {m.bank for m in matcher.lookup(s, signal_type="pdq", value=near, quality=60)} == {
            "LOOSE"
        }
        far = flip(base, 35)
        assert {m.bank for m in matcher.lookup(s, signal_type="pdq", value=far)} == {"LOOSE"}
        assert {
            m.bank for m in matcher.lookup(s, signal_type="pdq", value=far, banks=["STRICT"])
        } == set()
        with pytest.raises(NotFoundError):
            matcher.lookup(s, signal_type="pdq", value=far, banks=["NO_SUCH_BANK"])
        batch = matcher.lookup_many(s, signal_type="pdq", values=[near, random_pdq(), far])
        assert [len(r) for r in batch] == [2, 0, 1]


def _video(base: list[str], noise: int) -> list[VpdqFrame]:
    return [VpdqFrame(i, 90, flip(h, noise) if noise else h, float(i)) for i, h in enumerate(base)]


def test_video_index_agrees_with_brute_force_vpdq(db_engine: Engine) -> None:
    make_bank(
        db_engine,
        "VIDEOS",
        thresholds={
            "vpdq": {
                "threshold": 31,
                "quality_floor": 50,
                "query_match_pct": 80.0,
                "index_match_pct": 0.0,
            }
        },
    )
    banked = [random_pdq() for _ in range(30)]
    other = [random_pdq() for _ in range(20)]
    add(db_engine, "VIDEOS", vpdq=vpdq.serialize(_video(banked, 0)))
    add(db_engine, "VIDEOS", vpdq=vpdq.serialize(_video(other, 0)))
    indexes = SignalIndexes(db_engine)
    indexes.load()
    matcher = Matcher(indexes)
    queries = {
        "clip": _video(banked[10:18], 6),  # a short clip cut out of the banked video
        "mixed": _video(banked[:5] + [random_pdq() for _ in range(5)], 4),  # 50 %: no match
        "unrelated": _video([random_pdq() for _ in range(12)], 0),
    }
    with Session(db_engine) as s:
        for name, query in queries.items():
            found = matcher.match_video(s, query)
            brute = vpdq.vpdq_match(query, _video(banked, 0))
            assert (len(found) == 1) == brute.matched, name
            if found:
                assert found[0].query_match_pct == pytest.approx(brute.query_match_pct, abs=0.01)
                assert found[0].index_match_pct == pytest.approx(brute.index_match_pct, abs=0.01)
    assert pdq_distance(banked[0], banked[0]) == 0
