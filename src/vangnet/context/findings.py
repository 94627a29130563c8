"""What the context stage finds: explainable `Reason`\\ s about accounts, combined into an
`AccountRisk`.

Every indicator (payments, chats, sessions, the graph) says *why* with a `Reason`: its stable
``indicator`` name, the ``account`` it is about, its ``weight`` (from the rules data, never a
constant in code), a one-line ``summary`` a reviewer reads, and the records behind it
(``rows``: each a `RowRef` to a stored payment, message, session or account). `combine` turns
an account's reasons into one score in [0, 1]: a noisy-OR over the strongest reason of each
indicator, so repeating one indicator never adds up to an alert by itself and independent
indicators reinforce each other (AUSTRAC: "no single indicator is enough").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from vangnet.sources.records.model import RecordKind


class Role(StrEnum):
    """What an account looks like in the typologies: a paying ``viewer`` (sender), a
    ``facilitator`` (a beneficiary paid by viewers), or ``unknown``."""

    VIEWER = "viewer"
    FACILITATOR = "facilitator"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RowRef:
    """One stored record behind a reason: its kind and its ``ref``."""

    kind: RecordKind
    ref: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "ref": self.ref}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an ``account`` looks like part of a typology, by one ``indicator``."""

    indicator: str
    account: str
    weight: float
    summary: str
    rows: tuple[RowRef, ...] = ()
    at: datetime | None = None  # when it fired (the newest row behind it)
    role: Role = Role.UNKNOWN
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator,
            "account": self.account,
            "weight": round(self.weight, 4),
            "summary": self.summary,
            "rows": [r.as_json() for r in self.rows],
            "at": self.at.isoformat() if self.at else None,
            "role": self.role.value,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """An account's combined ``score`` in [0, 1], its likeliest ``role`` and the reasons
    behind it, strongest first."""

    account: str
    score: float
    role: Role
    reasons: tuple[Reason, ...]

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.indicator for r in self.reasons))

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "score": round(self.score, 4),
            "role": self.role.value,
            "indicators": list(self.indicators),
            "reasons": [r.as_json() for r in self.reasons],
        }


def combine(reasons: Iterable[Reason]) -> float:
    """One score in [0, 1] from an account's reasons: 1 - prod(1 - w) over the strongest
    weight of each indicator (weights clipped to [0, 1])."""
    best: dict[str, float] = {}
    for r in reasons:
        w = min(1.0, max(0.0, float(r.weight)))
        if w > best.get(r.indicator, -1.0):
            best[r.indicator] = w
    keep = 1.0
    for w in best.values():
        keep *= 1.0 - w
    return 1.0 - keep


def role_of(reasons: Iterable[Reason]) -> Role:
    """The role most of an account's reason weight points to (``unknown`` if none)."""
    weight = {Role.VIEWER: 0.0, Role.FACILITATOR: 0.0}
    for r in reasons:
        if r.role in weight:
            weight[r.role] += r.weight
    if weight[Role.VIEWER] == weight[Role.FACILITATOR] == 0.0:
        return Role.UNKNOWN
    return Role.VIEWER if weight[Role.VIEWER] >= weight[Role.FACILITATOR] else Role.FACILITATOR


def assess(account: str, reasons: Iterable[Reason]) -> AccountRisk:
    """An account's `AccountRisk` from its reasons."""
    mine = sorted((r for r in reasons if r.account == account), key=lambda r: -r.weight)
    return AccountRisk(account, combine(mine), role_of(mine), tuple(mine))


def assess_all(reasons: Iterable[Reason]) -> list[AccountRisk]:
    """Every account's `AccountRisk`, highest score first (ties by account)."""
    by_account: dict[str, list[Reason]] = {}
    for r in reasons:
        by_account.setdefault(r.account, []).append(r)
    risks = [assess(a, rs) for a, rs in by_account.items()]
    risks.sort(key=lambda k: (-k.score, k.account))
    return risks
