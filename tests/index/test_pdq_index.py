"""PDQIndex: results identical to a brute-force scan, updates, concurrency, snapshots."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from vangnet.errors import InvalidHashError, ValidationError, VangnetError
from vangnet.index import pdq_index
from vangnet.index.pdq_index import PDQIndex, hex_to_words, words_to_hex
from vangnet.index.snapshot import SnapshotError

THRESHOLDS = [0, 1, 10, 15, 16, 31, 32, 47, 64, 100, 255, 256]


def random_hexes(rng: np.random.Generator, n: int) -> list[str]:
    return [rng.bytes(32).hex() for _ in range(n)]


def flip(rng: np.random.Generator, hex_: str, bits: int) -> str:
    value = int(hex_, 16)
    for b in rng.choice(256, size=bits, replace=False).tolist():
        value ^= 1 << b
    return f"{value:064x}"


def brute(stored: dict[int, str], query: str, threshold: int) -> list[tuple[int, int]]:
    q = int(query, 16)
    hits = ((i, (int(h, 16) ^ q).bit_count()) for i, h in stored.items())
    return sorted(((i, d) for i, d in hits if d <= threshold), key=lambda x: (x[1], x[0]))


def planted(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """Random hashes, near-duplicates of them at many distances, and queries."""
    base = random_hexes(rng, n)
    hashes = list(base)
    queries = []
    for d in (0, 1, 5, 15, 16, 17, 30, 31, 32, 33, 47, 48, 64, 100):
        src = base[int(rng.integers(n))]
        hashes.append(flip(rng, src, d))
        queries.append(src)
        queries.append(flip(rng, src, d // 2))
    hashes += hashes[:5]  # duplicate values under other ids
    queries += [*random_hexes(rng, 5), hashes[0]]
    return hashes, queries


def check(index: PDQIndex, stored: dict[int, str], queries: list[str], thresholds: list[int]):
    assert len(index) == len(stored)
    for t in thresholds:
        got = index.query_many(queries, threshold=t)
        want = [brute(stored, q, t) for q in queries]
        assert got == want, f"threshold {t}"
        assert index.query(queries[0], threshold=t) == want[0]


@pytest.fixture(params=["planner", "forced_mih"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "forced_mih":
        monkeypatch.setattr(PDQIndex, "scan_cost", 1e12)
    return str(request.param)


def test_hex_round_trip_and_arrays() -> None:
    rng = np.random.default_rng(0)
    hexes = random_hexes(rng, 20)
    words = hex_to_words(hexes)
    assert words.shape == (20, 4) and words.dtype == np.uint64
    assert words_to_hex(words) == hexes
    raw = np.frombuffer(b"".join(bytes.fromhex(h) for h in hexes), np.uint8).reshape(20, 32)
    assert words_to_hex(raw) == hexes
    assert (hex_to_words([h.upper() for h in hexes]) == words).all()
    assert (hex_to_words([" " + hexes[0] + "\n"]) == words[:1]).all()


@pytest.mark.parametrize(
    "bad", ["", "xyz", "0" * 63, "0" * 65, "g" * 64, "00 " * 21 + "0", None, 12]
)
def test_invalid_hex(bad: object) -> None:
    index = PDQIndex.build(random_hexes(np.random.default_rng(1), 3))
    with pytest.raises(InvalidHashError):
        index.query(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidHashError):
        PDQIndex.build(["0" * 64, bad])  # type: ignore[list-item]
    with pytest.raises(InvalidHashError):
        index.add([bad], [99])  # type: ignore[list-item]
    assert len(index) == 3


def test_invalid_arguments() -> None:
    index = PDQIndex.build(["0" * 64])
    for t in (-1, 257, 3.0, True):
        with pytest.raises(ValidationError):
            index.query("0" * 64, threshold=t)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PDQIndex.build(["0" * 64, "1" * 64], ids=[5, 5])
    with pytest.raises(ValidationError):
        PDQIndex.build(["0" * 64], ids=[1, 2])
    with pytest.raises(InvalidHashError):
        index.add_array(np.zeros((2, 3), np.uint64), np.arange(2))
    assert issubclass(SnapshotError, VangnetError)


def test_empty_index() -> None:
    index = PDQIndex.build([])
    assert len(index) == 0
    assert index.query("0" * 64, threshold=256) == []
    assert index.query_many([], threshold=31) == []
    index.add(["0" * 64], [7])
    assert index.query("0" * 64) == [(7, 0)]


def test_exact_against_brute_force(mode: str) -> None:
    rng = np.random.default_rng(2)
    hashes, queries = planted(rng, 1500)
    ids = rng.permutation(10 * len(hashes))[: len(hashes)].astype(int).tolist()
    stored = dict(zip(ids, hashes, strict=True))
    index = PDQIndex.build(hashes, ids)
    check(index, stored, queries, THRESHOLDS if mode == "planner" else THRESHOLDS[:8])


def test_default_ids_and_negative_ids() -> None:
    hashes = random_hexes(np.random.default_rng(3), 10)
    index = PDQIndex.build(hashes)
    assert index.query(hashes[4], threshold=0) == [(4, 0)]
    index.add([hashes[4]], [-(2**63)])
    assert index.query(hashes[4], threshold=0) == [(-(2**63), 0), (4, 0)]


def test_wide_chunk_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 10 M-row layout family (chunks wider than 16 bits) on a small set."""
    monkeypatch.setattr(pdq_index, "_widths", lambda n: (19,) * 4 + (18,) * 10)
    monkeypatch.setattr(PDQIndex, "scan_cost", 1e12)
    rng = np.random.default_rng(4)
    hashes, queries = planted(rng, 2000)
    index = PDQIndex.build(hashes)
    assert index._state.main.tables.widths == (19,) * 4 + (18,) * 10
    check(index, dict(enumerate(hashes)), queries, [0, 13, 14, 31, 32, 40])


def test_mixed_chunk_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of different widths, probed with different radii (as chosen at 10 M rows)."""
    layout = (14,) * 4 + (17,) * 8 + (16,) * 4
    monkeypatch.setattr(pdq_index, "_widths", lambda n: layout)
    monkeypatch.setattr(PDQIndex, "scan_cost", 1e12)
    rng = np.random.default_rng(6)
    hashes, queries = planted(rng, 2000)
    index = PDQIndex.build(hashes)
    tables = index._state.main.tables
    assert tables.widths == layout
    radii = pdq_index._plan_radii(layout, tables.n, 31, 2.5, 1.0)
    assert sum(r + 1 for r in radii) == 32
    assert len(set(pdq_index._plan_radii(layout, tables.n, 40, 2.5, 1.0))) > 1
    check(index, dict(enumerate(hashes)), queries, [0, 5, 16, 31, 32, 40])


def test_chosen_layouts() -> None:
    for n in [0, 1, 5000, 1 << 18, 10**6, 4 * 10**6, 10**7, 2 * 10**7, 10**8]:
        widths = pdq_index._widths(n)
        assert sum(widths) == 256 and max(widths) <= 24 and min(widths) >= 14
    # 10 M rows: 4 narrower chunks (radius 1) instead of 4 x 22 + 8 x 21 bits, within ~2 % memory
    assert pdq_index._widths(10**7) == (20,) * 4 + (22,) * 8
    balanced = (22,) * 4 + (21,) * 8
    assert pdq_index._layout_bytes(10**7, pdq_index._widths(10**7)) <= 1.02 * (
        pdq_index._layout_bytes(10**7, balanced)
    )
    assert pdq_index._layout_cost((20,) * 4 + (22,) * 8, 10**7) < 0.9 * (
        pdq_index._layout_cost(balanced, 10**7)
    )


def test_updates_match_model(mode: str) -> None:
    rng = np.random.default_rng(5)
    hashes, queries = planted(rng, 600)
    stored = dict(enumerate(hashes))
    index = PDQIndex.build(hashes)
    index.tail_rows = 40
    index.compaction_min_rows = 300
    index.compaction_fraction = 0.0
    next_id = len(hashes)
    for step in range(40):
        action = step % 4
        if action == 0:  # add new rows, some near the queries, some duplicate values
            new = [flip(rng, queries[int(rng.integers(len(queries)))], int(rng.integers(40)))]
            new += [*random_hexes(rng, int(rng.integers(1, 30))), hashes[step]]
            new_ids = list(range(next_id, next_id + len(new)))
            next_id += len(new)
            index.add(new, new_ids)
            stored.update(zip(new_ids, new, strict=True))
        elif action == 1:  # remove existing and unknown ids
            gone = [*rng.choice(sorted(stored), size=15, replace=False).tolist(), 10**12]
            index.remove(gone)
            for i in gone:
                stored.pop(i, None)
        elif action == 2:  # replace (re-add existing ids), with a repeated id: last wins
            again = rng.choice(sorted(stored), size=5, replace=False).tolist()
            values = [flip(rng, queries[k], 3) for k in range(5)]
            index.add([*values, values[0]], [*again, again[1]])
            stored.update(zip(again, values, strict=True))
            stored[again[1]] = values[0]
        else:
            if step % 8 == 3:
                index.compact(wait=True)
            check(index, stored, queries, [0, 31, 64])
    index.compact()
    check(index, stored, queries, [0, 16, 31, 32, 80])


def test_array_api_matches_hex_api() -> None:
    rng = np.random.default_rng(6)
    hashes, queries = planted(rng, 500)
    index = PDQIndex.build_array(hex_to_words(hashes), np.arange(len(hashes)) * 3)
    index.add_array(hex_to_words(hashes[:4]), np.array([1, 2, 4, 5], dtype=np.int64))
    q, ids, dist = index.query_array(hex_to_words(queries), threshold=40)
    lists = index.query_many(queries, threshold=40)
    assert index.query_array_many(hex_to_words(queries), threshold=40) == lists
    flat = [(qi, i, d) for qi, hits in enumerate(lists) for i, d in hits]
    assert flat == list(zip(q.tolist(), ids.tolist(), dist.tolist(), strict=True))


def test_background_compaction_while_writing() -> None:
    rng = np.random.default_rng(7)
    hashes = random_hexes(rng, 2000)
    stored = dict(enumerate(hashes))
    index = PDQIndex.build(hashes)
    index.tail_rows = 50
    index.compaction_min_rows = 100
    index.compaction_fraction = 0.0
    for k in range(30):  # auto compactions start in the background
        new = random_hexes(rng, 20)
        ids = list(range(10_000 + 20 * k, 10_020 + 20 * k))
        index.add(new, ids)
        stored.update(zip(ids, new, strict=True))
        index.remove([k * 7, 10_000 + 20 * k])
        stored.pop(k * 7, None)
        stored.pop(10_000 + 20 * k, None)
    index.compact(wait=True)
    assert len(index) == len(stored)
    queries = [stored[i] for i in list(stored)[::97]]
    check(index, stored, queries, [0, 31])


def test_concurrent_readers_see_exact_states() -> None:
    """Readers run while writers add, remove, replace and compact.

    Stable hashes must always be found exactly; an id that flips between two far-apart
    values must be found under exactly one of them in every single query_many call.
    """
    rng = np.random.default_rng(8)
    stable = random_hexes(rng, 3000)
    a_val, b_val = "0" * 64, "f" * 64
    index = PDQIndex.build([*stable, a_val], [*range(3000), 99_999])
    index.tail_rows = 64
    index.compaction_min_rows = 200
    index.compaction_fraction = 0.0
    stop = threading.Event()
    errors: list[str] = []
    probes = stable[::150]

    def reader() -> None:
        while not stop.is_set():
            got = index.query_many([a_val, b_val, *probes], threshold=31)
            owner = [i for hits in got[:2] for i, _ in hits if i == 99_999]
            if len(owner) != 1:
                errors.append(f"flipping id seen {len(owner)} times")
            for k, hits in enumerate(got[2:]):
                if (k * 150, 0) not in hits or any(i < 0 for i, _ in hits):
                    errors.append(f"stable hash {k * 150} lost: {hits}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        churn = random_hexes(rng, 400)
        for step in range(400):
            index.add([b_val if step % 2 == 0 else a_val], [99_999])
            index.add([churn[step]], [-1 - step])
            if step % 3 == 0:
                index.remove([-1 - (step // 2)])
            if step % 100 == 50:
                index.compact(wait=False)
    finally:
        stop.set()
        for t in threads:
            t.join()
    index.compact()
    assert not errors, errors[:5]


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    hashes, queries = planted(rng, 1000)
    stored = dict(enumerate(hashes))
    index = PDQIndex.build(hashes)
    index.remove([1, 2, 3])
    index.add(queries[:3], [1, 5000, 5001])
    for i in (2, 3):
        del stored[i]
    stored.update({1: queries[0], 5000: queries[1], 5001: queries[2]})
    path = tmp_path / "pdq.idx"
    index.save(path)
    for mmap in (True, False):
        loaded = PDQIndex.load(path, mmap=mmap)
        check(loaded, stored, queries, [0, 31, 64])
        loaded.add([queries[4]], [7000])
        loaded.remove([0])
        loaded.compact()
        assert (7000, 0) in loaded.query(queries[4], threshold=0)
    index.save(path)  # overwrite in place
    assert len(PDQIndex.load(path)) == len(stored)
    assert [p.name for p in tmp_path.iterdir()] == ["pdq.idx"]  # no temp files left


def test_corrupt_snapshots(tmp_path: Path) -> None:
    index = PDQIndex.build(random_hexes(np.random.default_rng(10), 300))
    path = tmp_path / "pdq.idx"
    index.save(path)
    data = path.read_bytes()

    def bad(content: bytes) -> None:
        broken = tmp_path / "broken.idx"
        broken.write_bytes(content)
        with pytest.raises(SnapshotError):
            PDQIndex.load(broken)

    bad(b"")
    bad(data[: len(data) // 2])
    bad(data[:-1])
    bad(b"NOTSNAPS" + data[8:])
    flipped = bytearray(data)
    flipped[200] ^= 0xFF  # inside the first array
    bad(bytes(flipped))
    flipped = bytearray(data)
    flipped[-30] ^= 0x01  # inside the JSON header
    bad(bytes(flipped))
    version = bytearray(data)
    version[-8] = 99  # format version in the trailer
    with pytest.raises(SnapshotError, match="format version"):
        PDQIndex.load(_write(tmp_path / "v.idx", bytes(version)))
    with pytest.raises(SnapshotError):
        PDQIndex.load(tmp_path / "missing.idx")
    from vangnet.index.exact_index import ExactIndex

    with pytest.raises(SnapshotError):
        ExactIndex.load(path)  # a PDQ snapshot is not an exact-index snapshot


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@pytest.mark.slow
def test_large_index_matches_brute_force() -> None:
    rng = np.random.default_rng(11)
    n = 300_000
    words = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    index = PDQIndex.build_array(words)
    queries = words[rng.integers(n, size=200)].copy()
    bits = rng.integers(256, size=(200, 20))
    for qi in range(200):
        for b in bits[qi, : qi % 20].tolist():
            queries[qi, b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    for t in (0, 15, 31, 48):
        q, ids, dist = index.query_array(queries, t)
        rq, rr, rd = pdq_index.scan(words, queries, t)
        assert sorted(zip(q.tolist(), ids.tolist(), dist.tolist(), strict=True)) == sorted(
            zip(rq.tolist(), rr.tolist(), rd.tolist(), strict=True)
        )
