"""Exact lookup of cryptographic digests (MD5, SHA-1, SHA-256 hex) for millions of values.

Digests are stored as (n, words) uint64 rows (zero-padded to whole words) sorted by id; the
search table of a segment is its first words sorted (``keys``) plus a uint32 permutation, so a
lookup is a binary search and a comparison of the full digest. Several ids may share a digest.
Updates, versions, background compaction and snapshots come from
`vangnet.index._segmented` (the same guarantees as `vangnet.index.pdq_index.PDQIndex`).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vangnet.errors import InvalidHashError, ValidationError
from vangnet.index._segmented import U32, U64, Arr, Segment, SegmentedIndex
from vangnet.index.pdq_index import _as_ids
from vangnet.index.snapshot import SnapshotError, read_snapshot

__all__ = ["ExactIndex"]

_HEX = re.compile(r"[0-9a-f]+")
_SCAN_PAIRS = 1 << 20

Hits = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int64]]


@dataclass(frozen=True, slots=True)
class SortedTables:
    keys: U64  # first word of every row, sorted
    perm: U32  # row numbers in key order


def _empty_hits() -> Hits:
    return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.int64)


class ExactIndex(SegmentedIndex[SortedTables]):
    """Exact digest lookup; all values of one index have the same hex length.

    Thread-safe: lookups never block; writers serialise; compaction runs in the background.
    """

    _snapshot_kind = "exact"

    def __init__(self, hex_length: int = 64) -> None:
        if hex_length <= 0 or hex_length % 2:
            raise ValidationError("hex_length must be a positive even number")
        self.hex_length = hex_length
        self._nbytes = hex_length // 2
        super().__init__(-(-self._nbytes // 8))

    # conversions -------------------------------------------------------------------------

    def _parse(self, values: Iterable[str]) -> U64:
        items = values if isinstance(values, list) else list(values)
        n, size = len(items), self._nbytes
        raw: bytes | None = None
        try:
            if n and set(map(len, items)) == {self.hex_length}:
                raw = bytes.fromhex("".join(items))
                if len(raw) != size * n:
                    raw = None
        except (TypeError, ValueError):
            raw = None
        if raw is None:
            parts = []
            for i, item in enumerate(items):
                text = item.strip().lower() if isinstance(item, str) else ""
                if len(text) != self.hex_length or not _HEX.fullmatch(text):
                    where = f"value {i}: " if n > 1 else ""
                    raise InvalidHashError(
                        f"{where}expected {self.hex_length} hexadecimal characters"
                    )
                parts.append(bytes.fromhex(text))
            raw = b"".join(parts)
        padded = np.zeros((n, self._width * 8), np.uint8)
        padded[:, :size] = np.frombuffer(raw, np.uint8).reshape(n, size)
        return padded.view(">u8").astype(np.uint64)

    # construction and updates ------------------------------------------------------------

    @classmethod
    def build(
        cls,
        values: Iterable[str],
        ids: Iterable[int] | None = None,
        *,
        hex_length: int | None = None,
    ) -> ExactIndex:
        items = list(values)
        if hex_length is None:
            first = items[0] if items else ""
            hex_length = len(first.strip()) if isinstance(first, str) and first.strip() else 64
        index = cls(hex_length)
        words = index._parse(items)
        n = int(words.shape[0])
        index._set_main(words, np.arange(n, dtype=np.int64) if ids is None else _as_ids(ids, n))
        return index

    def add(self, values: Iterable[str], ids: Iterable[int]) -> None:
        """Add digests; an id that is already present is replaced."""
        words = self._parse(values)
        self._add_rows(words, _as_ids(ids, words.shape[0]))

    def remove(self, ids: Iterable[int] | NDArray[Any]) -> None:
        """Remove ids; unknown ids are ignored."""
        arr = ids if isinstance(ids, np.ndarray) else list(ids)
        self._remove_ids(_as_ids(arr, len(arr)))

    # lookups -----------------------------------------------------------------------------

    def query(self, value: str) -> list[int]:
        """Ids stored with exactly this digest, ascending."""
        return self.query_many([value])[0]

    def query_many(self, values: Sequence[str]) -> list[list[int]]:
        q, ids, _ = self._lookup(self._parse(values), 0)
        bounds = np.searchsorted(q, np.arange(len(values) + 1)).tolist()
        id_list = ids.tolist()
        return [id_list[a:b] for a, b in itertools.pairwise(bounds)]

    # segment hooks -----------------------------------------------------------------------

    def _tables(self, words: U64) -> SortedTables:
        if words.shape[0] >= 1 << 32:
            raise ValidationError("an exact index segment holds at most 2**32 - 1 values")
        first = words[:, 0]
        perm = np.argsort(first, kind="stable").astype(np.uint32)
        return SortedTables(first[perm], perm)

    def _search(self, seg: Segment[SortedTables], qwords: U64, param: int) -> Hits:
        keys, perm = seg.tables.keys, seg.tables.perm
        lo = np.searchsorted(keys, qwords[:, 0], side="left")
        hi = np.searchsorted(keys, qwords[:, 0], side="right")
        lens = (hi - lo).astype(np.int64)
        nz = np.flatnonzero(lens)
        if nz.size == 0:
            return _empty_hits()
        lens_nz = lens[nz]
        ends = np.cumsum(lens_nz)
        pos = np.repeat(lo[nz] - (ends - lens_nz), lens_nz) + np.arange(int(ends[-1]))
        rows = perm[pos].astype(np.intp)
        cq = np.repeat(nz, lens_nz)
        same = np.all(seg.words.take(rows, axis=0) == qwords[cq], axis=1)
        return cq[same], rows[same], np.zeros(int(np.count_nonzero(same)), np.int64)

    def _scan(self, words: U64, qwords: U64, param: int) -> Hits:
        n, q = int(words.shape[0]), int(qwords.shape[0])
        if not n or not q:
            return _empty_hits()
        out_q: list[NDArray[np.intp]] = []
        out_r: list[NDArray[np.intp]] = []
        rows_step = min(n, max(4096, _SCAN_PAIRS // q))
        q_step = max(1, _SCAN_PAIRS // rows_step)
        for r0 in range(0, n, rows_step):
            block = words[r0 : r0 + rows_step]
            for q0 in range(0, q, q_step):
                qb = qwords[q0 : q0 + q_step]
                eq = block[None, :, 0] == qb[:, None, 0]
                for j in range(1, self._width):
                    eq &= block[None, :, j] == qb[:, None, j]
                qi, ri = np.nonzero(eq)
                out_q.append(qi + q0)
                out_r.append(ri + r0)
        qs, rs = np.concatenate(out_q), np.concatenate(out_r)
        return qs, rs, np.zeros(qs.size, np.int64)

    # snapshots ---------------------------------------------------------------------------

    def _snapshot_meta(self) -> dict[str, Any]:
        return {"hex_length": self.hex_length}

    def _tables_to_arrays(self, tables: SortedTables) -> dict[str, Arr]:
        return {"keys": tables.keys, "perm": tables.perm}

    def _tables_from_arrays(self, words: U64, arrays: Mapping[str, Arr]) -> SortedTables:
        keys, perm = arrays["keys"], arrays["perm"]
        n = int(words.shape[0])
        if (
            keys.dtype != np.uint64
            or perm.dtype != np.uint32
            or keys.shape != (n,)
            or perm.shape != (n,)
            or (n > 1 and not bool(np.all(keys[1:] >= keys[:-1])))
        ):
            raise SnapshotError("exact index snapshot is corrupt (tables)")
        return SortedTables(keys, perm)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True
    ) -> ExactIndex:
        """Load a snapshot; raises `SnapshotError` if it is missing, truncated or corrupt."""
        meta, arrays = read_snapshot(path, cls._snapshot_kind, mmap=mmap, verify=verify)
        try:
            index = cls(int(meta["hex_length"]))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise SnapshotError(f"exact index snapshot is corrupt ({exc})") from None
        index._restore(meta, arrays)
        return index
