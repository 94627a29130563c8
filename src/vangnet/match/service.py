"""Turn hashes into matches: query the indexes, then apply each bank's own thresholds.

The indexes are searched once at the loosest threshold any enabled bank asks for; each hit is
then kept only if it is within its own bank's threshold (and, for PDQ, the query's quality
reaches the bank's quality floor). Thresholds are data stored per bank and signal type.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from vangnet.banks import service as bank_service
from vangnet.errors import ValidationError
from vangnet.match.indexes import FRAME_BITS, SignalIndexes
from vangnet.match.results import Match
from vangnet.signals import vpdq
from vangnet.signals.base import FrameHashes, IndexKind
from vangnet.signals.registry import get_signal_type, signal_types
from vangnet.signals.vpdq import FrameSet, VpdqFrame


@dataclass(frozen=True)
class Rules:
    """One bank's rules for one signal type."""

    threshold: int
    quality_floor: int
    dihedral: bool
    query_match_pct: float
    index_match_pct: float


def bank_rules(bank: bank_service.BankView, signal_type: str) -> Rules:
    """The bank's stored rules; a setting it does not store (a bank made before the signal
    type was installed) takes the default a new bank would get."""
    cls = get_signal_type(signal_type)
    defaults = bank_service.default_thresholds().get(signal_type, {})
    cfg: dict[str, Any] = {**defaults, **bank.thresholds.get(signal_type, {})}
    return Rules(
        threshold=int(cfg.get("threshold", cls.default_threshold)),
        quality_floor=int(cfg.get("quality_floor", 0)),
        dihedral=bool(cfg.get("dihedral", False)),
        query_match_pct=float(cfg.get("query_match_pct", 0.0)),
        index_match_pct=float(cfg.get("index_match_pct", 0.0)),
    )


def _matchable(
    info: bank_service.SignalInfo | None,
    banks: dict[str, bank_service.BankView],
    signal_type: str,
) -> tuple[bank_service.SignalInfo | None, Rules | None]:
    """The hit's signal info and its bank's rules, or Nones when it is not matchable now."""
    if info is None or not info.enabled or info.bank_name not in banks:
        return None, None
    return info, bank_rules(banks[info.bank_name], signal_type)


def _match(
    info: bank_service.SignalInfo,
    signal_type: str,
    distance: int,
    *,
    query_match_pct: float | None = None,
    index_match_pct: float | None = None,
) -> Match:
    return Match(
        bank=info.bank_name,
        content_id=info.content_id,
        signal_type=signal_type,
        distance=distance,
        category=str(info.category) if info.category else None,
        signal_id=info.signal_id,
        query_match_pct=query_match_pct,
        index_match_pct=index_match_pct,
    )


class Matcher:
    """Matching against every enabled bank (or a chosen few) with per-bank rules."""

    def __init__(self, indexes: SignalIndexes) -> None:
        self.indexes = indexes

    def _banks(
        self, session: Session, only: Iterable[str] | None
    ) -> dict[str, bank_service.BankView]:
        """Enabled banks (or the chosen ones), from the settings the indexes keep current."""
        known = self.indexes.banks if self.indexes.loaded else {}
        if not known:
            known = {b.name: b for b in bank_service.list_banks(session)}
        banks = {n: b for n, b in known.items() if b.enabled}
        if only is not None:
            wanted = set(only)
            for name in wanted - set(known):
                view = bank_service.get_bank(session, name)  # NotFoundError if unknown
                if view.enabled:
                    banks[name] = view  # created since the last refresh
            banks = {n: b for n, b in banks.items() if n in wanted}
        return banks

    def _finish(
        self,
        session: Session,
        signal_type: str,
        hits: dict[int, int],
        banks: dict[str, bank_service.BankView],
        quality: int | None,
    ) -> list[Match]:
        if not hits:
            return []
        infos = bank_service.describe_signals(session, list(hits))
        out: list[Match] = []
        for signal_id, distance in hits.items():
            info, rules = _matchable(infos.get(signal_id), banks, signal_type)
            if info is None or rules is None:
                continue
            if distance > rules.threshold:
                continue
            if quality is not None and quality < rules.quality_floor:
                continue
            out.append(_match(info, signal_type, distance))
        out.sort(key=lambda m: (m.distance, m.bank, m.content_id))
        return out

    def query_threshold(self, banks: dict[str, bank_service.BankView], signal_type: str) -> int:
        cls = get_signal_type(signal_type)
        if not banks:
            return cls.default_threshold
        return max(bank_rules(b, signal_type).threshold for b in banks.values())

    def lookup(
        self,
        session: Session,
        *,
        signal_type: str,
        value: str,
        quality: int | None = None,
        banks: Iterable[str] | None = None,
        variants: Sequence[str] = (),
    ) -> list[Match]:
        """Matches of one hash. ``variants`` (dihedral PDQs) are tried for banks that ask."""
        return self.lookup_many(
            session,
            signal_type=signal_type,
            values=[value],
            qualities=[quality],
            banks=banks,
            variants=[variants],
        )[0]

    def lookup_many(
        self,
        session: Session,
        *,
        signal_type: str,
        values: Sequence[str],
        qualities: Sequence[int | None] | None = None,
        banks: Iterable[str] | None = None,
        variants: Sequence[Sequence[str]] | None = None,
    ) -> list[list[Match]]:
        """Matches of many hashes of one signal type, in one batched index query."""
        cls = get_signal_type(signal_type)
        canonical = [cls.validate(v) for v in values]
        chosen = self._banks(session, banks)
        results: list[list[Match]] = []
        if cls.index_kind is IndexKind.HAMMING:
            index = self.indexes.hamming.get(signal_type)
            threshold = self.query_threshold(chosen, signal_type)
            dihedral_banks = {n for n, b in chosen.items() if bank_rules(b, signal_type).dihedral}
            raw = index.query_many(canonical, threshold) if index is not None else []
            extra: list[list[tuple[int, int]]] = [[] for _ in canonical]
            if variants and dihedral_banks and index is not None:
                flat = [(i, v) for i, vs in enumerate(variants) for v in vs]
                found = index.query_many([v for _, v in flat], threshold) if flat else []
                for (i, _), hits in zip(flat, found, strict=True):
                    extra[i].extend(hits)
            for i in range(len(canonical)):
                best: dict[int, int] = {}
                for signal_id, distance in raw[i] if raw else []:
                    best[signal_id] = min(distance, best.get(signal_id, 999))
                variant_hits: dict[int, int] = {}
                for signal_id, distance in extra[i]:
                    variant_hits[signal_id] = min(distance, variant_hits.get(signal_id, 999))
                quality = qualities[i] if qualities else None
                matches = self._finish(session, signal_type, best, chosen, quality)
                if variant_hits:
                    seen = {m.signal_id for m in matches}
                    dihedral = {n: chosen[n] for n in dihedral_banks}
                    for m in self._finish(session, signal_type, variant_hits, dihedral, quality):
                        if m.signal_id not in seen:
                            matches.append(m)
                    matches.sort(key=lambda m: (m.distance, m.bank, m.content_id))
                results.append(matches)
        elif cls.index_kind is IndexKind.EXACT:
            exact = self.indexes.exact.get(signal_type)
            for value in canonical:
                ids = exact.query(value) if exact is not None else []
                results.append(
                    self._finish(session, signal_type, dict.fromkeys(ids, 0), chosen, None)
                )
        else:
            if not issubclass(cls, FrameHashes):
                raise ValidationError(f"signal type {signal_type} has no frames")
            for value in canonical:
                frames = cls.frames(value)
                results.append(self._match_frames(session, [(signal_type, frames)], banks))
        return results

    def _match_frames(
        self,
        session: Session,
        queries: Sequence[tuple[str, Sequence[VpdqFrame]]],
        banks: Iterable[str] | None,
    ) -> list[Match]:
        """Each query's frames against its own signal type's banked videos and those of the
        types it is `FrameHashes.matched_with` (``vpdq`` and ``vpdq_cropped``: a letterboxed
        copy still matches); one match per banked video, the best query share."""
        installed = signal_types()
        chosen = list(banks) if banks is not None else None
        videos: dict[tuple[str, int], Match] = {}
        for name, frames in queries:
            cls = installed.get(name)
            if not frames or cls is None or not issubclass(cls, FrameHashes):
                continue
            for target in (name, *(t for t in cls.matched_with if t in installed)):
                for m in self.match_video(session, frames, signal_type=target, banks=chosen):
                    best = videos.get((m.bank, m.content_id))
                    if best is None or (m.query_match_pct or 0) > (best.query_match_pct or 0):
                        videos[(m.bank, m.content_id)] = m
        out = list(videos.values())
        out.sort(key=lambda m: (-(m.query_match_pct or 0), m.bank, m.content_id))
        return out

    def match_video(
        self,
        session: Session,
        frames: Sequence[VpdqFrame],
        *,
        signal_type: str = "vpdq",
        banks: Iterable[str] | None = None,
    ) -> list[Match]:
        """Per banked video of ``signal_type`` (a per-frame signal): the share of the query's
        seconds matched and of the banked video's seconds matched (`vpdq.FrameSet`)."""
        chosen = self._banks(session, banks)
        frame_index = self.indexes.frames.get(signal_type)
        if frame_index is None or not frames or not chosen:
            return []
        query = FrameSet.of(frames)
        threshold = self.query_threshold(chosen, signal_type)
        hits = frame_index.pdq.query_many(query.hashes, threshold)
        # per video: list of (query key, banked key, distance)
        per_video: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for qpos, found in enumerate(hits):
            for frame_id, distance in found:
                per_video[frame_id >> FRAME_BITS].append(
                    (qpos, frame_id & ((1 << FRAME_BITS) - 1), distance)
                )
        if not per_video:
            return []
        infos = bank_service.describe_signals(session, list(per_video))
        out: list[Match] = []
        for signal_id, pairs in per_video.items():
            info, rules = _matchable(infos.get(signal_id), chosen, signal_type)
            banked = frame_index.videos.get(signal_id)
            if info is None or rules is None or banked is None:
                continue
            q_ok, b_ok = query.usable(rules.quality_floor), banked.usable(rules.quality_floor)
            matched_q: set[int] = set()
            matched_b: set[int] = set()
            best = 257
            for qpos, bpos, distance in pairs:
                if (
                    distance <= rules.threshold
                    and q_ok[qpos]
                    and b_ok[bpos]
                    and query.regions[qpos] == banked.regions[bpos]
                ):
                    matched_q.add(qpos)
                    matched_b.add(bpos)
                    best = min(best, distance)
            if not matched_q:
                continue
            query_pct = query.share(matched_q, rules.quality_floor)
            index_pct = banked.share(matched_b, rules.quality_floor)
            if query_pct < rules.query_match_pct or index_pct < rules.index_match_pct:
                continue
            out.append(
                _match(
                    info,
                    signal_type,
                    best,
                    query_match_pct=round(query_pct, 2),
                    index_match_pct=round(index_pct, 2),
                )
            )
        out.sort(key=lambda m: (-(m.query_match_pct or 0), m.bank, m.content_id))
        return out

    def match_hashed(
        self,
        session: Session,
        hashed: dict[str, Any],
        *,
        banks: Iterable[str] | None = None,
        variants: Sequence[str] = (),
    ) -> list[Match]:
        """Matches for a `hash_file`/`hash_bytes` result: exact digests plus PDQ or vPDQ."""
        if "error" in hashed:
            raise ValidationError("cannot match a file that failed to hash")
        chosen = list(banks) if banks is not None else None
        out: list[Match] = []
        for name, cls in signal_types().items():
            value = hashed.get(name)
            if value is None or cls.index_kind is IndexKind.FRAMES:
                continue  # videos below
            out.extend(
                self.lookup(
                    session,
                    signal_type=name,
                    value=value,
                    quality=hashed.get(f"{name}_quality"),
                    banks=chosen,
                    variants=variants if name == "pdq" else (),
                )
            )
        # Videos: each per-frame signal against its own index and those it is matched with
        # (the standard vpdq and, for a video with bars, vpdq_cropped against both).
        queries = [
            (name, vpdq.frames_of(hashed.get(name) or []))
            for name, cls in signal_types().items()
            if cls.index_kind is IndexKind.FRAMES
        ]
        out.extend(self._match_frames(session, queries, chosen))
        return out
