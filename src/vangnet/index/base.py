"""The index protocol: what every matching index offers the matcher.

A signal type names the index that serves it (`SignalType.index`, a name in
`vangnet.index.registry`). The index is built from ``(value, id)`` pairs, where ids are the
database's signal ids, kept current with ``add`` / ``remove`` and queried in batches.
Distances are integers in the signal type's own unit (bits for Hamming hashes, 0/1 for
digests, thousandths for float vectors): the same unit as `SignalType.distance` and the
thresholds stored per bank.

``lookup`` is the one call the matcher makes. Its default queries the index at the loosest
threshold any bank asks for, then keeps each hit that its own bank's rules accept; an index
whose hits need more than a distance (the per-frame video index: shares of matched seconds)
overrides it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from vangnet.errors import VangnetError

if TYPE_CHECKING:
    from typing import Self

    from vangnet.signals.base import SignalType

Hit = tuple[int, int]  # (id, distance)


class SnapshotUnsupported(VangnetError):
    """The index keeps no snapshots (`SignalIndex.snapshots` off, or a plug-in that claims
    them without `save` / `load`): callers treat it as "no snapshot" and build the index from
    the database instead. Not a failure of the index itself."""

    code = "snapshot_unsupported"
    status = 500


@dataclass(frozen=True, slots=True)
class MatchRules:
    """One bank's rules for one signal type."""

    threshold: int
    quality_floor: int = 0
    dihedral: bool = False
    query_match_pct: float = 0.0
    index_match_pct: float = 0.0


@dataclass(frozen=True, slots=True)
class Found:
    """A hit that its bank's rules accept."""

    id: int
    distance: int
    query_match_pct: float | None = None
    index_match_pct: float | None = None


#: Given the ids an index found, the rules of each id's bank (ids not matchable now are left
#: out). One call per batch: the matcher answers it with one database query.
RulesOf = Callable[[Sequence[int]], Mapping[int, MatchRules]]


class SignalIndex(ABC):
    """A matching index for the values of one signal type (thread-safe for lookups)."""

    #: the index's name in the registry (entry-point group ``vangnet.indexes``)
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: whether `save` / `load` work; indexes without snapshots are rebuilt from the database
    snapshots: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def build(
        cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]
    ) -> Self:
        """An index of ``values`` (canonical values of ``signal_type``) under ``ids``.
        Raises `IndexPluginError` when ``signal_type`` lacks what this index needs."""

    @abstractmethod
    def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        """Per value: ``(id, distance)`` of every stored value within ``threshold``."""

    @abstractmethod
    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        """Add values; an id already present is replaced."""

    def add_pages(self, pages: Iterable[tuple[Sequence[str], Sequence[int]]]) -> None:
        """Add many values given page by page (``(values, ids)`` pairs) as one change: what an
        index follower does with a published bulk import. The default gathers the pages and
        calls `add` once; an index may convert each page as it comes to keep memory low.
        An error raised while iterating ``pages`` propagates unchanged, with nothing added."""
        values: list[str] = []
        ids: list[int] = []
        for page_values, page_ids in pages:
            values.extend(page_values)
            ids.extend(page_ids)
        if values:
            self.add(values, ids)

    @abstractmethod
    def remove(self, ids: Sequence[int]) -> None:
        """Remove ids; unknown ids are ignored."""

    @abstractmethod
    def __len__(self) -> int:
        """How many values (or videos) are stored."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot (only when `snapshots` is true). The default writes nothing and
        raises `SnapshotUnsupported`."""
        raise SnapshotUnsupported(f"the {self.name} index has no snapshots")

    @classmethod
    def load(cls, signal_type: type[SignalType], path: str | os.PathLike[str]) -> Self:
        """Read a snapshot written by `save`; raises `SnapshotError` when it is bad. The
        default reads nothing and raises `SnapshotUnsupported`."""
        raise SnapshotUnsupported(f"the {cls.name} index has no snapshots")

    def status(self) -> dict[str, int | str]:
        """Figures shown by the index status (size at least)."""
        return {"size": len(self)}

    def lookup(
        self,
        values: Sequence[str],
        threshold: int,
        rules_of: RulesOf,
        qualities: Sequence[int | None] | None = None,
    ) -> list[list[Found]]:
        """Per value: the hits within ``threshold`` that their bank's rules accept (distance
        within the bank's threshold, query quality at least its quality floor), sorted by
        distance then id."""
        raw = self.query_many(values, threshold)
        rules = rules_of(sorted({i for hits in raw for i, _ in hits}))
        out: list[list[Found]] = []
        for n, hits in enumerate(raw):
            quality = qualities[n] if qualities else None
            kept: list[Found] = []
            for i, distance in hits:
                rule = rules.get(i)
                if rule is None or distance > rule.threshold:
                    continue
                if quality is not None and quality < rule.quality_floor:
                    continue
                kept.append(Found(i, distance))
            out.append(kept)
        return out
