"""Every payment indicator with rows that fire it and rows that must not (issue 14, point 2).

Populations are built in memory, a handful of payments each; the default rules
(``default_rules.toml``) are used unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from vangnet.context.findings import Reason, Role, RowRef, assess_all, combine
from vangnet.context.payments.evaluator import PaymentsEvaluator
from vangnet.context.payments.rules import default_rules
from vangnet.context.payments.table import normalise
from vangnet.context.population import Population
from vangnet.sources.records.model import Account, Channel, Payment, RecordKind

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
_n = 0


def pay(
    sender: str,
    beneficiary: str,
    amount: float | str,
    at: datetime,
    *,
    to: str | None = "PH",
    frm: str | None = "NL",
    currency: str = "EUR",
    channel: Channel = Channel.REMITTANCE,
    narrative: str = "",
    mcc: str | None = None,
    details: dict[str, Any] | None = None,
) -> Payment:
    global _n
    _n += 1
    return Payment(
        ref=f"p{_n}",
        at=at,
        sender=sender,
        beneficiary=beneficiary,
        amount=Decimal(str(amount)),
        currency=currency,
        channel=channel,
        sender_country=frm,
        beneficiary_country=to,
        narrative=narrative,
        merchant_category=mcc,
        details=details or {},
    )


def series(
    sender: str, beneficiary: str, amounts: Iterable[float], *, every: timedelta, **kw: Any
) -> list[Payment]:
    return [pay(sender, beneficiary, a, T0 + i * every, **kw) for i, a in enumerate(amounts)]


def run(payments: list[Payment], accounts: Iterable[Account] = ()) -> list[Reason]:
    pop = Population(payments=payments, accounts={a.ref: a for a in accounts})
    return PaymentsEvaluator().evaluate(pop)


def fired(reasons: list[Reason], indicator: str) -> dict[str, Reason]:
    return {r.account: r for r in reasons if r.indicator == indicator}


def refs(payments: Iterable[Payment]) -> set[str]:
    return {p.ref for p in payments}


def rows(reason: Reason, kind: RecordKind = RecordKind.PAYMENTS) -> set[str]:
    return {r.ref for r in reason.rows if r.kind is kind}


DAY = timedelta(days=1)


def test_low_value_corridor_fires_with_its_rows_and_summary() -> None:
    hit = series("v", "f", [20, 25, 24, 30, 22, 26], every=3 * DAY)
    reasons = fired(run(hit), "low_value_corridor")
    assert set(reasons) == {"v"}
    r = reasons["v"]
    assert rows(r) == refs(hit)
    assert r.summary == "6 payments of €10-200 to PH in 30 days (median €24)"
    assert r.role is Role.VIEWER and r.at == hit[-1].at
    assert r.details["payments"] == 6


@pytest.mark.parametrize(
    "payments",
    [
        series("a", "b", [25] * 6, every=3 * DAY, to="DE"),  # not a corridor
        series("a", "b", [25] * 6, every=30 * DAY),  # too spread out
        series("a", "b", [25] * 4, every=DAY),  # too few
        series("a", "b", [600] * 6, every=DAY),  # not low value
        series("a", "b", [25] * 6, every=DAY, channel=Channel.CARD),  # card purchases abroad
    ],
    ids=["domestic", "spread", "few", "large", "card"],
)
def test_low_value_corridor_stays_quiet(payments: list[Payment]) -> None:
    assert not fired(run(payments), "low_value_corridor")


def test_hub_beneficiary_and_the_senders_who_pay_it() -> None:
    countries = ["NL", "AU", "GB", "NL", "US", "CA"]
    hit = [pay(f"s{i}", "hub", 30, T0 + i * DAY, frm=c) for i, c in enumerate(countries)] + [
        pay("s0", "hub", 20, T0 + 9 * DAY, frm="NL")
    ]
    reasons = run(hit)
    hub = fired(reasons, "hub_beneficiary")
    assert set(hub) == {"hub"} and hub["hub"].role is Role.FACILITATOR
    assert hub["hub"].summary.startswith("paid by 6 senders in 5 countries")
    assert rows(hub["hub"]) == refs(hit)
    payers = fired(reasons, "pays_hub")
    assert set(payers) == {f"s{i}" for i in range(6)}
    assert payers["s0"].summary.startswith("pays a beneficiary paid by 6 senders in 5 countries")
    assert rows(payers["s0"]) == {hit[0].ref, hit[-1].ref}


def test_no_hub_with_few_senders_or_one_country() -> None:
    few = [pay(f"s{i}", "b", 30, T0 + i * DAY, frm="NL") for i in range(4)]
    one_country = [pay(f"t{i}", "c", 30, T0 + i * DAY, frm="NL") for i in range(8)]
    reasons = run(few + one_country)
    assert not fired(reasons, "hub_beneficiary") and not fired(reasons, "pays_hub")


def test_cover_narratives_are_normalised() -> None:
    hit = [
        pay("v", "f", 25, T0, narrative="School   UNIFORM!"),
        pay("v", "f", 30, T0 + DAY, narrative="médical bills"),
        pay("w", "g", 25, T0, narrative="pang-load po"),
        pay("w", "g", 25, T0 + DAY, narrative="BAON"),
    ]
    quiet = [
        pay("x", "h", 25, T0, narrative="schooling"),  # not a whole word
        pay("x", "h", 25, T0 + DAY, narrative="uniformity"),
        pay("y", "k", 25, T0, narrative="medical bills", to="DE"),  # not a corridor
        pay("y", "k", 25, T0 + DAY, narrative="tuition", to="DE"),
        pay("z", "m", 25, T0, narrative="gift"),  # only one
    ]
    reasons = fired(run(hit + quiet), "cover_narrative")
    assert set(reasons) == {"v", "w"}
    assert set(reasons["v"].details["keywords"]) == {
        "uniform",
        "school",
        "medical bills",
        "medical",
    }
    assert "'pang load'" in reasons["w"].summary and "'baon'" in reasons["w"].summary
    assert normalise(" Médical\tBILLS ") == " medical bills "


def test_purchases_only_with_corridor_payments() -> None:
    corridor = series("v", "f", [25, 30], every=DAY)
    vpn = pay("v", "shop", 9.99, T0 + 5 * DAY, to="US", channel=Channel.CARD, mcc="vpn")
    alone = pay("w", "shop", 9.99, T0, to="US", channel=Channel.CARD, mcc="vpn")
    one = [pay("x", "f2", 25, T0), pay("x", "shop", 9, T0, to="US", mcc="webcam_platform")]
    grocery = [*series("y", "f3", [25, 30], every=DAY), pay("y", "s", 50, T0, mcc="grocery")]
    reasons = fired(run([*corridor, vpn, alone, *one, *grocery]), "purchases")
    assert set(reasons) == {"v"}
    assert rows(reasons["v"]) == refs([*corridor, vpn])
    assert reasons["v"].summary.startswith("bought vpn (1 purchases) and made 2 low-value")


def test_travel_to_a_high_risk_country_with_corridor_payments() -> None:
    trip = pay(
        "v",
        "airline",
        900,
        T0,
        to="NL",
        channel=Channel.CARD,
        mcc="travel",
        details={"destination": "PH"},
    )
    corridor = series("v", "f", [25, 30], every=DAY)
    holiday = pay(
        "w",
        "airline",
        900,
        T0,
        to="NL",
        channel=Channel.CARD,
        mcc="travel",
        details={"destination": "TH"},
    )  # a corridor country, no corridor payments
    paris = [
        pay("x", "airline", 300, T0, to="FR", channel=Channel.CARD, mcc="travel"),
        *series("x", "g", [25, 30], every=DAY),
    ]
    reasons = fired(run([trip, *corridor, holiday, *paris]), "travel")
    assert set(reasons) == {"v"}
    assert reasons["v"].summary.startswith("bought travel to PH")


def test_escalation_by_amount_and_by_frequency() -> None:
    rising = series("v", "f", [10, 12, 15, 20, 26, 35, 45, 60], every=3 * DAY)
    flat = series("w", "g", [25, 24, 26, 25, 23, 25, 26, 24], every=3 * DAY)
    times = [0, 20, 21, 22, 23, 24, 25, 26]
    faster = [pay("x", "h", 25, T0 + d * DAY) for d in times]
    reasons = fired(run(rising + flat + faster), "escalation")
    assert set(reasons) == {"v", "x"}
    assert reasons["v"].details["rho"] == 1.0
    assert "amounts rising from a mean of €12 to €52" in reasons["v"].summary
    assert "as many payments in the second half" in reasons["x"].summary


def test_night_in_the_senders_local_time_dst_correct() -> None:
    sydney = Account("au", country="AU", timezone="Australia/Sydney")
    # 19:30 UTC is 06:30 in Sydney under daylight time (November): not night; 05:30 in
    # July (standard time): night. A fixed offset would get one of them wrong.
    summer = [
        pay("au", "f", 25, datetime(2026, 11, d, 19, 30, tzinfo=UTC), frm="AU")
        for d in (2, 5, 8, 11)
    ]
    winter = [
        pay("au2", "f", 25, datetime(2026, 7, d, 19, 30, tzinfo=UTC), frm="AU")
        for d in (2, 5, 8, 11)
    ]
    winter_acc = Account("au2", country="AU")  # no timezone: the country's main zone
    # 02:30 UTC in November is 03:30 in Amsterdam (the sender's country, no account).
    nl = [pay("nl", "g", 25, datetime(2026, 11, d, 2, 30, tzinfo=UTC)) for d in (2, 4, 6)]
    day = [pay("day", "h", 25, datetime(2026, 11, d, 14, 0, tzinfo=UTC)) for d in (2, 4, 6)]
    reasons = run(summer + winter + nl + day, [sydney, winter_acc])
    night = fired(reasons, "night")
    assert set(night) == {"au2", "nl"}
    assert "3 of 3 corridor payments at night" in night["nl"].summary
    across = fired(reasons, "night_across_zones")  # 03:30 NL is 10:30 in Manila
    assert "nl" in across and "day" not in across
    assert "while day for the beneficiary in PH" in across["nl"].summary


def test_round_amounts() -> None:
    hit = series("v", "f", [20, 25, 50, 30, 40], every=DAY)
    ragged = series("w", "g", [24.37, 25.1, 31.9, 22.45, 40], every=DAY)
    reasons = fired(run(hit + ragged), "round_amounts")
    assert set(reasons) == {"v"} and rows(reasons["v"]) == refs(hit)


def test_structuring_just_under_and_split() -> None:
    under = [pay("v", "f", 950, T0, to="DE"), pay("v", "f", 980, T0 + 2 * DAY, to="DE")]
    spread = [pay("w", "g", 950, T0, to="DE"), pay("w", "g", 980, T0 + 30 * DAY, to="DE")]
    split = [pay("x", f"b{i}", 400, T0 + i * DAY, to="DE") for i in range(3)]
    small = [pay("y", f"c{i}", 100, T0 + i * DAY, to="DE") for i in range(3)]
    usd = [
        pay("z", "h", 2900, T0, currency="USD", to="DE"),
        pay("z", "h", 950, T0 + DAY, currency="USD", to="DE"),
    ]  # USD threshold 3000
    reasons = fired(run(under + spread + split + small + usd), "structuring")
    assert set(reasons) == {"v", "x"}
    assert reasons["v"].summary.startswith("2 payments just under the reporting threshold")
    assert reasons["x"].details["split"] is True and rows(reasons["x"]) == refs(split)


def test_new_beneficiary_burst() -> None:
    burst = [pay("v", f"n{i}", 30, T0 + i * DAY) for i in range(3)]
    slow = [pay("w", f"m{i}", 30, T0 + i * 12 * DAY) for i in range(3)]
    same = series("x", "one", [30, 30, 30], every=DAY)
    reasons = fired(run(burst + slow + same), "new_beneficiaries")
    assert set(reasons) == {"v"}
    assert reasons["v"].summary.startswith("first payments to 3 new beneficiaries in PH")


def test_no_family_link_and_family_damping() -> None:
    accounts = [
        Account("stranger", name="Mark Jansen", country="NL"),
        Account("kin", name="Maria Santos", country="NL"),
        Account("joy", name="Joy Santos", country="PH"),
        Account("ann", name="Ann Reyes", country="PH"),
    ]
    stranger = series("stranger", "ann", [25, 30, 28, 26, 27, 29], every=2 * DAY)
    kin = series("kin", "joy", [25, 30, 28, 26, 27, 29], every=2 * DAY)
    reasons = run(stranger + kin, accounts)
    assert set(fired(reasons, "no_family_link")) == {"stranger"}
    # Same surname: family-shaped, so no corridor reason at all (the damping).
    assert set(fired(reasons, "low_value_corridor")) == {"stranger"}
    assert not [r for r in reasons if r.account == "kin"]


def test_monthly_family_remittance_shape_damps_without_names() -> None:
    # Regular, larger, same day of the month: family-shaped although no names are known.
    monthly = [pay("m", "mum", 300 + d, T0 + timedelta(days=30 * d)) for d in range(3)]
    monthly += series("m", "mum", [20, 25, 30, 25, 20], every=DAY)  # top-ups to the same payee
    reasons = run(monthly)
    assert not fired(reasons, "low_value_corridor")
    irregular = series("i", "x", [20, 25, 30, 25, 20], every=DAY)
    assert fired(run(irregular), "low_value_corridor")


def test_payment_names_in_details_count_for_the_family_link() -> None:
    named = [
        pay(
            "s",
            "b",
            30,
            T0 + i * DAY,
            details={"sender_name": "Noel Cruz", "beneficiary_name": "Rosa Cruz"},
        )
        for i in range(5)
    ]
    other = [
        pay(
            "t",
            "c",
            30,
            T0 + i * DAY,
            details={"sender_name": "Noel Smith", "beneficiary_name": "Rosa Cruz"},
        )
        for i in range(5)
    ]
    reasons = run(named + other)
    assert set(fired(reasons, "no_family_link")) == {"t"}


def test_egmont_pattern() -> None:
    month = timedelta(days=30)
    hit = [
        pay("v", "f", 150, T0 + i * month, currency="USD", channel=Channel.P2P, narrative=n)
        for i, n in enumerate(["birthday gift", "", "treat", "for fees"])
    ]
    too_much = [
        pay("w", "g", 400, T0 + i * month, currency="USD", channel=Channel.WIRE, narrative="gift")
        for i in range(4)
    ]
    no_words = [
        pay("x", "h", 150, T0 + i * month, currency="USD", channel=Channel.P2P) for i in range(4)
    ]
    remit = [pay("y", "k", 150, T0 + i * month, currency="USD", narrative="gift") for i in range(4)]
    thailand = [
        pay(
            "z",
            "m",
            150,
            T0 + i * month,
            currency="USD",
            channel=Channel.P2P,
            to="TH",
            narrative="gift",
        )
        for i in range(4)
    ]
    reasons = fired(run(hit + too_much + no_words + remit + thailand), "egmont")
    assert set(reasons) == {"v"}
    assert reasons["v"].details["keywords"] == ["birthday", "fees", "gift", "treat"]
    assert "4 P2P/wire payments to PH totalling €522" in reasons["v"].summary


def test_crypto_among_young_senders() -> None:
    accounts = [Account("young", birth_year=2007), Account("old", birth_year=1970)]
    hit = [pay("young", "w", 40, T0, channel=Channel.CRYPTO)]
    old = [pay("old", "w", 40, T0, channel=Channel.CRYPTO)]
    fiat = [pay("young2", "w", 40, T0)]
    unknown = [pay("nobody", "w", 40, T0, channel=Channel.CRYPTO)]
    accounts.append(Account("young2", birth_year=2007))
    reasons = fired(run(hit + old + fiat + unknown, accounts), "crypto_young")
    assert set(reasons) == {"young"}
    assert reasons["young"].summary.startswith("1 crypto payment by a sender aged 19")


def test_weights_one_weak_indicator_stays_low_combinations_cross() -> None:
    rules = default_rules()
    ind = rules.indicators
    for weight in (
        ind.round_amounts.weight,
        ind.night.weight,
        ind.cover_narrative.weight,
        ind.crypto_young.weight,
        ind.low_value_corridor.weight,
    ):
        assert weight < 0.4
    # AUSTRAC's typical offender: low-value corridor + cover narrative + VPN + night.
    hit = [
        pay("v", "f", a, datetime(2026, 11, d, 1, 15, tzinfo=UTC), narrative="school uniform")
        for d, a in zip((2, 4, 6, 9, 12, 15), (20, 25, 30, 25, 20, 25), strict=True)
    ]
    hit.append(pay("v", "shop", 9.99, T0, to="US", channel=Channel.CARD, mcc="vpn"))
    risk = assess_all(run(hit))[0]
    assert risk.account == "v" and risk.score > 0.7 and risk.role is Role.VIEWER
    assert {"low_value_corridor", "cover_narrative", "purchases", "night"} <= set(risk.indicators)
    lone = Reason("round_amounts", "x", ind.round_amounts.weight, "")
    assert combine([lone, lone]) == pytest.approx(ind.round_amounts.weight)


def test_unknown_currency_is_left_out_of_bands(caplog: pytest.LogCaptureFixture) -> None:
    odd = series("v", "f", [25] * 6, every=DAY, currency="XXX")
    assert not fired(run(odd), "low_value_corridor")
    assert "6 payments have a currency without a reference rate" in caplog.text


def test_empty_population() -> None:
    assert run([]) == []


def test_rows_are_capped_but_counted() -> None:
    many = series("v", "f", [25] * 250, every=timedelta(minutes=30))
    r = fired(run(many), "low_value_corridor")["v"]
    assert len(r.rows) == default_rules().max_rows and r.details["payments"] == 250
    assert all(isinstance(x, RowRef) for x in r.rows)
