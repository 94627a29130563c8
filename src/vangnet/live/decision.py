"""Per-stream decisions: turn per-sample matches into alerts with each bank's rule.

The rule is "at least ``min_frames`` of the stream's last ``window`` samples matched the same
banked item". A bank's policy may set both (``live_min_frames``, ``live_window``); otherwise a
high-confidence bank uses the settings ``live_high_confidence_min_frames`` /
``live_high_confidence_window`` (default: one matching sample) and other banks
``live_min_frames`` / ``live_window`` (default 2 of the last 5). Rules are data, never
constants in code.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vangnet.config import Settings
from vangnet.match.results import Match


@dataclass(frozen=True)
class Rule:
    min_frames: int
    window: int

    def describe(self) -> str:
        if self.min_frames == 1 and self.window == 1:
            return "1 matching sample"
        return f"{self.min_frames} of the last {self.window} samples"


def default_rule(settings: Settings, *, high_confidence: bool) -> Rule:
    """The rule of banks whose policy sets none: ``live_min_frames`` of the last
    ``live_window`` samples, or for high-confidence banks ``live_high_confidence_min_frames``
    of the last ``live_high_confidence_window`` (a window holds at least min_frames)."""
    if high_confidence:
        count, window = (
            settings.live_high_confidence_min_frames,
            settings.live_high_confidence_window,
        )
    else:
        count, window = settings.live_min_frames, settings.live_window
    return Rule(count, max(window, count))


def rule_for(policy: Mapping[str, Any], *, default: Rule) -> Rule:
    """A bank's live rule from its policy; else ``default`` (`default_rule` of the settings
    and the bank's confidence)."""
    min_frames = int(policy.get("live_min_frames", default.min_frames))
    window = int(policy.get("live_window", max(default.window, min_frames)))
    return Rule(min_frames, max(window, min_frames))


def found_keys(match: Match) -> dict[str, Any]:
    """How a sample's match was found, when not by its whole frame as sampled: ``region``
    (``[x, y, w, h]`` in the frame's own pixels, as cases keep it in ``case_matches.found``),
    ``transform``, and for a candidate of the wider net the local features that confirmed it
    (``inliers``) and the banked crop that brought it near (``crop``); empty for a
    whole-frame match. Match events carry these keys, and an alert's matched frame keeps
    them (``alert_frames.found``)."""
    out: dict[str, Any] = {}
    if match.region is not None:
        r = match.region
        out["region"] = [r.x, r.y, r.w, r.h]
    if match.transform is not None:
        out["transform"] = match.transform
    if match.inliers is not None:
        out["inliers"] = match.inliers
    if match.crop is not None:
        out["crop"] = [round(v, 4) for v in match.crop]
    return out


@dataclass(frozen=True)
class SampleMatch:
    """One matching sample of one banked item."""

    stream_time: float
    match: Match


@dataclass(frozen=True)
class Decision:
    """The rule of ``bank`` is met for ``content_id``: the matching samples in the window."""

    bank: str
    content_id: int
    rule: Rule
    samples: tuple[SampleMatch, ...]
    first: bool  # the first decision for this item on this stream


@dataclass
class DecisionWindow:
    """The recent samples of one stream and what each matched."""

    rules: Mapping[str, Rule]
    _recent: deque[dict[tuple[str, int], SampleMatch]] = field(default_factory=deque)
    _decided: set[tuple[str, int]] = field(default_factory=set)

    def _depth(self) -> int:
        return max((r.window for r in self.rules.values()), default=1)

    def add(self, stream_time: float, matches: Iterable[Match]) -> list[Decision]:
        """Record one sample's matches; return the decisions they complete or extend."""
        current: dict[tuple[str, int], SampleMatch] = {}
        for m in matches:
            key = (m.bank, m.content_id)
            best = current.get(key)
            if best is None or m.distance < best.match.distance:
                current[key] = SampleMatch(stream_time, m)
        self._recent.append(current)
        while len(self._recent) > self._depth():
            self._recent.popleft()
        decisions = []
        for key in current:
            rule = self.rules.get(key[0])
            if rule is None:
                continue
            window = list(self._recent)[-rule.window :]
            hits = tuple(s[key] for s in window if key in s)
            if len(hits) >= rule.min_frames:
                first = key not in self._decided
                self._decided.add(key)
                decisions.append(Decision(key[0], key[1], rule, hits, first))
        return decisions

    def mark_decided(self, keys: Iterable[tuple[str, int]]) -> None:
        """Items already alerted on (a resumed stream): later matches extend those alerts."""
        self._decided.update(keys)
