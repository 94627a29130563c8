"""Hamming search over hashes of any bit length (``bits`` of a `HammingBits` signal type).

Rows are the hashes as big-endian ``uint64`` words (left-padded with zero bits); a lookup is
a vectorised brute-force scan with ``np.bitwise_count``, exact at every threshold. Updates,
versions, compaction and snapshots come from `vangnet.index._segmented`. PDQ has its own
multi-index (`vangnet.index.pdq_index`), which is much faster on millions of hashes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vangnet.errors import InvalidHashError, ValidationError
from vangnet.index._segmented import U64, Segment, SegmentedIndex
from vangnet.index.base import Hit, SignalIndex
from vangnet.index.pdq_index import _as_ids
from vangnet.index.registry import IndexPluginError
from vangnet.index.snapshot import SnapshotError, read_snapshot
from vangnet.signals.base import HammingBits

if TYPE_CHECKING:
    from typing import Self

    from vangnet.signals.base import SignalType

_SCAN_PAIRS = 1 << 16
Hits = tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int64]]


class BitsIndex(SegmentedIndex[None]):
    """The segmented store of ``bits``-bit hashes with brute-force search."""

    _snapshot_kind = "hamming"

    def __init__(self, bits: int) -> None:
        if bits <= 0 or bits % 4:
            raise ValidationError("bits must be a positive multiple of 4")
        self.bits = bits
        self._hex = bits // 4
        super().__init__(-(-bits // 64))

    def parse(self, values: Sequence[str]) -> U64:
        width = self._width
        out = np.zeros((len(values), width), np.uint64)
        for i, value in enumerate(values):
            if not isinstance(value, str) or len(value) != self._hex:
                raise InvalidHashError(f"expected {self._hex} hexadecimal digits")
            try:
                raw = bytes.fromhex(value.rjust(width * 16, "0"))
            except ValueError:
                raise InvalidHashError(f"expected {self._hex} hexadecimal digits") from None
            out[i] = np.frombuffer(raw, dtype=">u8")
        return out

    def _tables(self, words: U64) -> None:
        return None

    def _search(self, seg: Segment[None], qwords: U64, param: int) -> Hits:
        return self._scan(seg.words, qwords, param)

    def _scan(self, words: U64, qwords: U64, param: int) -> Hits:
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
                    d = np.zeros((qb.shape[0], block.shape[0]), np.int64)
                    for j in range(self._width):
                        d += np.bitwise_count(block[None, :, j] ^ qb[:, None, j])
                    qi, ri = np.nonzero(d <= param)
                    out_q.append(qi + q0)
                    out_r.append(ri + r0)
                    out_d.append(d[qi, ri])
        if not out_q:
            return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.int64)
        return np.concatenate(out_q), np.concatenate(out_r), np.concatenate(out_d)

    def _snapshot_meta(self) -> dict[str, Any]:
        return {"bits": self.bits}


class HammingIndex(SignalIndex):
    """Hashes of any bit length (a `HammingBits` signal type): brute-force Hamming search."""

    name = "hamming"
    description = "Bit hashes of any length (HammingBits types): brute-force Hamming search."
    snapshots = True

    def __init__(self, store: BitsIndex) -> None:
        self.store = store

    @staticmethod
    def _bits(signal_type: type[SignalType]) -> int:
        if not issubclass(signal_type, HammingBits):
            raise IndexPluginError(
                f"the hamming index serves HammingBits signal types; {signal_type.name} is not one"
            )
        return signal_type.bits

    @classmethod
    def build(
        cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]
    ) -> Self:
        store = BitsIndex(cls._bits(signal_type))
        words = store.parse(values)
        store._set_main(words, _as_ids(list(ids), words.shape[0]))
        return cls(store)

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        q, ids, dist = self.store._lookup(self.store.parse(values), threshold)
        out: list[list[Hit]] = [[] for _ in values]
        for qi, i, d in zip(q.tolist(), ids.tolist(), dist.tolist(), strict=True):
            out[qi].append((i, d))
        return out

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        words = self.store.parse(values)
        self.store._add_rows(words, _as_ids(list(ids), words.shape[0]))

    def remove(self, ids: Sequence[int]) -> None:
        self.store._remove_ids(_as_ids(list(ids), len(ids)))

    def __len__(self) -> int:
        return len(self.store)

    def save(self, path: str | os.PathLike[str]) -> None:
        self.store.save(path)

    @classmethod
    def load(cls, signal_type: type[SignalType], path: str | os.PathLike[str]) -> Self:
        meta, arrays = read_snapshot(path, BitsIndex._snapshot_kind)
        bits = cls._bits(signal_type)
        if int(meta.get("bits", -1)) != bits:
            raise SnapshotError(f"hamming index snapshot {path} is not of {bits}-bit hashes")
        store = BitsIndex(bits)
        store._restore(meta, arrays)
        return cls(store)
