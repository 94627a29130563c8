"""Float-vector signal types (learned embeddings): the capability and its distance.

A type that mixes in `FloatVector` is served by the ``vector`` index. Its distance is an
integer, ``round(scale * d)``, where ``d`` is the cosine distance (1 - cosine similarity) or
the Euclidean distance; `vector_distances` is the one implementation that both the signal
type (`FloatVector.vector_distance`) and the index use, so they always agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt

from vangnet.errors import InvalidHashError

Vectors = npt.NDArray[np.float32]
Metric = Literal["cosine", "l2"]


def prepare(vectors: Vectors, metric: Metric) -> Vectors:
    """Rows as the index stores them: unit length for cosine, as given for l2."""
    rows: Vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if metric == "cosine":
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = (rows / np.where(norms == 0, np.float32(1), norms)).astype(np.float32)
    return rows


def vector_distances(
    queries: Vectors, rows: Vectors, metric: Metric, scale: int
) -> npt.NDArray[np.int64]:
    """(queries x rows) integer distances between prepared vectors."""
    if metric == "cosine":
        d = 1.0 - queries.astype(np.float64) @ rows.astype(np.float64).T
    else:
        q = queries.astype(np.float64)
        r = rows.astype(np.float64)
        sq = (q * q).sum(1)[:, None] + (r * r).sum(1)[None, :] - 2.0 * (q @ r.T)
        d = np.sqrt(np.maximum(sq, 0.0))
    out: npt.NDArray[np.int64] = np.rint(np.maximum(d, 0.0) * scale).astype(np.int64)
    return out


class FloatVector(ABC):
    """Capability of types served by the ``vector`` index: a value is ``dimensions`` floats
    (the canonical text form is the type's own, `vector` reads it)."""

    dimensions: ClassVar[int]
    metric: ClassVar[Metric] = "cosine"
    scale: ClassVar[int] = 1000

    @classmethod
    @abstractmethod
    def vector(cls, value: str) -> Vectors:
        """The vector of a canonical value, shape ``(dimensions,)``; raises
        `InvalidHashError`."""

    @classmethod
    def vectors(cls, values: list[str]) -> Vectors:
        """The vectors of canonical values, one row each, checked for their length."""
        out = np.zeros((len(values), cls.dimensions), np.float32)
        for i, value in enumerate(values):
            vec = np.asarray(cls.vector(value), dtype=np.float32).reshape(-1)
            if vec.shape[0] != cls.dimensions or not np.all(np.isfinite(vec)):
                raise InvalidHashError(f"expected {cls.dimensions} finite numbers")
            out[i] = vec
        return out

    @classmethod
    def vector_distance(cls, a: str, b: str) -> int:
        """The distance the ``vector`` index reports between ``a`` and ``b``."""
        rows = prepare(cls.vectors([a, b]), cls.metric)
        return int(vector_distances(rows[:1], rows[1:], cls.metric, cls.scale)[0, 0])
