"""The PDQ multi-index and the digest index behind the index protocol.

Thin adapters: every call is one batch call of `PDQIndex` / `ExactIndex`, so the protocol
adds no per-hash work on the hot path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vangnet.errors import ValidationError
from vangnet.index.base import Found, Hit, RulesOf, SignalIndex
from vangnet.index.exact_index import ExactIndex
from vangnet.index.pdq_index import PDQIndex, hex_to_words

if TYPE_CHECKING:
    from typing import Self

    from vangnet.signals.base import SignalType


class PdqMihIndex(SignalIndex):
    """256-bit PDQ hashes: exact Hamming search by multi-index hashing (`PDQIndex`)."""

    name = "pdq"
    description = "PDQ hashes (256 bits): multi-index Hamming search, incremental, snapshots."
    snapshots = True

    def __init__(self, index: PDQIndex) -> None:
        self.index = index

    @classmethod
    def build(
        cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]
    ) -> Self:
        return cls(PDQIndex.build(list(values), list(ids)))

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        return self.index.query_many(values, threshold)

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        self.index.add(list(values), list(ids))

    def add_pages(self, pages: Iterable[tuple[Sequence[str], Sequence[int]]]) -> None:
        """Each page becomes (n, 4) words at once (32 bytes a hash instead of a Python
        string); one merge into the index at the end."""
        words: list[NDArray[np.uint64]] = []
        ids: list[NDArray[np.int64]] = []
        for page_values, page_ids in pages:
            if len(page_values) != len(page_ids):
                raise ValidationError(f"{len(page_values)} hashes but {len(page_ids)} ids")
            words.append(hex_to_words(list(page_values)))
            ids.append(np.fromiter(page_ids, dtype=np.int64, count=len(page_ids)))
        if words:
            self.index.add_words(np.concatenate(words), np.concatenate(ids))

    def remove(self, ids: Sequence[int]) -> None:
        self.index.remove(list(ids))

    def __len__(self) -> int:
        return len(self.index)

    def save(self, path: str | os.PathLike[str]) -> None:
        self.index.save(path)

    @classmethod
    def load(cls, signal_type: type[SignalType], path: str | os.PathLike[str]) -> Self:
        return cls(PDQIndex.load(path))


class DigestIndex(SignalIndex):
    """Cryptographic digests (hex): exact lookup (`ExactIndex`); the distance is always 0."""

    name = "exact"
    description = "Hex digests (MD5, SHA-1, SHA-256, ...): exact lookup, snapshots."
    snapshots = True

    def __init__(self, index: ExactIndex | None) -> None:
        self.index = index  # made on the first value: its length is the type's digest length

    @classmethod
    def build(
        cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]
    ) -> Self:
        return cls(ExactIndex.build(list(values), list(ids)) if values else None)

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        if self.index is None:
            return [[] for _ in values]
        return [[(i, 0) for i in ids] for ids in self.index.query_many(values)]

    def lookup(
        self,
        values: Sequence[str],
        threshold: int,
        rules_of: RulesOf,
        qualities: Sequence[int | None] | None = None,
    ) -> list[list[Found]]:
        """A digest has no quality: a bank's quality floor never applies to it."""
        return super().lookup(values, threshold, rules_of, None)

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        if not values:
            return
        if self.index is None:
            self.index = ExactIndex.build(list(values), list(ids))
            return
        self.index.remove(list(ids))
        self.index.add(list(values), list(ids))

    def remove(self, ids: Sequence[int]) -> None:
        if self.index is not None:
            self.index.remove(list(ids))

    def __len__(self) -> int:
        return 0 if self.index is None else len(self.index)

    def save(self, path: str | os.PathLike[str]) -> None:
        (self.index or ExactIndex(64)).save(path)

    @classmethod
    def load(cls, signal_type: type[SignalType], path: str | os.PathLike[str]) -> Self:
        index = ExactIndex.load(path)
        return cls(index if len(index) else None)
