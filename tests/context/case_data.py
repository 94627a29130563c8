"""A tiny, benign population for the context-case tests, and a test evaluator that finds
reasons in it by real rules (so rows that must not fire do not).

``viewer-1`` pays ``fac-1`` two small remittances to a watched corridor and asks for a price
in a chat, then calls: two indicators, risk 0.88 (above 0.8). ``low-1`` pays once: 0.3, below.
``bystander`` pays a local bill: nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

import pytest
from sqlalchemy.orm import Session

from vangnet.context import stored
from vangnet.context.findings import Reason, Role, RowRef
from vangnet.context.population import REGISTRY, Evaluator, Population
from vangnet.sources.records.model import (
    Account,
    CallSession,
    Channel,
    Message,
    Payment,
    RecordKind,
)

T0 = datetime(2026, 11, 1, 22, 30, tzinfo=UTC)
CORRIDOR = "PH"


def payment(
    ref: str,
    sender: str,
    beneficiary: str,
    *,
    days: int,
    amount: str = "25.00",
    country: str = CORRIDOR,
    narrative: str = "for school",
) -> Payment:
    return Payment(
        ref=ref,
        at=T0 + timedelta(days=days),
        sender=sender,
        beneficiary=beneficiary,
        amount=Decimal(amount),
        currency="EUR",
        channel=Channel.REMITTANCE,
        sender_country="NL",
        beneficiary_country=country,
        narrative=narrative,
    )


PAYMENTS = [
    payment("TX-1", "viewer-1", "fac-1", days=0),
    payment("TX-2", "viewer-1", "fac-1", days=1, amount="30.00", narrative="<b>gift</b> & co"),
    payment("TX-3", "low-1", "fac-1", days=2),
    payment("TX-4", "bystander", "utility", days=2, amount="80.00", country="NL"),
]
MESSAGES = [
    Message(
        "M-1",
        "conv-1",
        T0 - timedelta(hours=2),
        "viewer-1",
        "what is the price for a show",
        ("fac-1",),
        "chatapp",
        "en",
    ),
    Message(
        "M-2",
        "conv-1",
        T0 - timedelta(hours=1),
        "fac-1",
        "send first then we talk",
        ("viewer-1",),
        "chatapp",
        "en",
    ),
    Message("M-3", "conv-2", T0, "bystander", "see you at dinner", ("friend",), "chatapp", "en"),
]
SESSIONS = [
    CallSession(
        "S-1",
        "callapp",
        T0 + timedelta(hours=1),
        ("viewer-1", "fac-1"),
        T0 + timedelta(hours=2),
        ("NL", "PH"),
    ),
]
ACCOUNTS = [
    Account("viewer-1", country="NL", platform="chatapp", devices=("dev-9",)),
    Account("fac-1", country="PH", platform="chatapp"),
]


def store(session: Session, *, payments: list[Payment] | None = None) -> None:
    """The population in the database (committed)."""
    for p in PAYMENTS if payments is None else payments:
        session.add(stored.payment_row(p))
    for m in MESSAGES:
        session.add(stored.message_row(m))
    for c in SESSIONS:
        session.add(stored.session_row(c))
    for a in ACCOUNTS:
        session.add(stored.account_row(a))
    session.commit()


class CorridorAndPrice(Evaluator):
    """Test rules: repeated small remittances to the corridor (0.7 for two or more, 0.3 for
    one) and a sender asking a price in a chat (0.6, with the call that followed)."""

    name: ClassVar[str] = "test_corridor_price"
    summary: ClassVar[str] = "test evaluator"

    def evaluate(self, population: Population) -> list[Reason]:
        out: list[Reason] = []
        by_sender: dict[str, list[Payment]] = {}
        for p in population.payments:
            if p.beneficiary_country == CORRIDOR and p.amount <= Decimal("50"):
                by_sender.setdefault(p.sender, []).append(p)
        for sender, pays in sorted(by_sender.items()):
            out.append(
                Reason(
                    indicator="test_corridor",
                    account=sender,
                    weight=0.7 if len(pays) >= 2 else 0.3,
                    summary=f"{len(pays)} small remittances to {CORRIDOR} <corridor>",
                    rows=tuple(RowRef(RecordKind.PAYMENTS, p.ref) for p in pays),
                    at=max(p.at for p in pays),
                    role=Role.VIEWER,
                )
            )
        for m in population.messages:
            if "price" in m.text:
                calls = [c for c in population.sessions if m.sender in c.participants]
                out.append(
                    Reason(
                        indicator="test_price",
                        account=m.sender,
                        weight=0.6,
                        summary="asked for a price, then a call",
                        rows=(
                            RowRef(RecordKind.MESSAGES, m.ref),
                            *tuple(RowRef(RecordKind.SESSIONS, c.ref) for c in calls),
                        ),
                        at=m.at,
                        role=Role.VIEWER,
                    )
                )
        return out


@pytest.fixture
def test_evaluator() -> Iterator[type[CorridorAndPrice]]:
    """`CorridorAndPrice` installed as a context evaluator (unregistered afterwards)."""
    REGISTRY.register(CorridorAndPrice)
    try:
        yield CorridorAndPrice
    finally:
        REGISTRY.unregister(CorridorAndPrice.name)
