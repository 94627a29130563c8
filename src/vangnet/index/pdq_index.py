"""Exact Hamming-distance search over PDQ hashes with multi-index hashing (MIH).

The 256 bits are split into ``m`` chunks (16 x 16 bits for small segments, 4 x 20 + 8 x 22
bits at 10 M rows, see `_widths`). If a stored hash is within distance ``t`` of the query
and chunk ``i`` is probed with radius ``r_i`` (all chunk values within ``r_i`` bits of the
query's), then by pigeonhole it is found as long as ``sum(r_i + 1) > t``. A greedy planner
picks the radii with the lowest estimated cost for the segment size, or a vectorised
brute-force scan if that is cheaper (high thresholds), so results are exact at every
threshold 0..256. Candidates are verified with XOR and ``np.bitwise_count``.

Each chunk has a CSR table: ``offs`` (2**width + 1 uint32 per chunk) and a uint32 permutation
of the rows sorted by chunk value. Rows are stored once as (n, 4) uint64 words, sorted by id.
Updates go through `vangnet.index._segmented` (mid segment, brute-force tail, versions,
background compaction).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vangnet.errors import InvalidHashError, ValidationError
from vangnet.index._segmented import I64, U32, U64, Arr, Segment, SegmentedIndex
from vangnet.index.snapshot import SnapshotError, read_snapshot
from vangnet.signals.pdq import PdqSignal

__all__ = ["PDQIndex", "hex_to_words", "words_to_hex"]

WORDS = 4
BITS = 256
_QUERY_BATCH_PROBES = 1 << 16  # probes (queries x probe values) handled per vectorised step
_SCAN_PAIRS = 1 << 16  # (query, row) pairs per brute-force step (cache-sized)

Hits = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int64]]


# -- conversions -----------------------------------------------------------------------------


def hex_to_words(hexes: Iterable[str]) -> U64:
    """64-hex-digit PDQ hashes -> (n, 4) uint64 words (big-endian quarters of the hash)."""
    items = hexes if isinstance(hexes, list) else list(hexes)
    n = len(items)
    if n == 0:
        return np.zeros((0, WORDS), np.uint64)
    raw: bytes | None = None
    try:
        if set(map(len, items)) == {64}:
            raw = bytes.fromhex("".join(items))
            if len(raw) != 32 * n:  # fromhex skips whitespace
                raw = None
    except (TypeError, ValueError):
        raw = None
    if raw is None:
        parts = []
        for i, item in enumerate(items):
            try:
                parts.append(bytes.fromhex(PdqSignal.validate(item)))
            except InvalidHashError as exc:
                where = f"hash {i}: " if n > 1 else ""
                raise InvalidHashError(f"{where}{exc.message}") from None
        raw = b"".join(parts)
    return np.frombuffer(raw, dtype=">u8").reshape(n, WORDS).astype(np.uint64)


def words_to_hex(words: NDArray[Any]) -> list[str]:
    """Inverse of `hex_to_words` (also accepts (n, 32) uint8 digests)."""
    arr = _as_words(words)
    text = arr.astype(">u8").tobytes().hex()
    return [text[i : i + 64] for i in range(0, len(text), 64)]


def _as_words(words: NDArray[Any]) -> U64:
    arr = np.asarray(words)
    if arr.ndim == 1 and arr.shape[0] in (WORDS, 32):
        arr = arr.reshape(1, -1)
    if arr.ndim == 2 and arr.shape[1] == 32 and arr.dtype == np.uint8:
        return np.ascontiguousarray(arr).view(">u8").astype(np.uint64)
    if arr.ndim == 2 and arr.shape[1] == WORDS and arr.dtype == np.uint64:
        return np.ascontiguousarray(arr)
    raise InvalidHashError("PDQ arrays must be (n, 4) uint64 or (n, 32) uint8")


def _as_ids(ids: Iterable[int] | NDArray[Any], n: int) -> I64:
    if isinstance(ids, np.ndarray):
        if ids.dtype.kind not in "iu":
            raise ValidationError("ids must be integers")
        arr = ids.astype(np.int64).reshape(-1)
    else:
        try:
            arr = np.fromiter((int(i) for i in ids), dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValidationError(f"ids must be 64-bit integers ({exc})") from None
    if arr.shape[0] != n:
        raise ValidationError(f"{n} hashes but {arr.shape[0]} ids")
    return arr


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer):
        raise ValidationError("threshold must be an integer")
    if not 0 <= threshold <= BITS:
        raise ValidationError(f"threshold must be between 0 and {BITS}")
    return int(threshold)


# -- multi-index tables ------------------------------------------------------------------------


#: measured cost of one probe (CSR offsets + row numbers) relative to one candidate row fetch
_PROBE_PER_CANDIDATE = 2.5
_LAYOUT_THRESHOLD = 31  # the default threshold, which the chunk layout is tuned for
_LAYOUT_MEMORY_SLACK = 1.02  # a tuned layout may use at most 2 % more table + row memory
_LAYOUT_MIN_GAIN = 0.95  # ... and must cut the estimated lookup cost by at least 5 %


def _balanced(total: int, m: int) -> list[int]:
    base, extra = divmod(total, m)
    return [base + 1] * extra + [base] * (m - extra)


def _layout_bytes(n: int, widths: Sequence[int]) -> int:
    """Rows (32 B) + ids (8 B) + permutations (4 B per chunk) + CSR offsets, per segment."""
    return n * (40 + 4 * len(widths)) + 4 * sum((1 << w) + 1 for w in widths)


def _plan_radii(widths: Sequence[int], n: int, t: int, probe: float, cand: float) -> list[int]:
    """Greedy radii with ``sum(r_i + 1) == t + 1`` (optimal: each chunk's step cost grows)."""
    radius = [-1] * len(widths)
    for _ in range(t + 1):
        best, best_cost = -1, math.inf
        for i, w in enumerate(widths):
            if radius[i] + 1 >= w:
                continue
            extra = math.comb(w, radius[i] + 1) * (probe + cand * n / (1 << w))
            if extra < best_cost:
                best, best_cost = i, extra
        if best < 0:
            return []
        radius[best] += 1
    return radius


def _layout_cost(widths: Sequence[int], n: int) -> float:
    """Estimated lookup cost at the default threshold, in candidate row fetches."""
    radii = _plan_radii(widths, n, _LAYOUT_THRESHOLD, _PROBE_PER_CANDIDATE, 1.0)
    if not radii:
        return math.inf
    return sum(
        math.comb(w, k) * (_PROBE_PER_CANDIDATE + n / (1 << w))
        for w, r in zip(widths, radii, strict=True)
        for k in range(r + 1)
    )


def _widths(n: int) -> tuple[int, ...]:
    """Chunk widths for a segment of ``n`` rows.

    Balanced chunks with 2**width ~ n / 4 (at most 22 bits), unless a mix of ``k`` narrower
    chunks (probed with a smaller radius) and wider ones is clearly cheaper at the default
    threshold for about the same memory (e.g. 4 x 20 + 8 x 22 bits instead of 4 x 22 + 8 x 21
    at 10 M rows: ~22 % fewer candidate rows for ~4 % more probes).
    """
    bits = 16 if n < (1 << 18) else min(22, max(16, round(math.log2(n)) - 2))
    m = BITS // bits
    best = balanced = _balanced(BITS, m)
    if n >= 1 << 18:
        limit = _layout_bytes(n, best) * _LAYOUT_MEMORY_SLACK
        best_cost = _layout_cost(best, n) * _LAYOUT_MIN_GAIN
        for k in range(1, m):
            for narrow in range(min(balanced) - 4, min(balanced)):
                layout = [narrow] * k + _balanced(BITS - k * narrow, m - k)
                if max(layout) > 24 or _layout_bytes(n, layout) > limit:
                    continue
                cost = _layout_cost(layout, n)
                if cost < best_cost:
                    best, best_cost = layout, cost
    return tuple(best)


def _chunk(words: U64, start: int, width: int) -> NDArray[np.int64]:
    j, s = divmod(start, 64)
    v = words[:, j] >> np.uint64(s)
    if s + width > 64:
        v = v | (words[:, j + 1] << np.uint64(64 - s))
    return (v & np.uint64((1 << width) - 1)).astype(np.int64)


_MASKS: dict[tuple[int, int], NDArray[np.int64]] = {}


def _masks(width: int, radius: int) -> NDArray[np.int64]:
    """All ``width``-bit values with at most ``radius`` bits set (XOR probe masks)."""
    key = (width, radius)
    masks = _MASKS.get(key)
    if masks is None:
        values = np.arange(1 << width, dtype=np.uint32)
        masks = np.flatnonzero(np.bitwise_count(values) <= radius).astype(np.int64)
        _MASKS[key] = masks
    return masks


@dataclass(frozen=True, slots=True)
class _Plan:
    chunk: NDArray[np.intp]  # per probe: chunk number
    mask: NDArray[np.int64]  # per probe: XOR mask
    obase: NDArray[np.int64]  # per probe: start of the chunk's offsets in `offs`
    pbase: NDArray[np.int64]  # per probe: start of the chunk's permutation in `perm`


@dataclass(slots=True)
class MihTables:
    widths: tuple[int, ...]
    offs: U32  # concatenated per chunk: 2**width + 1 bucket offsets
    perm: U32  # (m, n) rows sorted by chunk value
    n: int
    starts: tuple[int, ...] = ()
    obase: tuple[int, ...] = ()
    plans: dict[tuple[int, float, float, float], _Plan | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.starts = tuple(int(s) for s in np.cumsum((0, *self.widths[:-1])))
        self.obase = tuple(
            int(s) for s in np.cumsum([0] + [(1 << w) + 1 for w in self.widths])[:-1]
        )

    def plan(self, t: int, probe: float, cand: float, scan: float) -> _Plan | None:
        key = (t, probe, cand, scan)
        if key in self.plans:
            return self.plans[key]
        plan = self._make_plan(t, probe, cand, scan)
        self.plans[key] = plan
        return plan

    def _make_plan(self, t: int, probe: float, cand: float, scan: float) -> _Plan | None:
        radius = _plan_radii(self.widths, self.n, t, probe, cand)
        if not radius:
            return None
        cost = sum(
            math.comb(w, k) * (probe + cand * self.n / (1 << w))
            for w, r in zip(self.widths, radius, strict=True)
            for k in range(r + 1)
        )
        if cost > scan * self.n:
            return None
        chunks, masks, obase, pbase = [], [], [], []
        for i, r in enumerate(radius):
            if r < 0:
                continue
            mk = _masks(self.widths[i], r)
            chunks.append(np.full(mk.size, i, np.intp))
            masks.append(mk)
            obase.append(np.full(mk.size, self.obase[i], np.int64))
            pbase.append(np.full(mk.size, i * self.n, np.int64))
        return _Plan(
            np.concatenate(chunks),
            np.concatenate(masks),
            np.concatenate(obase),
            np.concatenate(pbase),
        )

    def query_chunks(self, qwords: U64) -> NDArray[np.int64]:
        if qwords.shape[0] <= 8:  # few queries: Python ints beat ~6 numpy calls per chunk
            out = np.empty((qwords.shape[0], len(self.widths)), np.int64)
            for qi, (w0, w1, w2, w3) in enumerate(qwords.tolist()):
                v = w0 | (w1 << 64) | (w2 << 128) | (w3 << 192)
                out[qi] = [
                    (v >> s) & ((1 << w) - 1) for s, w in zip(self.starts, self.widths, strict=True)
                ]
            return out
        cols = [_chunk(qwords, s, w) for s, w in zip(self.starts, self.widths, strict=True)]
        return np.stack(cols, axis=1)


def _argsort_chunk(values: NDArray[np.int64], width: int) -> U32:
    """Stable argsort of < 2**32 keys by two 16-bit radix passes (numpy radix-sorts uint16)."""
    if width <= 16:
        return np.argsort(values.astype(np.uint16), kind="stable").astype(np.uint32)
    first = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    second = np.argsort((values[first] >> 16).astype(np.uint16), kind="stable")
    return first[second].astype(np.uint32)


def build_tables(words: U64) -> MihTables:
    n = int(words.shape[0])
    widths = _widths(n)
    tables = MihTables(widths, np.zeros(0, np.uint32), np.zeros((len(widths), 0), np.uint32), n)
    if n == 0:
        return tables
    if n >= 1 << 32:
        raise ValidationError("a PDQ index segment holds at most 2**32 - 1 hashes")
    offs = np.zeros(sum((1 << w) + 1 for w in widths), np.uint32)
    perm = np.empty((len(widths), n), np.uint32)
    for i, (start, width) in enumerate(zip(tables.starts, widths, strict=True)):
        values = _chunk(words, start, width)
        perm[i] = _argsort_chunk(values, width)
        base = tables.obase[i]
        counts = np.bincount(values, minlength=1 << width)
        np.cumsum(counts, out=offs[base + 1 : base + 1 + (1 << width)])
    tables.offs, tables.perm = offs, perm
    return tables


def _row_distances(x: U64) -> NDArray[np.uint32]:
    """Popcount of each (4-word) row of XORed hashes."""
    c = np.bitwise_count(x).view(np.uint32).reshape(-1)  # 4 byte counts per row
    pairs = (c & 0x00FF00FF) + ((c >> 8) & 0x00FF00FF)
    return (pairs & 0xFFFF) + (pairs >> 16)


def scan(words: U64, qwords: U64, t: int) -> Hits:
    """Brute force: all (query, row, distance) with distance <= t."""
    n, q = int(words.shape[0]), int(qwords.shape[0])
    out_q: list[NDArray[np.intp]] = []
    out_r: list[NDArray[np.intp]] = []
    out_d: list[NDArray[np.int64]] = []
    if n and q:
        rows_step = min(n, max(4096, _SCAN_PAIRS // q))
        q_step = max(1, _SCAN_PAIRS // rows_step)
        for r0 in range(0, n, rows_step):
            block = words[r0 : r0 + rows_step]
            for q0 in range(0, q, q_step):
                qb = qwords[q0 : q0 + q_step]
                d = np.bitwise_count(block[None, :, 0] ^ qb[:, None, 0]).astype(np.uint16)
                for j in range(1, WORDS):
                    d += np.bitwise_count(block[None, :, j] ^ qb[:, None, j])
                qi, ri = np.nonzero(d <= t)
                if qi.size:
                    out_q.append(qi + q0)
                    out_r.append(ri + r0)
                    out_d.append(d[qi, ri].astype(np.int64))
    if not out_q:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.int64)
    return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)


def mih_search(words: U64, tables: MihTables, plan: _Plan, qwords: U64, t: int) -> Hits:
    n_probes = int(plan.mask.size)
    q = int(qwords.shape[0])
    step = max(1, _QUERY_BATCH_PROBES // n_probes)
    offs, perm = tables.offs, tables.perm.reshape(-1)
    out_q: list[NDArray[np.intp]] = []
    out_r: list[NDArray[np.intp]] = []
    out_d: list[NDArray[np.int64]] = []
    for q0 in range(0, q, step):
        qb = qwords[q0 : q0 + step]
        k = int(qb.shape[0])
        oidx = tables.query_chunks(qb)[:, plan.chunk]  # (queries, probes)
        oidx ^= plan.mask
        oidx += plan.obase
        starts = offs.take(oidx).reshape(-1)
        oidx += 1
        lens = offs.take(oidx).reshape(-1)
        lens -= starts
        ends = np.cumsum(lens, dtype=np.int64)
        total = int(ends[-1])
        if total == 0:
            continue
        # position in `perm` of every candidate: bucket start + rank within the bucket
        first = starts.astype(np.int64)
        first += plan.pbase if k == 1 else np.tile(plan.pbase, k)
        first -= ends
        first += lens
        pos = np.repeat(first, lens)
        pos += np.arange(total, dtype=np.int64)
        rows = perm.take(pos)
        x = words.take(rows, axis=0)
        if k == 1:  # a contiguous XOR (broadcasting a (1, 4) row is slow)
            flat = x.reshape(-1)
            np.bitwise_xor(flat, np.tile(qb.reshape(-1), total), out=flat)
            d = _row_distances(x)
            hit = np.flatnonzero(d <= t)
            out_q.append(np.full(hit.size, q0, np.intp))
        else:
            cq = np.repeat(np.arange(k), lens.reshape(k, n_probes).sum(axis=1, dtype=np.int64))
            x ^= qb.take(cq, axis=0)
            d = _row_distances(x)
            hit = np.flatnonzero(d <= t)
            out_q.append(cq[hit] + q0)
        out_r.append(rows[hit].astype(np.intp))
        out_d.append(d[hit].astype(np.int64))
    if not out_q:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.int64)
    return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)


# -- the index ---------------------------------------------------------------------------------


class PDQIndex(SegmentedIndex[MihTables]):
    """Exact PDQ Hamming search with incremental updates and snapshots.

    Thread-safe: lookups never block; writers serialise; compaction runs in the background.
    """

    #: relative costs used to choose between multi-index probing and a brute-force scan
    probe_cost: float = 3.0
    candidate_cost: float = 4.0
    scan_cost: float = 1.0

    _snapshot_kind = "pdq"

    def __init__(self) -> None:
        super().__init__(WORDS)

    # construction ------------------------------------------------------------------------

    @classmethod
    def build(cls, hashes: Iterable[str], ids: Iterable[int] | None = None) -> PDQIndex:
        words = hex_to_words(hashes)
        return cls.build_array(words, None if ids is None else _as_ids(ids, words.shape[0]))

    @classmethod
    def build_array(cls, words: NDArray[Any], ids: NDArray[Any] | None = None) -> PDQIndex:
        """Build from (n, 4) uint64 words or (n, 32) uint8 digests.

        A C-contiguous (n, 4) uint64 array already in id order (e.g. default ids) is used
        without copying, to keep peak memory low: do not modify it afterwards.
        """
        arr = _as_words(words)
        n = int(arr.shape[0])
        id_arr = np.arange(n, dtype=np.int64) if ids is None else _as_ids(ids, n)
        index = cls()
        index._set_main(arr, id_arr)
        return index

    # updates -----------------------------------------------------------------------------

    def add(self, hashes: Iterable[str], ids: Iterable[int]) -> None:
        """Add hashes; an id that is already present is replaced."""
        words = hex_to_words(hashes)
        self._add_rows(words, _as_ids(ids, words.shape[0]))

    def add_array(self, words: NDArray[Any], ids: NDArray[Any]) -> None:
        arr = _as_words(words)
        self._add_rows(arr.copy(), _as_ids(ids, arr.shape[0]))

    def add_words(self, words: U64, ids: I64) -> None:
        """`add_array` for a C-contiguous (n, 4) uint64 array the caller hands over (no copy:
        do not modify it afterwards)."""
        arr = _as_words(words)
        self._add_rows(arr, _as_ids(ids, arr.shape[0]))

    def remove(self, ids: Iterable[int] | NDArray[Any]) -> None:
        """Remove ids; unknown ids are ignored."""
        arr = ids if isinstance(ids, np.ndarray) else list(ids)
        self._remove_ids(_as_ids(arr, len(arr)))

    # lookups -----------------------------------------------------------------------------

    def query(self, hex: str, threshold: int = 31) -> list[tuple[int, int]]:
        """(id, distance) of every stored hash within ``threshold``, by distance then id."""
        return self.query_many([hex], threshold)[0]

    def query_many(self, hexes: Sequence[str], threshold: int = 31) -> list[list[tuple[int, int]]]:
        return self._to_lists(len(hexes), *self.query_array(hex_to_words(hexes), threshold))

    def query_array_many(
        self, words: NDArray[Any], threshold: int = 31
    ) -> list[list[tuple[int, int]]]:
        arr = _as_words(words)
        return self._to_lists(arr.shape[0], *self.query_array(arr, threshold))

    def query_array(
        self, words: NDArray[Any], threshold: int = 31
    ) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]]:
        """Raw matches for (n, 4) uint64 / (n, 32) uint8 queries: (query number, id, distance)
        arrays, sorted by query number, distance, id."""
        return self._lookup(_as_words(words), _check_threshold(threshold))

    @staticmethod
    def _to_lists(
        n: int, q: NDArray[np.intp], ids: NDArray[np.int64], dist: NDArray[np.int64]
    ) -> list[list[tuple[int, int]]]:
        bounds = np.searchsorted(q, np.arange(n + 1)).tolist()
        id_list, d_list = ids.tolist(), dist.tolist()
        return [
            list(zip(id_list[a:b], d_list[a:b], strict=True)) for a, b in itertools.pairwise(bounds)
        ]

    # segment hooks -----------------------------------------------------------------------

    def _tables(self, words: U64) -> MihTables:
        return build_tables(words)

    def _search(self, seg: Segment[MihTables], qwords: U64, param: int) -> Hits:
        tables = seg.tables
        plan = (
            None
            if param >= BITS
            else tables.plan(param, self.probe_cost, self.candidate_cost, self.scan_cost)
        )
        if plan is None:
            return scan(seg.words, qwords, param)
        return mih_search(seg.words, tables, plan, qwords, param)

    def _scan(self, words: U64, qwords: U64, param: int) -> Hits:
        return scan(words, qwords, param)

    # snapshots ---------------------------------------------------------------------------

    def _tables_to_arrays(self, tables: MihTables) -> dict[str, Arr]:
        widths = np.array(tables.widths, np.int64)
        return {"widths": widths, "offs": tables.offs, "perm": tables.perm}

    def _tables_from_arrays(self, words: U64, arrays: Mapping[str, Arr]) -> MihTables:
        n = int(words.shape[0])
        widths = tuple(int(w) for w in arrays["widths"])
        if sum(widths) != BITS or not all(1 <= w <= 24 for w in widths):
            raise SnapshotError("PDQ index snapshot is corrupt (chunk widths)")
        offs, perm = arrays["offs"], arrays["perm"]
        tables = MihTables(widths, offs, perm, n)
        if n == 0:
            return tables
        ends = [tables.obase[i] + (1 << w) for i, w in enumerate(widths)]
        if (
            offs.dtype != np.uint32
            or perm.dtype != np.uint32
            or perm.shape != (len(widths), n)
            or offs.shape != (sum((1 << w) + 1 for w in widths),)
            or bool(np.any(offs[ends] != n))
            or bool(np.any(offs[list(tables.obase)] != 0))
        ):
            raise SnapshotError("PDQ index snapshot is corrupt (tables)")
        return tables

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True
    ) -> PDQIndex:
        """Load a snapshot; raises `SnapshotError` if it is missing, truncated or corrupt.

        With ``mmap`` the large arrays are memory-mapped read-only (pages load on demand).
        """
        meta, arrays = read_snapshot(path, cls._snapshot_kind, mmap=mmap, verify=verify)
        index = cls()
        index._restore(meta, arrays)
        return index
