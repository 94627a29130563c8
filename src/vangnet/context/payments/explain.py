"""How a payment reason reads and which rows it names: one place that turns a set of payment
indices into a `Reason` (rows capped at the rules' ``max_rows``, the full count kept in its
details), plus the small formatting the summaries share (money, countries, days)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from vangnet.context.findings import Reason, Role, RowRef
from vangnet.context.payments.groups import I64
from vangnet.context.payments.table import PaymentTable
from vangnet.sources.records.model import RecordKind


class PaymentIndicator(StrEnum):
    """The payment indicators' stable names (``Reason.indicator``; the rules' keys)."""

    LOW_VALUE_CORRIDOR = "low_value_corridor"
    HUB_BENEFICIARY = "hub_beneficiary"
    PAYS_HUB = "pays_hub"
    COVER_NARRATIVE = "cover_narrative"
    PURCHASES = "purchases"
    TRAVEL = "travel"
    ESCALATION = "escalation"
    NIGHT = "night"
    NIGHT_ACROSS_ZONES = "night_across_zones"
    ROUND_AMOUNTS = "round_amounts"
    STRUCTURING = "structuring"
    NEW_BENEFICIARIES = "new_beneficiaries"
    NO_FAMILY_LINK = "no_family_link"
    EGMONT = "egmont"
    CRYPTO_YOUNG = "crypto_young"


class SessionIndicator(StrEnum):
    """The session indicators' stable names."""

    PAYMENT_NEAR_SESSION = "payment_near_session"
    PAYMENT_TO_SESSION_COUNTRY = "payment_to_session_country"
    NIGHT_CORRIDOR_SESSION = "night_corridor_session"


def eur(value: float) -> str:
    """``€24`` / ``€1,250``."""
    return f"€{value:,.0f}"


def band_text(lo: float, hi: float) -> str:
    return f"€{lo:,.0f}-{hi:,.0f}"


def countries_text(table: PaymentTable, idx: I64) -> str:
    """The beneficiary countries of the rows, commonest first (``PH`` / ``PH, TH``)."""
    counts = Counter(table.country(int(c)) for c in table.beneficiary_country[idx])
    return ", ".join(c for c, _ in counts.most_common(3))


def days_text(seconds: float) -> str:
    days = seconds / 86_400
    return f"{days:.0f} days" if days >= 1.5 else f"{max(seconds / 3600, 1):.0f} hours"


def payment_reason(
    table: PaymentTable,
    indicator: StrEnum,
    *,
    account: int,
    weight: float,
    summary: str,
    rows: I64,
    max_rows: int,
    role: Role = Role.VIEWER,
    details: dict[str, Any] | None = None,
) -> Reason:
    """A reason about account code ``account`` behind payment indices ``rows``."""
    rows = np.unique(rows)
    newest = int(table.t[rows].max()) if rows.size else None
    refs = tuple(RowRef(RecordKind.PAYMENTS, table.payments[int(i)].ref) for i in rows[:max_rows])
    info: dict[str, Any] = {"payments": int(rows.size)}
    if rows.size:
        info["total_eur"] = round(float(np.nansum(table.eur[rows])), 2)
    info.update(details or {})
    return Reason(
        indicator=str(indicator),
        account=table.account(account),
        weight=weight,
        summary=summary,
        rows=refs,
        at=datetime.fromtimestamp(newest, UTC) if newest is not None else None,
        role=role,
        details=info,
    )
