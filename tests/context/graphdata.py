"""Small synthetic, benign populations for the graph and assessment tests: a facilitator
``fac`` in PH paid by viewers in NL, AU and US (and one more facilitator ``fac2``), ordinary
family remittances that must not make a hub, chats, a monitored call session and accounts
sharing a device."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from vangnet.context.population import Population
from vangnet.sources.records.model import Account, CallSession, Channel, Message, Payment

T0 = datetime(2026, 11, 2, 21, 0, tzinfo=UTC)  # a Monday


def pay(
    ref: str,
    sender: str,
    beneficiary: str,
    amount: str = "25.00",
    *,
    currency: str = "EUR",
    days: float = 0,
    sender_country: str | None = None,
    beneficiary_country: str | None = "PH",
) -> Payment:
    return Payment(
        ref=ref,
        at=T0 + timedelta(days=days),
        sender=sender,
        beneficiary=beneficiary,
        amount=Decimal(amount),
        currency=currency,
        channel=Channel.REMITTANCE,
        sender_country=sender_country,
        beneficiary_country=beneficiary_country,
    )


VIEWERS = {"v1": "NL", "v2": "NL", "v3": "AU", "v4": "US", "v5": "NL", "v6": "AU"}


def population() -> Population:
    payments: list[Payment] = []
    n = 0
    for i, (viewer, country) in enumerate(sorted(VIEWERS.items())):
        for week in range(2 if i % 2 else 1):
            n += 1
            payments.append(
                pay(f"P{n}", viewer, "fac", "20.00", days=i + 7 * week, sender_country=country)
            )
    # v1 and v3 also pay a second facilitator: their own cluster
    payments.append(pay("P90", "v1", "fac2", "30.00", currency="USD", days=9, sender_country="NL"))
    payments.append(pay("P91", "v3", "fac2", "50.00", currency="AUD", days=10, sender_country="AU"))
    # ordinary family remittances: two senders to mum, no hub
    payments.append(pay("F1", "son", "mum", "200.00", days=3, sender_country="NL"))
    payments.append(pay("F2", "daughter", "mum", "150.00", days=4, sender_country="NL"))
    payments.append(pay("F3", "son", "mum", "200.00", days=33, sender_country="NL"))
    # a currency without a rate: counted, not converted
    payments.append(pay("X1", "son", "mum", "5.00", currency="XTS", days=34, sender_country="NL"))
    messages = [
        Message("M1", "c1", T0 + timedelta(hours=1), "v1", "hello, are you online", ("fac",)),
        Message("M2", "c1", T0 + timedelta(hours=2), "fac", "yes, send first", ("v1",)),
        Message("M3", "c1", T0 + timedelta(hours=3), "v1", "ok sent", ("fac",)),
    ]
    sessions = [
        CallSession(
            "S1",
            "videoapp",
            T0 + timedelta(hours=4),
            ("fac", "v1"),
            countries=("PH", "NL"),
            stream="7",
        )
    ]
    accounts = {
        "fac": Account("fac", name="Facilitator One", country="PH", handles=("fac_live",)),
        "v1": Account("v1", country="NL", devices=("dev-A",)),
        "v9": Account("v9", country="NL", devices=("dev-A",), handles=("nine",)),
        "mum": Account("mum", country="PH"),
    }
    return Population(payments=payments, messages=messages, sessions=sessions, accounts=accounts)
