"""Context records round-trip through their tables on SQLite and PostgreSQL (exact amounts,
aware UTC times, lists), are read back in time order within a window, and reasons combine
into an account's risk as documented (noisy-OR over each indicator's strongest reason)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from vangnet.context import stored
from vangnet.context.findings import Reason, Role, RowRef, assess_all, combine
from vangnet.sources.records.model import (
    Account,
    CallSession,
    Channel,
    Message,
    Payment,
    RecordKind,
)

T0 = datetime(2026, 11, 1, 22, 30, tzinfo=UTC)


def test_records_round_trip_and_window(db_session: Session) -> None:
    pays = [
        Payment(
            ref=f"TX-{i}",
            at=T0 + timedelta(days=i),
            sender="viewer-1",
            beneficiary="fac-1",
            amount=Decimal("25.10") + i,
            currency="EUR",
            channel=Channel.REMITTANCE,
            sender_country="NL",
            beneficiary_country="PH",
            narrative="for school",
        )
        for i in range(3)
    ]
    msg = Message("M-1", "conv-1", T0, "viewer-1", "hello", ("fac-1",), "chatapp", "en")
    call = CallSession("S-1", "callapp", T0, ("viewer-1", "fac-1"), None, ("NL", "PH"), "7")
    acct = Account("viewer-1", country="NL", timezone="Europe/Amsterdam", handles=("@v1",))
    for p in reversed(pays):
        db_session.add(stored.payment_row(p))
    db_session.add_all(
        [stored.message_row(msg), stored.session_row(call), stored.account_row(acct)]
    )
    db_session.commit()

    back = list(stored.payments(db_session, since=T0 + timedelta(days=1)))
    assert back == pays[1:]
    assert back[0].amount == Decimal("26.10")
    assert back[0].at.tzinfo is not None
    assert list(stored.payments(db_session, until=T0 + timedelta(hours=1))) == pays[:1]
    assert list(stored.messages(db_session)) == [msg]
    assert list(stored.sessions(db_session)) == [call]
    assert list(stored.accounts(db_session)) == [acct]


def _reason(indicator: str, account: str, weight: float, role: Role = Role.VIEWER) -> Reason:
    rows = (RowRef(RecordKind.PAYMENTS, "x"),)
    return Reason(indicator, account, weight, indicator, rows, role=role)


def test_one_indicator_repeated_does_not_add_up() -> None:
    assert combine([_reason("a", "v", 0.3)] * 5) == pytest.approx(0.3)
    assert combine([_reason("a", "v", 0.3), _reason("b", "v", 0.5)]) == pytest.approx(0.65)
    assert combine([]) == 0.0
    assert combine([_reason("a", "v", 7.0)]) == 1.0


def test_assess_all_ranks_accounts_with_reasons_strongest_first() -> None:
    reasons = [
        _reason("a", "v1", 0.2),
        _reason("b", "v1", 0.6),
        _reason("a", "v2", 0.3),
        Reason("hub", "f1", 0.5, "paid by 12 senders", role=Role.FACILITATOR),
    ]
    risks = assess_all(reasons)
    assert [r.account for r in risks] == ["v1", "f1", "v2"]
    assert [r.indicator for r in risks[0].reasons] == ["b", "a"]
    assert risks[0].role is Role.VIEWER and risks[1].role is Role.FACILITATOR
    assert risks[0].as_json()["indicators"] == ["b", "a"]
