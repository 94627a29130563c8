"""ExactIndex: digest lookups, updates, concurrency and snapshots."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from vangnet.errors import InvalidHashError, ValidationError
from vangnet.index.exact_index import ExactIndex
from vangnet.index.snapshot import SnapshotError


def digests(algorithm: str, start: int, count: int) -> list[str]:
    return [
        hashlib.new(algorithm, str(i).encode()).hexdigest() for i in range(start, start + count)
    ]


def model_query(stored: dict[int, str], value: str) -> list[int]:
    return sorted(i for i, v in stored.items() if v == value)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_lookup_matches_model(algorithm: str) -> None:
    values = digests(algorithm, 0, 2000)
    values += values[:10]  # the same digest under several ids
    ids = [3 * i - 100 for i in range(len(values))]
    stored = dict(zip(ids, values, strict=True))
    index = ExactIndex.build(values, ids)
    assert index.hex_length == len(values[0])
    queries = values[::37] + digests(algorithm, 5000, 20) + [values[0].upper()]
    assert index.query_many(queries) == [model_query(stored, q.lower()) for q in queries]
    assert index.query(values[3]) == [-91, 5909]
    assert len(index) == len(values)


def test_prefix_collisions_are_told_apart() -> None:
    base = "ab" * 8
    values = [base + f"{i:016x}" for i in range(50)] + [base + "0" * 16]
    index = ExactIndex.build(values, hex_length=32)
    assert index.query(base + f"{7:016x}") == [7]
    assert index.query(base + "0" * 16) == [0, 50]
    assert index.query(base + "f" * 16) == []
    index.tail_rows = 10
    index.add([base + "f" * 16, base + "e" * 16], [100, 101])
    assert index.query(base + "f" * 16) == [100]


def test_invalid_values() -> None:
    index = ExactIndex.build(digests("md5", 0, 3))
    for bad in ["", "xyz", "0" * 31, "0" * 64, "g" * 32, None]:
        with pytest.raises(InvalidHashError):
            index.query(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidHashError):
            index.add([bad], [1])  # type: ignore[list-item]
    with pytest.raises(InvalidHashError):
        ExactIndex.build([*digests("md5", 0, 2), digests("sha1", 0, 1)[0]])
    with pytest.raises(ValidationError):
        ExactIndex.build(digests("md5", 0, 2), ids=[1, 1])
    with pytest.raises(ValidationError):
        ExactIndex(hex_length=3)
    assert ExactIndex.build([]).query("0" * 64) == []


def test_updates_and_compaction_match_model() -> None:
    rng = np.random.default_rng(1)
    values = digests("sha1", 0, 1000)
    stored = dict(enumerate(values))
    index = ExactIndex.build(values)
    index.tail_rows = 30
    index.compaction_min_rows = 200
    index.compaction_fraction = 0.0
    pool = digests("sha1", 0, 1500)
    next_id = 1000
    for step in range(80):
        if step % 3 == 0:
            new = [pool[int(k)] for k in rng.integers(len(pool), size=int(rng.integers(1, 40)))]
            new_ids = list(range(next_id, next_id + len(new)))
            next_id += len(new)
            index.add(new, new_ids)
            stored.update(zip(new_ids, new, strict=True))
        elif step % 3 == 1:
            gone = [*rng.choice(sorted(stored), size=20, replace=False).tolist(), -5]
            index.remove(gone)
            for i in gone:
                stored.pop(i, None)
        else:
            again = rng.choice(sorted(stored), size=5, replace=False).tolist()
            new = [pool[int(k)] for k in rng.integers(len(pool), size=5)]
            index.add(new, again)
            stored.update(zip(again, new, strict=True))
        if step % 10 == 9:
            index.compact(wait=step % 20 == 9)
        queries = pool[::7]
        assert index.query_many(queries) == [model_query(stored, q) for q in queries]
        assert len(index) == len(stored)


def test_concurrent_readers() -> None:
    values = digests("sha256", 0, 2000)
    flip_a, flip_b = digests("sha256", 10_000, 2)
    index = ExactIndex.build([*values, flip_a], [*range(2000), 77_777])
    index.tail_rows = 32
    index.compaction_min_rows = 100
    index.compaction_fraction = 0.0
    stop = threading.Event()
    errors: list[str] = []
    probes = values[::200]

    def reader() -> None:
        while not stop.is_set():
            got = index.query_many([flip_a, flip_b, *probes])
            if sum(77_777 in hits for hits in got[:2]) != 1:
                errors.append(f"flipping id: {got[:2]}")
            if got[2:] != [[k * 200] for k in range(len(probes))]:
                errors.append("stable digest lost")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        churn = digests("sha256", 20_000, 300)
        for step in range(300):
            index.add([flip_b if step % 2 == 0 else flip_a], [77_777])
            index.add([churn[step]], [-1 - step])
            if step % 2:
                index.remove([-step])
    finally:
        stop.set()
        for t in threads:
            t.join()
    index.compact()
    assert not errors, errors[:5]


def test_save_load(tmp_path: Path) -> None:
    values = digests("md5", 0, 500)
    index = ExactIndex.build(values)
    index.remove([4, 5])
    index.add([values[0], "0" * 32], [900, 901])
    path = tmp_path / "md5.idx"
    index.save(path)
    loaded = ExactIndex.load(path, mmap=False)
    assert loaded.hex_length == 32
    assert len(loaded) == len(index) == 500
    assert loaded.query(values[0]) == [0, 900]
    assert loaded.query(values[4]) == []
    assert loaded.query("0" * 32) == [901]
    data = path.read_bytes()
    broken = tmp_path / "broken.idx"
    broken.write_bytes(data[:-10])
    with pytest.raises(SnapshotError):
        ExactIndex.load(broken)
    flipped = bytearray(data)
    flipped[100] ^= 1
    broken.write_bytes(bytes(flipped))
    with pytest.raises(SnapshotError, match="corrupt"):
        ExactIndex.load(broken)
