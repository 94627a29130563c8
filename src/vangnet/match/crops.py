"""The matcher's in-memory index of banked pictures' standard-crop PDQs (`vangnet.signals.crops`).

Crop hashes are kept next to the local features (`vangnet.banks.features`, kind
`vangnet.signals.crops.KIND`), not as signals: they are never exported, counted or matched as
PDQ. The matcher looks a query's PDQs (whole photo and regions) up in this index to find
wider-net candidates, which only local features can turn into matches. Each bank's index is
built on first use from its rows and rebuilt when they change (their count or highest id:
one grouped query per lookup).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from vangnet.banks.features import FeatureSeal, bank_rows, kind_versions
from vangnet.index.pdq_index import PDQIndex, hex_to_words
from vangnet.signals.crops import KIND, CropBox, crop_boxes, unpack


@dataclass(frozen=True, slots=True)
class CropHit:
    """A banked item one of whose standard crops is within the radius of a query hash."""

    bank_id: int
    content_id: int
    distance: int
    crop: CropBox  # the crop of the banked picture (fractions: left, top, width, height)


@dataclass(frozen=True, slots=True)
class _BankCrops:
    version: tuple[int, int]
    index: PDQIndex
    content: np.ndarray  # row -> content id
    crop: np.ndarray  # row -> position in crop_boxes()


class CropIndexes:
    """Per bank, a `PDQIndex` of its items' crop hashes (row ids: positions in ``content``)."""

    def __init__(self) -> None:
        self._banks: dict[int, _BankCrops] = {}
        self._lock = threading.Lock()
        self._boxes = crop_boxes()

    def _current(
        self, session: Session, bank_ids: Iterable[int], seal: FeatureSeal
    ) -> dict[int, _BankCrops]:
        versions = kind_versions(session, bank_ids, KIND)
        out: dict[int, _BankCrops] = {}
        with self._lock:
            for bank_id, version in versions.items():
                held = self._banks.get(bank_id)
                if held is None or held.version != version:
                    held = self._banks[bank_id] = self._build(session, bank_id, version, seal)
                out[bank_id] = held
            for gone in set(self._banks) - set(versions):
                if gone in set(bank_ids):
                    del self._banks[gone]
        return out

    @staticmethod
    def _build(
        session: Session, bank_id: int, version: tuple[int, int], seal: FeatureSeal
    ) -> _BankCrops:
        hexes: list[str] = []
        content: list[int] = []
        crop: list[int] = []
        for content_id, data in bank_rows(session, bank_id, KIND, seal):
            hashes = unpack(data)
            hexes.extend(hashes)
            content.extend([content_id] * len(hashes))
            crop.extend(range(len(hashes)))
        index = PDQIndex.build_array(hex_to_words(hexes), np.arange(len(hexes), dtype=np.int64))
        return _BankCrops(version, index, np.asarray(content, np.int64), np.asarray(crop))

    def lookup(
        self,
        session: Session,
        bank_radius: dict[int, int],
        values: Sequence[str],
        seal: FeatureSeal,
    ) -> list[list[CropHit]]:
        """For each query hash, the banked items (of the banks in ``bank_radius``: bank id ->
        radius) with a crop within that bank's radius: the closest crop of each item."""
        out: list[list[CropHit]] = [[] for _ in values]
        if not values or not bank_radius:
            return out
        words = hex_to_words(list(values))
        for bank_id, crops in self._current(session, bank_radius, seal).items():
            radius = bank_radius[bank_id]
            for i, hits in enumerate(crops.index.query_array_many(words, radius)):
                best: dict[int, CropHit] = {}
                for row, distance in hits:
                    content_id = int(crops.content[row])
                    if content_id in best and best[content_id].distance <= distance:
                        continue
                    box = self._boxes[int(crops.crop[row])]
                    best[content_id] = CropHit(bank_id, content_id, int(distance), box)
                out[i].extend(best.values())
        return out
