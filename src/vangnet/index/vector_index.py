"""Float vectors (a `FloatVector` signal type): brute-force cosine or Euclidean search.

The vectors live in one float32 matrix (unit length for cosine); a lookup is a matrix
product in blocks. Writers copy and publish a new ``(ids, rows)`` pair under a lock, so
readers never wait and always see a consistent state. Fine for the hundreds of thousands of
rows a bank of embeddings holds; an approximate index (HNSW, IVF) would be a plug-in of its
own behind the same protocol.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vangnet.index.base import Hit, SignalIndex
from vangnet.index.registry import IndexPluginError
from vangnet.index.snapshot import SnapshotError, read_snapshot, write_snapshot
from vangnet.signals.vectors import FloatVector, Vectors, prepare, vector_distances

if TYPE_CHECKING:
    from typing import Self

    from vangnet.signals.base import SignalType

_BLOCK = 1 << 20  # (query, row) pairs per matrix product


class VectorIndex(SignalIndex):
    """Brute-force nearest vectors within a threshold (distance units of the signal type)."""

    name = "vector"
    description = "Float vectors (FloatVector types): brute-force cosine / L2 search, snapshots."
    snapshots = True

    def __init__(self, signal_type: type[FloatVector]) -> None:
        self.signal_type = signal_type
        self._lock = threading.Lock()
        self._state: tuple[np.ndarray[tuple[int], np.dtype[np.int64]], Vectors] = (
            np.zeros(0, np.int64),
            np.zeros((0, signal_type.dimensions), np.float32),
        )

    @staticmethod
    def _vector_type(signal_type: type[SignalType]) -> type[FloatVector]:
        if not issubclass(signal_type, FloatVector):
            raise IndexPluginError(
                f"the vector index serves FloatVector signal types; {signal_type.name} is not one"
            )
        return signal_type

    def _rows(self, values: Sequence[str]) -> Vectors:
        cls = self.signal_type
        return prepare(cls.vectors(list(values)), cls.metric)

    @classmethod
    def build(
        cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]
    ) -> Self:
        index = cls(cls._vector_type(signal_type))
        index.add(values, ids)
        return index

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        ids, rows = self._state
        out: list[list[Hit]] = [[] for _ in values]
        if not values or not ids.size:
            return out
        queries = self._rows(values)
        cls = self.signal_type
        step = max(1, _BLOCK // max(1, ids.size))
        for q0 in range(0, len(values), step):
            d = vector_distances(queries[q0 : q0 + step], rows, cls.metric, cls.scale)
            for qi, ri in zip(*np.nonzero(d <= threshold), strict=True):
                out[q0 + int(qi)].append((int(ids[ri]), int(d[qi, ri])))
        for hits in out:
            hits.sort(key=lambda h: (h[1], h[0]))
        return out

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        if len(values) != len(ids):
            raise IndexPluginError(f"{len(values)} values but {len(ids)} ids")
        new_rows = self._rows(values)
        new_ids = np.asarray(list(ids), np.int64)
        with self._lock:
            old_ids, old_rows = self._state
            keep = ~np.isin(old_ids, new_ids)
            self._state = (
                np.concatenate([old_ids[keep], new_ids]),
                np.concatenate([old_rows[keep], new_rows]),
            )

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            old_ids, old_rows = self._state
            keep = ~np.isin(old_ids, np.asarray(list(ids), np.int64))
            self._state = (old_ids[keep], old_rows[keep])

    def __len__(self) -> int:
        return int(self._state[0].size)

    def save(self, path: str | os.PathLike[str]) -> None:
        ids, rows = self._state
        cls = self.signal_type
        meta = {"dimensions": cls.dimensions, "metric": cls.metric}
        write_snapshot(path, "vector", meta, {"ids": ids, "rows": rows})

    @classmethod
    def load(cls, signal_type: type[SignalType], path: str | os.PathLike[str]) -> Self:
        vector_type = cls._vector_type(signal_type)
        meta, arrays = read_snapshot(path, "vector", mmap=False)
        ids, rows = arrays.get("ids"), arrays.get("rows")
        if (
            meta.get("dimensions") != vector_type.dimensions
            or meta.get("metric") != vector_type.metric
            or ids is None
            or rows is None
            or ids.dtype != np.int64
            or rows.dtype != np.float32
            or rows.shape != (ids.shape[0], vector_type.dimensions)
        ):
            raise SnapshotError(f"vector index snapshot {path} does not fit {signal_type.name}")
        index = cls(vector_type)
        index._state = (ids, rows)
        return index
