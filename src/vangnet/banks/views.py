"""What the banks package returns: frozen views of banks, content, signals, change-log
entries and import results (never the database rows themselves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from vangnet.banks.categories import Category
from vangnet.store.models import Bank, ChangeOp


@dataclass(frozen=True, slots=True)
class BankView:
    id: int
    name: str
    matching_enabled_ratio: float
    category_profile: str
    high_confidence: bool
    thresholds: dict[str, dict[str, Any]]
    note: str | None
    created_at: datetime
    updated_at: datetime
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.matching_enabled_ratio > 0

    @classmethod
    def of(cls, bank: Bank) -> BankView:
        return cls(
            id=bank.id,
            name=bank.name,
            matching_enabled_ratio=bank.matching_enabled_ratio,
            category_profile=bank.category_profile,
            high_confidence=bank.high_confidence,
            thresholds={k: dict(v) for k, v in bank.thresholds.items()},
            note=bank.note,
            created_at=bank.created_at,
            updated_at=bank.updated_at,
            policy=dict(bank.policy or {}),
        )


@dataclass(frozen=True, slots=True)
class ContentView:
    id: int
    bank_id: int
    bank_name: str
    category: Category | None
    source: str | None
    series: str | None
    note: str | None
    external_id: str | None
    enabled: bool
    signals: tuple[tuple[str, str], ...]  # (signal type, value), in insertion order
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int  # signals added
    skipped_existing: int  # records whose value the bank already held (or repeated)
    total: int  # records read


@dataclass(frozen=True, slots=True)
class IndexChange:
    seq: int
    op: ChangeOp
    signal_type: str
    signal_id: int
    bank_id: int
    value: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SignalInfo:
    signal_id: int
    signal_type: str
    value: str
    content_id: int
    bank_id: int
    bank_name: str
    category: Category | None
    enabled: bool  # matchable now: content enabled and bank enabled


class CurrentSignal(NamedTuple):
    signal_id: int
    value: str
    bank_id: int


def category_of(profile: str, code: str | None) -> Category | None:
    return None if code is None else Category(profile, code)
