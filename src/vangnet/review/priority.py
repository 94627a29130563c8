"""Explainable queue order: a score made of named parts, each shown to the reviewer.

The parts, largest first: how severe the matched category is, whether a live stream is still
running (a child may be being abused now), how sure the match is (high-confidence bank, exact
hash, a perceptual hash's distance against the bank's threshold for its signal type), how
many matches the case holds, how many people watch the stream, classifier scores, and
escalation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vangnet.signals.registry import signal_types

# Severity of a category ("profile:code"); unknown or uncategorised material still counts.
SEVERITY: dict[str, int] = {
    "vics:1": 40,
    "uk:A": 40,
    "uk:B": 32,
    "uk:C": 24,
    "vics:2": 20,
    "vics:3": 15,
    "vics:4": 5,
    "vics:0": 0,
}
UNCATEGORISED = 10
LIVE = 30


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

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "reasons": list(self.reasons)}


def priority(
    *,
    matches: Iterable[MatchFacts],
    banks: Mapping[str, BankFacts],
    live: bool,
    viewers: int | None,
    scores: Mapping[str, float] | None,
    escalated: bool,
) -> Priority:
    found = list(matches)
    result = Priority()
    if not found:
        return result
    worst = max(found, key=lambda m: SEVERITY.get(m.category or "", UNCATEGORISED))
    severity = SEVERITY.get(worst.category or "", UNCATEGORISED)
    label = worst.category or "uncategorised"
    result.add(severity, f"category {label} from bank {worst.bank}")
    if live:
        result.add(LIVE, "live stream still running")
    best = 0
    best_reason = ""
    installed = signal_types()
    for m in found:
        bank = banks.get(m.bank)
        if bank is not None and bank.high_confidence and best < 15:
            best, best_reason = 15, f"high-confidence bank {m.bank}"
        cls = installed.get(m.signal_type)
        if cls is None:
            continue
        if cls.index == "exact" and m.distance == 0 and best < 15:
            best, best_reason = 15, f"exact {m.signal_type} match"
        # near-match types (a default threshold above 0): the bank's threshold, else the type's
        default = cls.default_threshold
        threshold = default
        if bank is not None:
            threshold = int(
                bank.thresholds.get(m.signal_type, {}).get("threshold", default) or default
            )
        if default > 0 and threshold > 0:
            points = round(12 * max(0.0, 1 - m.distance / (threshold + 1)))
            if points > best:
                best = points
                best_reason = f"{m.signal_type} distance {m.distance} of threshold {threshold}"
    result.add(best, best_reason)
    result.add(min(20, 4 * (len(found) - 1)), f"{len(found)} matches")
    if viewers:
        result.add(min(15, round(5 * math.log10(1 + max(0, viewers)))), f"{viewers} viewers")
    if scores:
        name, value = max(scores.items(), key=lambda kv: kv[1])
        result.add(round(20 * max(0.0, min(1.0, float(value)))), f"classifier {name} {value:.2f}")
    if escalated:
        result.add(10, "escalated")
    return result
