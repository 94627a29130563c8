"""Turn hashes into matches: query the indexes, then apply each bank's own thresholds.

The index of a signal type (whatever class the type names) is searched once at the loosest
threshold any enabled bank asks for; each hit is then kept only if its own bank's rules
accept it (`SignalIndex.lookup`: the distance within the bank's threshold, the query's
quality at least the bank's floor, for videos the shares of matched seconds). Thresholds are
data stored per bank and signal type. A match found by a dihedral variant or a region of the
photo is also held to that kind's operating point, measured by the robustness benchmark at
99.9 % precision (`vangnet.calibration`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from vangnet import calibration
from vangnet.banks.bank import get_bank, list_banks
from vangnet.banks.features import (
    FeatureSeal,
    banks_with_features,
    features_of,
    pdq_signal_ids,
)
from vangnet.banks.matchable import describe_signals
from vangnet.banks.validation import documented_settings
from vangnet.banks.views import BankView, SignalInfo
from vangnet.config import Settings
from vangnet.errors import MediaError, ValidationError
from vangnet.index.base import Found, MatchRules, RulesOf, SignalIndex
from vangnet.index.frame_index import FrameIndex
from vangnet.match.crops import CropIndexes
from vangnet.match.indexes import IndexUnavailableError, SignalIndexes
from vangnet.match.results import Lookup, Match, Matched
from vangnet.signals.base import FrameHashes
from vangnet.signals.features import KIND as FEATURES_KIND
from vangnet.signals.features import QueryPicture, turned_by, unpack
from vangnet.signals.hashes import Hashes
from vangnet.signals.pdq import TRANSFORMS
from vangnet.signals.regions import RegionHash
from vangnet.signals.registry import get_signal_type, signal_types
from vangnet.signals.vpdq import FrameRegions, VpdqFrame

log = logging.getLogger(__name__)

#: One bank's rules for one signal type (the name this module used before the index protocol).
Rules = MatchRules


def bank_rules(bank: BankView, signal_type: str, settings: Settings | None = None) -> MatchRules:
    """The bank's stored rules; a setting it does not store (a bank made before the signal
    type was installed) takes the default a new bank would get under ``settings`` (the
    caller's; the documented defaults when not given)."""
    cls = get_signal_type(signal_type)
    defaults = cls.bank_defaults(settings or documented_settings()) or {}
    cfg: dict[str, Any] = {**defaults, **bank.thresholds.get(signal_type, {})}
    return MatchRules(
        threshold=int(cfg.get("threshold", cls.default_threshold)),
        quality_floor=int(cfg.get("quality_floor", 0)),
        dihedral=bool(cfg.get("dihedral", False)),
        query_match_pct=float(cfg.get("query_match_pct", 0.0)),
        index_match_pct=float(cfg.get("index_match_pct", 0.0)),
    )


def verify_threshold(bank: BankView, settings: Settings | None = None) -> int:
    """The bank's PDQ wider-net radius: its stored ``verify_threshold``, else the default
    under ``settings`` (``pdq_verify_threshold``); never below the bank's threshold (equal
    to it: no wider net)."""
    cfg = bank.thresholds.get("pdq", {})
    default = (settings or documented_settings()).pdq_verify_threshold
    return max(
        bank_rules(bank, "pdq", settings).threshold, int(cfg.get("verify_threshold", default))
    )


#: Wider-net candidates of one banked item verified at most (closest first).
VERIFY_PER_ITEM = 3


def _match(info: SignalInfo, signal_type: str, found: Found, transform: str | None = None) -> Match:
    return Match(
        bank=info.bank_name,
        content_id=info.content_id,
        signal_type=signal_type,
        distance=found.distance,
        category=str(info.category) if info.category else None,
        signal_id=info.signal_id,
        query_match_pct=found.query_match_pct,
        index_match_pct=found.index_match_pct,
        transform=transform,
    )


def _order(m: Match) -> tuple[float, int, str, int]:
    """Videos by the share of the query matched; other signals by distance; then bank, id."""
    if m.query_match_pct is not None:
        return (-m.query_match_pct, 0, m.bank, m.content_id)
    return (0.0, m.distance, m.bank, m.content_id)


class _Judge:
    """Answers an index's `RulesOf` question for one lookup: describes the signal ids once
    (one query per batch) and gives each matchable id its bank's rules."""

    def __init__(
        self,
        session: Session,
        signal_type: str,
        settings: Settings | None,
        rules: Mapping[str, MatchRules] | None = None,
    ) -> None:
        self.session = session
        self.signal_type = signal_type
        self.settings = settings
        self.infos: dict[int, SignalInfo] = {}
        self._rules: dict[str, MatchRules] = dict(rules or {})

    @property
    def rules(self) -> Mapping[str, MatchRules]:
        """The banks' rules known so far (given, or worked out by `rules_of`)."""
        return self._rules

    def rules_of(self, banks: Mapping[str, BankView]) -> RulesOf:
        def rules(ids: Sequence[int]) -> dict[int, MatchRules]:
            missing = [i for i in ids if i not in self.infos]
            if missing:
                self.infos.update(describe_signals(self.session, missing))
            out: dict[int, MatchRules] = {}
            for i in ids:
                info = self.infos.get(i)
                if info is None or not info.enabled or info.bank_name not in banks:
                    continue
                rule = self._rules.get(info.bank_name)
                if rule is None:
                    rule = bank_rules(banks[info.bank_name], self.signal_type, self.settings)
                    self._rules[info.bank_name] = rule
                out[i] = rule
            return out

        return rules

    def matches(self, found: Iterable[Found], transform: str | None = None) -> list[Match]:
        return [_match(self.infos[f.id], self.signal_type, f, transform) for f in found]


class _Search:
    """One lookup's search of a signal type: its index at each bank's own threshold and,
    for the wider net, its feature index (`SignalIndexes.get_featured`: only the signals whose
    item keeps local features) at the wider radius of the banks in ``wide_judge``'s rules.
    A hash-only bank's entries are never visited beyond its threshold, however large it is.
    The two judges share what they learnt of the signal ids (one description per id)."""

    def __init__(
        self,
        index: SignalIndex,
        judge: _Judge,
        threshold: int,
        featured: SignalIndex | None,
        wide_judge: _Judge,
        wide_threshold: int,
    ) -> None:
        self.index = index
        self.judge = judge
        self.threshold = threshold
        self.featured = featured
        self.wide_judge = wide_judge
        wide_judge.infos = judge.infos
        self.wide_threshold = wide_threshold
        self.wide_banks = set(wide_judge.rules)

    def lookup(
        self,
        values: Sequence[str],
        qualities: Sequence[int | None] | None,
        banks: Mapping[str, BankView],
    ) -> list[list[Found]]:
        """Per value, the hits of ``banks`` their rules accept (by distance, then id)."""
        found = self.index.lookup(values, self.threshold, self.judge.rules_of(banks), qualities)
        wide = {n: b for n, b in banks.items() if n in self.wide_banks}
        if self.featured is None or not wide:
            return found
        more = self.featured.lookup(
            values, self.wide_threshold, self.wide_judge.rules_of(wide), qualities
        )
        out: list[list[Found]] = []
        for near, far in zip(found, more, strict=True):
            held = {f.id for f in near}
            both = near + [f for f in far if f.id not in held]
            both.sort(key=lambda f: (f.distance, f.id))
            out.append(both)
        return out


class Matcher:
    """Matching against every enabled bank (or a chosen few) with per-bank rules.

    ``settings`` (the caller's; the documented defaults when not given) give the rules of a
    bank made before a signal type was installed (`bank_rules`)."""

    def __init__(self, indexes: SignalIndexes, *, settings: Settings | None = None) -> None:
        self.indexes = indexes
        self.settings = settings
        self.calibration = calibration.load(settings.match_calibration if settings else None)
        self.crops = CropIndexes()
        self._sealer: FeatureSeal | None = None
        self._counting = threading.Lock()
        #: wider-net candidates (banked items) left unverified because `match_verify_max`
        #: was spent, and the query photos that left some, since the matcher was made (the
        #: metrics: ``vangnet_match_unverified_candidates_total``)
        self.unverified_total = 0
        self.over_budget_total = 0

    def _banks(self, session: Session, only: Iterable[str] | None) -> dict[str, BankView]:
        """Enabled banks (or the chosen ones), from the settings the indexes keep current."""
        known = self.indexes.banks if self.indexes.loaded else {}
        if not known:
            known = {b.name: b for b in list_banks(session)}
        banks = {n: b for n, b in known.items() if b.enabled}
        if only is not None:
            wanted = set(only)
            for name in wanted - set(known):
                view = get_bank(session, name)  # NotFoundError if unknown
                if view.enabled:
                    banks[name] = view  # created since the last refresh
            banks = {n: b for n, b in banks.items() if n in wanted}
        return banks

    def _rules(self, banks: Mapping[str, BankView], signal_type: str) -> dict[str, MatchRules]:
        """Each bank's rules for ``signal_type``, worked out once per lookup."""
        return {n: bank_rules(b, signal_type, self.settings) for n, b in banks.items()}

    @staticmethod
    def _threshold(rules: Mapping[str, MatchRules], signal_type: str) -> int:
        """The widest of the banks' thresholds (each match is then held to its own bank's)."""
        if not rules:
            return get_signal_type(signal_type).default_threshold
        return max(r.threshold for r in rules.values())

    def lookup(
        self,
        session: Session,
        *,
        signal_type: str,
        value: str,
        quality: int | None = None,
        banks: Iterable[str] | None = None,
        variants: Sequence[str] = (),
        variant_names: Sequence[str] = (),
    ) -> list[Match]:
        """Matches of one hash. ``variants`` (e.g. dihedral PDQs) are tried for banks that
        ask for them (``variant_names``: see `lookup_many`)."""
        return self.lookup_many(
            session,
            signal_type=signal_type,
            values=[value],
            qualities=[quality],
            banks=banks,
            variants=[variants],
            variant_names=variant_names,
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
        variant_names: Sequence[str] = (),
        widen: Mapping[str, int] | None = None,
    ) -> list[list[Match]]:
        """Matches of many hashes of one signal type, in one batched index query.
        ``variant_names`` name the variants by position (e.g. `TRANSFORMS` for dihedral
        PDQs): a match found by a variant then says which (`Match.transform`). ``widen``
        (bank -> distance) looks those banks up to that distance instead of their threshold
        (the wider net's candidates: `match_regions` verifies them).
        Raises `IndexUnavailableError` when the type's index is not serving."""
        cls = get_signal_type(signal_type)
        canonical = [cls.validate(v) for v in values]
        chosen = self._banks(session, banks)
        results = self._lookup_type(
            session, signal_type, canonical, qualities, chosen, variants, variant_names, widen
        )
        if issubclass(cls, FrameHashes):  # vpdq and vpdq_cropped: a letterboxed copy matches
            installed = signal_types()
            for target in (t for t in cls.matched_with if t in installed):
                if target in self.indexes.failed:
                    continue
                more = self._lookup_type(session, target, canonical, qualities, chosen, None)
                for mine, theirs in zip(results, more, strict=True):
                    videos = {(m.bank, m.content_id): m for m in mine}
                    for m in theirs:
                        best = videos.get((m.bank, m.content_id))
                        if best is None or (m.query_match_pct or 0) > (best.query_match_pct or 0):
                            videos[(m.bank, m.content_id)] = m
                    mine[:] = sorted(videos.values(), key=_order)
        return results

    def _lookup_type(
        self,
        session: Session,
        signal_type: str,
        canonical: Sequence[str],
        qualities: Sequence[int | None] | None,
        chosen: dict[str, BankView],
        variants: Sequence[Sequence[str]] | None,
        variant_names: Sequence[str] = (),
        widen: Mapping[str, int] | None = None,
    ) -> list[list[Match]]:
        """`lookup_many` against one signal type's own index."""
        cls = get_signal_type(signal_type)
        index = self.indexes.get(signal_type)
        if index is None or not chosen:
            return [[] for _ in canonical]
        rules = self._rules(chosen, signal_type)
        own = {n: r.threshold for n, r in rules.items()}  # before the wider net's radius
        wider = {
            n: replace(rules[n], threshold=radius)
            for n, radius in (widen or {}).items()
            if n in rules and radius > rules[n].threshold
        }
        featured = self.indexes.get_featured(signal_type) if wider else None
        if featured is None:  # no feature index (a type without one): the whole index
            rules.update(wider)  # to the wider radius
            wider = {}
        search = _Search(
            index,
            _Judge(session, signal_type, self.settings, rules),
            self._threshold(rules, signal_type),
            featured,
            _Judge(session, signal_type, self.settings, wider),
            self._threshold(wider, signal_type) if wider else 0,
        )
        judge = search.judge
        found = search.lookup(canonical, qualities, chosen)
        variant_cap = self.calibration.cap(signal_type, "variant")
        results = [judge.matches(hits) for hits in found]
        dihedral = {n: b for n, b in chosen.items() if rules[n].dihedral}
        if variants and dihedral:
            flat = [
                (i, j, cls.validate(v)) for i, vs in enumerate(variants) for j, v in enumerate(vs)
            ]
            if flat:
                flat_q = [qualities[i] if qualities else None for i, _, _ in flat]
                extra = search.lookup([v for _, _, v in flat], flat_q, dihedral)
                best: list[dict[int, tuple[Found, int]]] = [{} for _ in canonical]
                for (i, j, _), hits in zip(flat, extra, strict=True):
                    for hit in hits:
                        if hit.id not in best[i] or hit.distance < best[i][hit.id][0].distance:
                            best[i][hit.id] = (hit, j)
                for i, more in enumerate(best):
                    at = {m.signal_id: k for k, m in enumerate(results[i])}
                    for hit, j in more.values():
                        bank_name = judge.infos[hit.id].bank_name
                        wide = bank_name in (widen or {}) and hit.distance > own[bank_name]
                        if not wide and variant_cap is not None and hit.distance > variant_cap:
                            continue  # beyond the variants' operating point (a wider-net
                            # candidate is held to local features instead)
                        name = variant_names[j] if j < len(variant_names) else None
                        (mine,) = judge.matches([hit], name)
                        k = at.get(hit.id)
                        if k is None:
                            at[hit.id] = len(results[i])
                            results[i].append(mine)
                        elif results[i][k].distance > own[bank_name] >= mine.distance:
                            # the picture as given was only a wider-net candidate; a variant
                            # within the bank's own threshold is a match of its own
                            results[i][k] = mine
        for matches in results:
            matches.sort(key=_order)
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
                if target in self.indexes.failed:
                    continue  # reported by the index status; the other indexes still match
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
        index = self.indexes.get(signal_type)
        if not isinstance(index, FrameIndex) or not frames or not chosen:
            return []
        rules = self._rules(chosen, signal_type)
        judge = _Judge(session, signal_type, self.settings, rules)
        found = index.lookup_frames(
            frames, self._threshold(rules, signal_type), judge.rules_of(chosen)
        )
        return sorted(judge.matches(found), key=_order)

    def match_hashed(
        self,
        session: Session,
        hashed: Hashes,
        *,
        banks: Iterable[str] | None = None,
        variants: Sequence[str] = (),
        regions: Sequence[RegionHash] = (),
        picture: QueryPicture | None = None,
    ) -> list[Match]:
        """Matches for the `Hashes` of a file: exact digests plus PDQ or vPDQ (``variants``:
        other PDQ hashes of the photo, its dihedral variants in `TRANSFORMS` order, matched
        as ``pdq``; ``regions``: PDQs of regions of the photo, `match_regions`;
        ``picture``: the photo's pixels, for the wider net's verification)."""
        return list(
            self.match_file(
                session, hashed, banks=banks, variants=variants, regions=regions, picture=picture
            ).matches
        )

    def match_file(
        self,
        session: Session,
        hashed: Hashes,
        *,
        banks: Iterable[str] | None = None,
        variants: Sequence[str] = (),
        regions: Sequence[RegionHash] = (),
        picture: QueryPicture | None = None,
    ) -> Matched:
        """`match_hashed`, with how many wider-net candidates were left unverified because
        `match_verify_max` was spent (`Matched.unverified`)."""
        chosen = list(banks) if banks is not None else None
        out: list[Match] = []
        unverified = 0
        for name, cls in signal_types().items():
            value = hashed.value(name)
            if value is None or issubclass(cls, FrameHashes):
                continue  # videos below
            try:
                if name == "pdq" and (regions or picture is not None):
                    found = self._regions(
                        session,
                        value=value,
                        quality=hashed.quality(name),
                        variants=variants,
                        regions=regions,
                        banks=chosen,
                        picture=picture,
                    )
                    out.extend(found.matches)
                    unverified += found.unverified
                    continue
                out.extend(
                    self.lookup(
                        session,
                        signal_type=name,
                        value=value,
                        quality=hashed.quality(name),
                        banks=chosen,
                        variants=variants if name == "pdq" else (),
                        variant_names=TRANSFORMS if name == "pdq" else (),
                    )
                )
            except IndexUnavailableError as error:  # the other signals still match
                log.warning("not matched on %s: %s", name, error.message)
        # Videos: each per-frame signal against its own index and those it is matched with
        # (the standard vpdq and, for a video with bars, vpdq_cropped against both).
        queries = [
            (name, list(hashed.video_frames.get(name, ())))
            for name, cls in signal_types().items()
            if issubclass(cls, FrameHashes)
        ]
        out.extend(self._match_frames(session, queries, chosen))
        if hashed.photo_frames:
            try:
                seen = self._match_photo_frames(session, hashed.photo_frames, chosen)
                out.extend(seen.matches)
                unverified += seen.unverified
            except IndexUnavailableError as error:  # the videos are still matched
                log.warning("frames not matched on pdq: %s", error.message)
        return Matched(tuple(out), unverified)

    def match_frames(
        self, session: Session, frames: Sequence[FrameRegions], *, banks: Iterable[str] | None
    ) -> Matched:
        """Banked photos in the sampled frames of a query video (`Hashes.photo_frames`), as
        `match_file` finds them (HMA's ``POST /m/lookup`` of a video)."""
        return self._match_photo_frames(session, frames, banks)

    def _match_photo_frames(
        self,
        session: Session,
        frames: Sequence[FrameRegions],
        banks: Iterable[str] | None,
    ) -> Matched:
        """Banked photos in sampled frames of a video: each frame and its regions looked up
        in PDQ banks in one batched query; per banked item its closest frame, which says
        when (`Match.frame_time`) and where (`Match.region`). Frames that carry their
        pixels (`FrameRegions.picture`) get the wider net, all of them in one queue within
        one `match_verify_max` (`_regions_many` with ``shared``); `Matched.unverified`:
        the banked items left unverified."""
        found, unverified = self._regions_many(
            session,
            values=[f.frame.pdq for f in frames],
            qualities=[f.frame.quality for f in frames],
            variants=[() for _ in frames],
            regions=[f.regions for f in frames],
            banks=banks,
            pictures=[f.picture for f in frames],
            shared=True,
        )
        best: dict[tuple[str, int], Match] = {}
        for frame, matches in zip(frames, found, strict=True):
            for m in matches:
                key = (m.bank, m.content_id)
                if key not in best or m.distance < best[key].distance:
                    best[key] = replace(m, frame_time=round(frame.frame.timestamp, 3))
        return Matched(tuple(sorted(best.values(), key=_order)), sum(unverified))

    def match_regions(
        self,
        session: Session,
        *,
        value: str,
        quality: int | None,
        variants: Sequence[str],
        regions: Sequence[RegionHash],
        banks: Iterable[str] | None = None,
        picture: QueryPicture | None = None,
    ) -> list[Match]:
        """PDQ matches of a photo and of its regions, all looked up in one batched query at
        each bank's own threshold and quality floor (a region below every chosen bank's floor
        is not looked up; one below some banks' floors matches only the others). Per banked
        item the smallest distance wins, the whole photo on a tie; a region's match says
        where it is (`Match.region`) and how (`Match.transform`).

        The wider net, given the photo's ``picture``: banks whose `verify_threshold` is
        above their threshold and that keep local features are looked up to it in the same
        query; a candidate in between whose banked item has features is verified against
        the pixels it was found in (the region's, turned by its transform) and kept with
        `Match.inliers` when enough keypoints agree (`_verified`). Those banks' standard
        crops (`vangnet.signals.crops`) are candidates too (`_crop_candidates`: the whole
        photo and its regions, within ``pdq_crop_threshold``), verified the same way."""
        return list(
            self._regions(
                session,
                value=value,
                quality=quality,
                variants=variants,
                regions=regions,
                banks=banks,
                picture=picture,
            ).matches
        )

    def _regions(
        self,
        session: Session,
        *,
        value: str,
        quality: int | None,
        variants: Sequence[str],
        regions: Sequence[RegionHash],
        banks: Iterable[str] | None,
        picture: QueryPicture | None,
    ) -> Matched:
        """`match_regions` with the count of wider-net candidates left unverified."""
        found, unverified = self._regions_many(
            session,
            values=[value],
            qualities=[quality],
            variants=[variants],
            regions=[regions],
            banks=banks,
            pictures=[picture],
        )
        return Matched(tuple(found[0]), unverified[0])

    def match_regions_many(
        self,
        session: Session,
        *,
        values: Sequence[str],
        qualities: Sequence[int | None],
        variants: Sequence[Sequence[str]],
        regions: Sequence[Sequence[RegionHash]],
        banks: Iterable[str] | None = None,
        pictures: Sequence[QueryPicture | None] | None = None,
    ) -> list[list[Match]]:
        """`match_regions` of many pictures (live samples) in one batched query: the PDQ
        ``values[i]`` of picture i (``variants[i]``: its dihedral PDQs or none) and of its
        ``regions[i]``; ``pictures[i]`` its pixels for the wider net (None: no wider net for
        it). One list of matches per picture, in order."""
        return self._regions_many(
            session,
            values=values,
            qualities=qualities,
            variants=variants,
            regions=regions,
            banks=banks,
            pictures=pictures,
        )[0]

    def _regions_many(
        self,
        session: Session,
        *,
        values: Sequence[str],
        qualities: Sequence[int | None],
        variants: Sequence[Sequence[str]],
        regions: Sequence[Sequence[RegionHash]],
        banks: Iterable[str] | None = None,
        pictures: Sequence[QueryPicture | None] | None = None,
        shared: bool = False,
    ) -> tuple[list[list[Match]], list[int]]:
        """`match_regions_many`, and per picture how many banked items within the wider net
        were left unverified (`match_verify_max` spent). ``shared``: the pictures are the
        sampled frames of one query video: their wider-net candidates are verified in one
        queue (closest first, one `match_verify_max` for all of them; a banked item matched
        within its threshold in any frame is not verified in another), and the count of
        items left unverified is the first picture's."""
        chosen = list(banks) if banks is not None else None
        views = self._banks(session, chosen)
        rules = self._rules(views, "pdq")
        floor = min((r.quality_floor for r in rules.values()), default=0)
        kept = [[r for r in rs if r.quality >= floor] for rs in regions]  # others: no bank
        seen = list(pictures) if pictures is not None else [None] * len(values)
        widen = self._wider(session, views, rules) if any(p is not None for p in seen) else {}
        owner: list[tuple[int, RegionHash | None]] = []
        flat_values: list[str] = []
        flat_qualities: list[int | None] = []
        flat_variants: list[Sequence[str]] = []
        for i, value in enumerate(values):
            owner.append((i, None))
            flat_values.append(value)
            flat_qualities.append(qualities[i])
            flat_variants.append(variants[i])
            for r in kept[i]:
                owner.append((i, r))
                flat_values.append(r.pdq)
                flat_qualities.append(r.quality)
                flat_variants.append(r.variants)
        found = self.lookup_many(
            session,
            signal_type="pdq",
            values=flat_values,
            qualities=flat_qualities,
            banks=chosen,
            variants=flat_variants,
            variant_names=TRANSFORMS,
            widen=widen,
        )
        best: list[dict[tuple[str, int], Match]] = [{} for _ in values]
        candidates: list[dict[tuple[str, int], list[Match]]] = [{} for _ in values]
        unverified = [0 for _ in values]
        region_cap = self.calibration.cap("pdq", "region")
        for (i, region), matches in zip(owner, found, strict=True):
            for m in matches:
                # a wider-net candidate is held to local features, not to a hash's point
                wide = m.bank in widen and m.distance > rules[m.bank].threshold
                if wide and seen[i] is None:
                    continue  # no pixels to verify it against
                if region is not None:
                    if not wide and region_cap is not None and m.distance > region_cap:
                        continue  # beyond the regions' operating point
                    m = replace(m, region=region.box, transform=region.transform(m.transform))
                key = (m.bank, m.content_id)
                if wide:
                    candidates[i].setdefault(key, []).append(m)
                elif key not in best[i] or m.distance < best[i][key].distance:
                    best[i][key] = m
        together: dict[tuple[str, int], list[tuple[int, Match]]] = {}
        matched = {key for b in best for key in b} if shared else set()
        for i, picture in enumerate(seen):
            if picture is None:
                continue
            if widen:
                queries = [
                    (values[i], qualities[i], None),
                    *((r.pdq, r.quality, r) for r in kept[i]),
                ]
                for m in self._crop_candidates(session, views, rules, widen, queries):
                    if (m.bank, m.content_id) not in best[i]:
                        candidates[i].setdefault((m.bank, m.content_id), []).append(m)
            done = matched if shared else best[i].keys()
            pending = {k: [(i, m) for m in ms] for k, ms in candidates[i].items() if k not in done}
            if shared:  # one queue and one budget for all the pictures (a video's frames)
                for k, entries in pending.items():
                    together.setdefault(k, []).extend(entries)
            elif pending:
                verified, unverified[i] = self._verified(session, seen, pending)
                for _, m in verified:
                    best[i][(m.bank, m.content_id)] = m
        if together:
            verified, unverified[0] = self._verified(session, seen, together)
            for i, m in verified:
                best[i][(m.bank, m.content_id)] = m
        return [sorted(b.values(), key=_order) for b in best], unverified

    def _crop_candidates(
        self,
        session: Session,
        banks: Mapping[str, BankView],
        rules: Mapping[str, MatchRules],
        widen: Mapping[str, int],
        queries: Sequence[tuple[str, int | None, RegionHash | None]],
    ) -> list[Match]:
        """Wider-net candidates from the standard crops of banked pictures
        (`vangnet.match.crops`): each query hash (the whole photo, its regions) within
        ``pdq_crop_threshold`` (at most the bank's `verify_threshold`) of a crop of an
        enabled banked item, held to the bank's quality floor. Candidates only: `_verified`
        decides."""
        settings = self.settings or documented_settings()
        radius = {
            banks[n].id: min(settings.pdq_crop_threshold, r) for n, r in widen.items() if n in banks
        }
        hits = self.crops.lookup(session, radius, [q[0] for q in queries], self._seal())
        signal_of = pdq_signal_ids(session, {h.content_id for found in hits for h in found})
        infos = describe_signals(session, signal_of.values())
        out: list[Match] = []
        for (_value, quality, region), found in zip(queries, hits, strict=True):
            for hit in found:
                info = infos.get(signal_of.get(hit.content_id, -1))
                if info is None or not info.enabled or info.bank_name not in widen:
                    continue
                if quality is not None and quality < rules[info.bank_name].quality_floor:
                    continue
                out.append(
                    Match(
                        bank=info.bank_name,
                        content_id=info.content_id,
                        signal_type="pdq",
                        distance=hit.distance,
                        category=str(info.category) if info.category else None,
                        signal_id=info.signal_id,
                        region=region.box if region is not None else None,
                        transform=region.transform() if region is not None else None,
                        crop=hit.crop,
                    )
                )
        return out

    def _seal(self) -> FeatureSeal:
        """What opens the stored features and crop hashes (a key derived from the vault
        key of the matcher's settings), made on first use."""
        if self._sealer is None:
            self._sealer = FeatureSeal.from_settings(self.settings or documented_settings())
        return self._sealer

    def _wider(
        self, session: Session, banks: Mapping[str, BankView], rules: Mapping[str, MatchRules]
    ) -> dict[str, int]:
        """The banks to look up beyond their threshold (bank -> `verify_threshold`): those
        whose radius is wider and that keep local features."""
        settings = self.settings or documented_settings()
        if settings.match_verify_max <= 0:
            return {}
        wider = {
            n: radius
            for n, b in banks.items()
            if n in rules and (radius := verify_threshold(b, self.settings)) > rules[n].threshold
        }
        if not wider:
            return {}
        ids = {banks[n].id: n for n in wider}
        keeping = banks_with_features(session, ids, FEATURES_KIND)
        return {ids[i]: wider[ids[i]] for i in keeping}

    def _verified(
        self,
        session: Session,
        pictures: Sequence[QueryPicture | None],
        candidates: Mapping[tuple[str, int], Sequence[tuple[int, Match]]],
    ) -> tuple[list[tuple[int, Match]], int]:
        """The wider net's candidates that local features confirm, one per banked item, each
        with the index of the picture (in ``pictures``) it was confirmed in: closest item
        first, up to `VERIFY_PER_ITEM` of its candidates (whole picture, variants, regions;
        closest first) and `match_verify_max` verifications in all. A candidate whose item
        has no features is not a match. Also how many banked items were left unverified
        because the budget was spent, or because a picture could not be made again (said in
        the answer, counted in `unverified_total` for the metrics, and logged).

        Features are read in steps of at most a budget's worth of items; before the checks
        of a step, the pictures they may need are told (`QueryPicture.prefetch`), so that a
        video's frames are decoded again together (`vangnet.signals.frame_pictures`)."""
        settings = self.settings or documented_settings()
        queue = sorted(
            (
                (key, sorted(entries, key=lambda e: (e[1].distance, e[0])))
                for key, entries in candidates.items()
            ),
            key=lambda kv: (kv[1][0][1].distance, kv[0]),
        )
        budget = settings.match_verify_max
        out: list[tuple[int, Match]] = []
        skipped = 0
        failed = 0  # items whose picture could not be made again (a video's frame)
        stored: dict[int, bytes] = {}
        fetched = 0  # the queue's items whose features were read (read in steps, not all)
        for n, ((_bank, content_id), entries) in enumerate(queue):
            if budget <= 0:
                skipped += 1
                continue
            if n >= fetched:  # at most the budget's worth of items at a time
                step = queue[n : n + max(1, budget)]
                stored = features_of(
                    session, [key[1] for key, _ in step], FEATURES_KIND, self._seal()
                )
                fetched = n + len(step)
                self._prefetch(pictures, [e for key, e in step if key[1] in stored], budget)
            data = stored.get(content_id)
            if data is None:
                continue
            try:
                reference = unpack(data)
            except ValidationError as error:  # one damaged row must not fail the request
                log.warning("wider net: features of item %d unusable: %s", content_id, error)
                continue
            for i, m in entries[:VERIFY_PER_ITEM]:
                picture = pictures[i]
                if budget <= 0 or picture is None:
                    break
                budget -= 1
                try:
                    result = picture.confirm(
                        m.region, m.transform, reference, most=settings.bank_features_keypoints
                    )
                except (MediaError, LookupError) as error:  # the frame could not be made again
                    log.warning("wider net: item %d not verified: %s", content_id, error)
                    failed += 1
                    break
                if (
                    result.plausible(turned_by(m.transform))
                    and result.inliers >= settings.match_verify_min_inliers
                ):
                    out.append((i, replace(m, inliers=result.inliers)))
                    break
        if skipped or failed:
            with self._counting:
                self.unverified_total += skipped + failed
                self.over_budget_total += 1 if skipped else 0
        if skipped:
            log.warning(
                "wider net: %d banked items within verify_threshold not verified "
                "(match_verify_max %d spent)",
                skipped,
                settings.match_verify_max,
            )
        return out, skipped + failed

    @staticmethod
    def _prefetch(
        pictures: Sequence[QueryPicture | None],
        items: Sequence[Sequence[tuple[int, Match]]],
        budget: int,
    ) -> None:
        """Tell the pictures the next ``budget`` checks would use (each item's first
        `VERIFY_PER_ITEM` candidates, in queue order, none confirmed) that they are needed."""
        told: set[int] = set()
        for entries in items:
            for i, _ in entries[:VERIFY_PER_ITEM]:
                if budget <= 0:
                    return
                budget -= 1
                picture = pictures[i]
                if picture is not None and i not in told:
                    told.add(i)
                    picture.prefetch()

    def lookup_hashes(
        self, session: Session, hashed: Hashes, *, banks: Iterable[str] | None = None
    ) -> Lookup:
        """The answer for one file (``vangnet match``, ``/v1/match``): its hashes and their
        matches. A photo's `Hashes.dihedral` variants and `Hashes.regions`, when computed,
        are matched as PDQ and left out of the answer's hashes, as is its `Hashes.picture`
        (the pixels the wider net verifies its candidates against). `Lookup.unverified`:
        the wider net's candidates left unverified (`match_verify_max` spent)."""
        found = self.match_file(
            session,
            hashed,
            banks=banks,
            variants=hashed.dihedral,
            regions=hashed.regions,
            picture=hashed.picture,
        )
        return Lookup(
            replace(hashed, dihedral=(), regions=(), photo_frames=(), picture=None),
            found.matches,
            found.unverified,
        )
