"""The sessions evaluator: payments around calls between the payer and payee, payments to
the country a call came from, corridor calls at the account's night."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vangnet.context.findings import Role
from vangnet.context.payments.sessions import SessionsEvaluator
from vangnet.context.population import Population, evaluators
from vangnet.sources.records.model import Account, CallSession, Payment, RecordKind

from .test_payment_indicators import fired, pay, refs, rows

T0 = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)
H = timedelta(hours=1)


def call(
    ref: str,
    a: str,
    b: str,
    at: datetime,
    countries: tuple[str | None, ...] = ("NL", "PH"),
    minutes: int = 30,
) -> CallSession:
    return CallSession(
        ref=ref,
        platform="videocall",
        started_at=at,
        participants=(a, b),
        ended_at=at + timedelta(minutes=minutes),
        countries=countries,
    )


def run(payments: list[Payment], sessions: list[CallSession], accounts: list[Account] = []):  # noqa: B006
    pop = Population(payments=payments, sessions=sessions, accounts={a.ref: a for a in accounts})
    return SessionsEvaluator().evaluate(pop)


def test_registered_under_the_evaluator_entry_points() -> None:
    assert {"payments", "sessions"} <= set(evaluators())


def test_payment_near_a_session_between_payer_and_payee() -> None:
    sessions = [call("c1", "v", "f", T0), call("c2", "v", "f", T0 + 72 * H)]
    near = [pay("v", "f", 25, T0 - 2 * H), pay("v", "f", 30, T0 + 73 * H)]
    later = [pay("w", "g", 25, T0 + 100 * H), pay("w", "g", 25, T0 + 120 * H)]
    w_calls = [call("c3", "w", "g", T0)]
    reasons = run(near + later, sessions + w_calls)
    hits = fired(reasons, "payment_near_session")
    assert set(hits) == {"v", "f"}
    assert hits["v"].role is Role.VIEWER and hits["f"].role is Role.FACILITATOR
    assert rows(hits["v"]) == refs(near)
    assert rows(hits["v"], RecordKind.SESSIONS) == {"c1", "c2"}
    assert hits["v"].summary.startswith("paid f 2 times (€55) within 6 h of 2 sessions")


def test_one_payment_or_a_large_family_payment_is_not_enough() -> None:
    sessions = [call("c1", "v", "f", T0), call("c2", "m", "mum", T0)]
    payments = [pay("v", "f", 25, T0 + H), pay("m", "mum", 400, T0), pay("m", "mum", 380, T0 + H)]
    assert not fired(run(payments, sessions), "payment_near_session")


def test_payment_to_the_country_a_session_came_from() -> None:
    sessions = [call("c1", "v", "handle-x", T0), call("c2", "v", "handle-x", T0 + 48 * H)]
    to_ph = [pay("v", "cashier", 25, T0 + H), pay("v", "cashier", 30, T0 + 47 * H)]
    to_th = [pay("w", "other", 25, T0 + H, to="TH"), pay("w", "other", 25, T0 + 2 * H, to="TH")]
    w_calls = [call("c3", "w", "handle-y", T0)]
    reasons = run(to_ph + to_th, sessions + w_calls)
    hits = fired(reasons, "payment_to_session_country")
    assert set(hits) == {"v"} and rows(hits["v"]) == refs(to_ph)
    assert not fired(reasons, "payment_near_session")


def test_corridor_sessions_at_the_accounts_night() -> None:
    nl = Account("v", country="NL", timezone="Europe/Amsterdam")
    night = [call(f"n{d}", "v", "f", datetime(2026, 11, d, 1, 30, tzinfo=UTC)) for d in (2, 5)]
    day = [call(f"d{d}", "w", "g", datetime(2026, 11, d, 13, 0, tzinfo=UTC)) for d in (2, 5)]
    home = [
        call(f"h{d}", "x", "y", datetime(2026, 11, d, 1, 30, tzinfo=UTC), ("NL", "NL"))
        for d in (2, 5)
    ]
    reasons = run([], night + day + home, [nl])
    hits = fired(reasons, "night_corridor_session")
    assert set(hits) == {"v"}
    assert rows(hits["v"], RecordKind.SESSIONS) == {"n2", "n5"}
    assert "from PH at night" in hits["v"].summary


def test_no_sessions_no_reasons() -> None:
    assert run([pay("v", "f", 25, T0)], []) == []


def test_matching_keys_of_a_large_population_do_not_overflow() -> None:
    import numpy as np

    from vangnet.context.payments.sessions import _match

    year = 365 * 86_400
    big = 10**12  # a (payer, payee) key with a million accounts
    pay_key = np.array([big, big, big + 1], dtype=np.int64)
    t = np.array([0, year, year], dtype=np.int64)
    order, first, stop = _match(
        pay_key,
        t,
        np.arange(3, dtype=np.int64),
        np.array([big, big + 1, 5], dtype=np.int64),
        np.array([year - 10, year - 10, 0], dtype=np.int64),
        np.array([year + 10, year + 10, year], dtype=np.int64),
    )
    assert [order[a:b].tolist() for a, b in zip(first, stop, strict=True)] == [[1], [2], []]
