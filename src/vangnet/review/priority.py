"""Explainable queue order: a score made of named parts, each shown to the reviewer.

The parts, largest first: how severe the matched category is, whether a live stream is still
running (a child may be being abused now), how sure the match is (high-confidence bank, exact
hash, a perceptual hash's distance against the bank's threshold for its signal type), how
many matches the case holds, how many people watch the stream, classifier scores, an
account's context risk (payments, chats, call sessions: `vangnet.context`), and escalation.
How many points each part is worth is configuration (`PriorityWeights`, from the
``review_priority_*`` settings).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vangnet.cases.document import PriorityDoc
from vangnet.config import Settings
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.signals.registry import signal_types


@dataclass(frozen=True)
class PriorityWeights:
    """Points of each part of the priority (the ``review_priority_*`` settings)."""

    #: Severity of a category ("profile:code"); unknown or uncategorised material still counts.
    severity: Mapping[str, int]
    uncategorised: int
    live: int
    confidence: int
    distance: int
    per_match: int
    matches_max: int
    viewers: float
    viewers_max: int
    classifier: int
    escalated: int
    #: a live review-now alert, and one whose samples read as a video call
    review_now: int = 0
    video_call: int = 0
    #: a context risk of 1.0 (scaled down with the account's risk score)
    context: int = 0
    #: how classifier scores fuse into the priority signal (None: every installed
    #: classifier at its default threshold, prior 0.5)
    fusion: Fusion | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, calibrated: Mapping[str, float] | None = None
    ) -> PriorityWeights:
        """The weights of ``settings``; ``calibrated``: the deployment's stored classifier
        thresholds (`vangnet.review.classifier_calibration.calibrated_thresholds`)."""
        return cls(
            severity=dict(settings.review_priority_severity),
            uncategorised=settings.review_priority_uncategorised,
            live=settings.review_priority_live,
            confidence=settings.review_priority_confidence,
            distance=settings.review_priority_distance,
            per_match=settings.review_priority_per_match,
            matches_max=settings.review_priority_matches_max,
            viewers=settings.review_priority_viewers,
            viewers_max=settings.review_priority_viewers_max,
            classifier=settings.review_priority_classifier,
            escalated=settings.review_priority_escalated,
            review_now=settings.review_priority_review_now,
            video_call=settings.review_priority_video_call,
            context=settings.review_priority_context,
            fusion=Fusion.from_settings(settings, calibrated=calibrated),
        )


@dataclass(frozen=True)
class MatchFacts:
    bank: str
    signal_type: str
    distance: int
    category: str | None


@dataclass(frozen=True)
class BankFacts:
    high_confidence: bool
    thresholds: Mapping[str, Mapping[str, Any]]


@dataclass
class Priority:
    score: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, points: int, reason: str) -> None:
        if points:
            self.score += points
            self.reasons.append(f"{reason} (+{points})")

    def to_dict(self) -> PriorityDoc:
        return {"score": self.score, "reasons": list(self.reasons)}


def priority(
    *,
    matches: Iterable[MatchFacts],
    banks: Mapping[str, BankFacts],
    live: bool,
    viewers: int | None,
    scores: Mapping[str, float] | None,
    escalated: bool,
    weights: PriorityWeights,
    review_now: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> Priority:
    """``review_now``: the case's live review-now alert (``summary``, ``video_call_likely``), if
    any: its points and summary come first, and a case with no match is scored by it.
    ``context``: the account's context risk kept on the case (``score``, ``indicators``), if
    any: ``weights.context`` points times its score, with its indicators as the reason."""
    w = weights
    found = list(matches)
    result = Priority()
    if context:
        _context_points(result, context, w)
    if review_now:
        result.add(w.review_now, f"review now: {review_now.get('summary') or 'likely'}")
        if review_now.get("video_call_likely"):
            result.add(w.video_call, "likely a video call")
        if not found:
            if live:
                result.add(w.live, "live stream still running")
            if escalated:
                result.add(w.escalated, "escalated")
            return result
    if not found:  # likely new material (a classifier case): its scores alone order it
        _classifier_points(result, scores, w)
        if (scores or context) and escalated:
            result.add(w.escalated, "escalated")
        return result
    worst = max(found, key=lambda m: w.severity.get(m.category or "", w.uncategorised))
    severity = w.severity.get(worst.category or "", w.uncategorised)
    label = worst.category or "uncategorised"
    result.add(severity, f"category {label} from bank {worst.bank}")
    if live:
        result.add(w.live, "live stream still running")
    best = 0
    best_reason = ""
    installed = signal_types()
    for m in found:
        bank = banks.get(m.bank)
        if bank is not None and bank.high_confidence and best < w.confidence:
            best, best_reason = w.confidence, f"high-confidence bank {m.bank}"
        cls = installed.get(m.signal_type)
        if cls is None:
            continue
        if cls.index == "exact" and m.distance == 0 and best < w.confidence:
            best, best_reason = w.confidence, f"exact {m.signal_type} match"
        # near-match types (a default threshold above 0): the bank's threshold, else the type's
        default = cls.default_threshold
        threshold = default
        if bank is not None:
            threshold = int(
                bank.thresholds.get(m.signal_type, {}).get("threshold", default) or default
            )
        if default > 0 and threshold > 0:
            points = round(w.distance * max(0.0, 1 - m.distance / (threshold + 1)))
            if points > best:
                best = points
                best_reason = f"{m.signal_type} distance {m.distance} of threshold {threshold}"
    result.add(best, best_reason)
    result.add(min(w.matches_max, w.per_match * (len(found) - 1)), f"{len(found)} matches")
    if viewers:
        points = min(w.viewers_max, round(w.viewers * math.log10(1 + max(0, viewers))))
        result.add(points, f"{viewers} viewers")
    _classifier_points(result, scores, w)
    if escalated:
        result.add(w.escalated, "escalated")
    return result


def _context_points(result: Priority, context: Mapping[str, Any], w: PriorityWeights) -> None:
    try:
        score = min(1.0, max(0.0, float(context.get("score") or 0.0)))
    except (TypeError, ValueError):
        return
    raw = context.get("indicators")
    named = ", ".join(str(i) for i in raw) if isinstance(raw, list | tuple) else ""
    result.add(
        round(w.context * score), f"context risk {score:.2f}" + (f": {named}" if named else "")
    )


def _classifier_points(
    result: Priority, scores: Mapping[str, float] | None, w: PriorityWeights
) -> None:
    if scores:
        fused = (w.fusion or Fusion.of()).fuse(scores)
        result.add(round(w.classifier * fused.value), fused.summary)
