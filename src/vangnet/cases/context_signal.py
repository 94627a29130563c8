"""What the context stage hands to a case: an account's risk as plain data (`ContextSignal`).

The context stage (`vangnet.context`) sits above the cases, so a case cannot take its
`AccountRisk` as such: `vangnet.context.filing` turns one into a `ContextSignal`, the risk
``score`` in [0, 1], the likeliest ``role``, and each reason (`ContextReason`) with the
records behind it as ``(kind, ref)`` pairs of the ``context_*`` tables. The intake
(`vangnet.cases.intake`, source ``context``) keeps those refs with the case
(``case_context_rows``) and a line per new reason on its timeline. A context signal is never
a verdict: it asks a person to look.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vangnet.errors import ValidationError
from vangnet.sources.records.model import RecordKind

#: The case key of a context case: one per account (``context:<ref>``), when the account is not
#: a known platform account that already groups media cases (`context_key`).
PREFIX = "context:"
_MAX_KEY = 255


@dataclass(frozen=True)
class ContextReason:
    """One reason of the risk: its ``indicator`` name, ``summary`` (one line a reviewer reads),
    ``weight``, the ``role`` it points to, when it fired (``at``) and its records."""

    indicator: str
    summary: str
    weight: float
    role: str = "unknown"
    at: datetime | None = None
    rows: tuple[tuple[RecordKind, str], ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.indicator or len(self.indicator) > 64:
            raise ValidationError("a context reason's indicator is 1-64 characters")
        for kind, ref in self.rows:
            if not isinstance(kind, RecordKind) or not ref or len(ref) > 255:
                raise ValidationError(f"bad context row {kind!r}/{ref!r:.80} of {self.indicator}")

    def as_json(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator,
            "summary": self.summary,
            "weight": round(float(self.weight), 4),
            "role": self.role,
            "at": self.at.isoformat() if self.at else None,
            "rows": [{"kind": k.value, "ref": r} for k, r in self.rows],
        }


@dataclass(frozen=True)
class ContextSignal:
    """An account's context risk: ``account`` (its ref), ``score`` in [0, 1], ``role``,
    ``reasons`` (strongest first), the ``platform`` the account is on when its account
    record says (then it is the platform account media cases are grouped by), and the
    ``assessment`` that produced it (an id or label, if any)."""

    account: str
    score: float
    role: str
    reasons: tuple[ContextReason, ...]
    platform: str | None = None
    assessment: str | None = None

    def __post_init__(self) -> None:
        if not self.account or len(self.account) > 255:
            raise ValidationError("a context signal's account is 1-255 characters")
        if not 0.0 <= self.score <= 1.0:
            raise ValidationError("a context risk score is a number from 0 to 1")
        if not self.reasons:
            raise ValidationError("a context signal needs at least one reason")

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.indicator for r in self.reasons))


def context_key(account: str) -> str:
    """The key of ``account``'s own context case (hashed when too long to index)."""
    raw = f"{PREFIX}{account}"
    if len(raw) > _MAX_KEY:
        raw = f"{PREFIX}sha256:" + hashlib.sha256(account.encode()).hexdigest()
    return raw
