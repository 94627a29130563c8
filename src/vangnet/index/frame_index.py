"""Per-frame video signals (a `FrameHashes` signal type such as vPDQ): every unique frame of
every banked video in one PDQ multi-index.

Hit ids of the inner `PDQIndex` are ``signal_id << FRAME_BITS | key position`` in the video's
`FrameSet`. A video matches a banked one when frames of the same region are within the
bank's threshold and both shares of matched seconds reach the bank's minimums
(python-threatexchange's vPDQ rule); the distance reported is the best frame's.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from vangnet.index.base import Found, Hit, RulesOf, SignalIndex
from vangnet.index.pdq_index import PDQIndex
from vangnet.index.registry import IndexPluginError
from vangnet.signals.base import FrameHashes
from vangnet.signals.vpdq import FrameSet, VpdqFrame

if TYPE_CHECKING:
    from typing import Self

    from vangnet.signals.base import SignalType

FRAME_BITS = 20  # frame ids are signal_id << FRAME_BITS | frame position


class FrameIndex(SignalIndex):
    """Every unique frame of every banked video of one per-frame signal type."""

    name = "frames"
    description = "Per-frame video hashes (FrameHashes types): PDQ multi-index over frames."
    snapshots = False  # small: rebuilt from the database at start

    def __init__(self, signal_type: type[FrameHashes]) -> None:
        self.signal_type = signal_type
        self.pdq = PDQIndex.build([])
        self.videos: dict[int, FrameSet] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _frame_type(signal_type: type[SignalType]) -> type[FrameHashes]:
        if not issubclass(signal_type, FrameHashes):
            raise IndexPluginError(
                f"the frames index serves FrameHashes signal types; {signal_type.name} is not one"
            )
        return signal_type

    @classmethod
    def build(
        cls, signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int]
    ) -> Self:
        index = cls(cls._frame_type(signal_type))
        index.add(values, ids)
        return index

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        with self._lock:
            for signal_id, value in zip(ids, values, strict=True):
                self._remove_one(signal_id)
                frames = FrameSet.of(self.signal_type.frames(value)[: (1 << FRAME_BITS) - 1])
                keys = [(signal_id << FRAME_BITS) | pos for pos in range(len(frames))]
                self.pdq.add(frames.hashes, keys)
                self.videos[signal_id] = frames

    def remove(self, ids: Sequence[int]) -> None:
        with self._lock:
            for signal_id in ids:
                self._remove_one(signal_id)

    def _remove_one(self, signal_id: int) -> None:
        frames = self.videos.pop(signal_id, None)
        if frames:
            self.pdq.remove([(signal_id << FRAME_BITS) | pos for pos in range(len(frames))])

    def __len__(self) -> int:
        return len(self.videos)

    def status(self) -> dict[str, int | str]:
        return {"size": len(self), "frames": len(self.pdq)}

    def _pairs(self, query: FrameSet, threshold: int) -> dict[int, list[tuple[int, int, int]]]:
        """Per banked video: (query key, banked key, distance) of the frames within reach."""
        per_video: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        if not query.hashes:
            return per_video
        for qpos, found in enumerate(self.pdq.query_many(query.hashes, threshold)):
            for frame_id, distance in found:
                per_video[frame_id >> FRAME_BITS].append(
                    (qpos, frame_id & ((1 << FRAME_BITS) - 1), distance)
                )
        return per_video

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[Hit]]:
        """Per query video: each banked video with a frame within ``threshold`` (same
        region), with the best such distance."""
        out: list[list[Hit]] = []
        for value in values:
            query = FrameSet.of(self.signal_type.frames(value))
            hits: list[Hit] = []
            for signal_id, pairs in self._pairs(query, threshold).items():
                banked = self.videos.get(signal_id)
                same = [
                    d
                    for q, b, d in pairs
                    if banked is not None and query.regions[q] == banked.regions[b]
                ]
                if same:
                    hits.append((signal_id, min(same)))
            out.append(sorted(hits, key=lambda h: (h[1], h[0])))
        return out

    def lookup(
        self,
        values: Sequence[str],
        threshold: int,
        rules_of: RulesOf,
        qualities: Sequence[int | None] | None = None,
    ) -> list[list[Found]]:
        return [
            self.lookup_frames(self.signal_type.frames(value), threshold, rules_of)
            for value in values
        ]

    def lookup_frames(
        self, frames: Sequence[VpdqFrame], threshold: int, rules_of: RulesOf
    ) -> list[Found]:
        """The banked videos that ``frames`` match under their bank's rules: shares (%) of
        the query's and the banked video's seconds matched."""
        if not frames:
            return []
        query = FrameSet.of(frames)
        per_video = self._pairs(query, threshold)
        if not per_video:
            return []
        rules = rules_of(sorted(per_video))
        out: list[Found] = []
        for signal_id, pairs in per_video.items():
            rule = rules.get(signal_id)
            banked = self.videos.get(signal_id)
            if rule is None or banked is None:
                continue
            q_ok, b_ok = query.usable(rule.quality_floor), banked.usable(rule.quality_floor)
            matched_q: set[int] = set()
            matched_b: set[int] = set()
            best = 257
            for qpos, bpos, distance in pairs:
                if (
                    distance <= rule.threshold
                    and q_ok[qpos]
                    and b_ok[bpos]
                    and query.regions[qpos] == banked.regions[bpos]
                ):
                    matched_q.add(qpos)
                    matched_b.add(bpos)
                    best = min(best, distance)
            if not matched_q:
                continue
            query_pct = query.share(matched_q, rule.quality_floor)
            index_pct = banked.share(matched_b, rule.quality_floor)
            if query_pct < rule.query_match_pct or index_pct < rule.index_match_pct:
                continue
            out.append(Found(signal_id, best, round(query_pct, 2), round(index_pct, 2)))
        return out
