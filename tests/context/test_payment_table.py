"""The columnar `PaymentTable`: local time to the second across DST changes, keyword flags per
language, codes and the one table the payments and sessions evaluators share."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from vangnet.context.payments.rules import default_rules
from vangnet.context.payments.table import (
    NO_ZONE,
    PaymentTable,
    keyword_pattern,
    local_hours,
    normalise,
    zone_offsets,
)
from vangnet.context.population import Population

from .test_payment_indicators import T0, pay


def _epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_zone_offsets_change_at_the_exact_second() -> None:
    # Europe/Amsterdam went to summer time at 2026-03-29 01:00:00 UTC.
    change = _epoch(2026, 3, 29, 1, 0, 0)
    t = np.array(
        [
            _epoch(2026, 3, 1),
            change - 1,
            change,
            _epoch(2026, 10, 25, 0, 59, 59),
            _epoch(2026, 10, 25, 1, 0, 0),
        ],
        dtype=np.int64,
    )
    got = zone_offsets(ZoneInfo("Europe/Amsterdam"), t).tolist()
    assert got == [3600, 3600, 7200, 7200, 3600]
    hours = local_hours(t, np.array([0, 0, 0, NO_ZONE, 0]), [ZoneInfo("Europe/Amsterdam")])
    assert hours.tolist() == [1, 1, 3, -1, 2]


def test_keywords_in_every_language_are_whole_words() -> None:
    pattern = keyword_pattern(default_rules().cover_words)
    assert pattern is not None
    for text in (
        "Pang-Eskwela sa bata",
        "voor het ZIEKENHUIS",
        "pambayad ng matrikula",
        "para sa bata",
        "Tuition  fees",
        "gamot",
    ):
        assert pattern.search(normalise(text)), text
    for text in ("schoolbag", "preloaded", "giftcard", "gamotan"):
        assert not pattern.search(normalise(text)), text


def test_table_columns_and_sharing() -> None:
    payments = [
        pay("a", "b", "25.50", T0, currency="usd"),
        pay("c", "a", 10, T0, to=None, currency="XXX"),
    ]
    pop = Population(payments=payments)
    rules = default_rules()
    table = PaymentTable.of(pop, rules)
    assert PaymentTable.of(pop, rules) is table  # built once per population
    assert PaymentTable.of(Population(payments=payments), rules) is not table
    assert table.accounts[:3] == ["a", "c", "b"]
    assert table.eur[0] == 25.5 * rules.fx.to_eur["USD"] and np.isnan(table.eur[1])
    assert table.unknown_currency == 1
    assert table.corridor.tolist() == [True, False]
    assert table.country(int(table.beneficiary_country[1])) == "?"
    assert table.sender_hour.tolist() == [13, 13]  # NL sender: 12:00 UTC is 13:00 CET
    from vangnet.context.payments import table as module

    PaymentTable.of(pop, rules)
    assert module._last is not None and module._last[0]() is pop
    del pop
    gc.collect()
    assert module._last is None  # the cached table went with its population


def test_payments_out_of_time_order_are_sorted() -> None:
    from datetime import timedelta

    from vangnet.context.payments.evaluator import PaymentsEvaluator

    series = [pay("v", "f", 20 + i, T0 + timedelta(days=i)) for i in range(6)]
    shuffled = [series[i] for i in (3, 0, 5, 1, 4, 2)]
    table = PaymentTable.build(shuffled, {}, default_rules())
    assert [p.ref for p in table.payments] == [p.ref for p in series]
    assert np.all(np.diff(table.t) > 0) and table.amount.tolist() == [20, 21, 22, 23, 24, 25]
    ev = PaymentsEvaluator()
    assert ev.evaluate(Population(payments=shuffled)) == ev.evaluate(Population(payments=series))


def test_parsed_messages_name_their_parties_and_a_date_only_time_has_no_hour() -> None:
    """What the file parsers keep in ``details``: ISO 20022's debtor / creditor names and
    MT103's ordering / beneficiary customers count as the parties' names (a shared surname
    is a family link); an MT103 payment has a date only (``at_precision`` day), so it has
    no local hour for the night indicators."""
    iso = pay(
        "a1",
        "b1",
        50,
        T0,
        details={"debtor_name": "Jan de Vries", "creditor_name": "Maria de Vries"},
    )
    mt = pay(
        "a2",
        "b2",
        50,
        T0,
        details={
            "ordering_customer": "PETER SMIT",
            "beneficiary_customer": "ANA REYES",
            "at_precision": "day",
        },
    )
    table = PaymentTable.build([iso, mt], {}, default_rules())
    by_ref = {p.ref: i for i, p in enumerate(table.payments)}
    i, m = by_ref[iso.ref], by_ref[mt.ref]
    assert table.family[i]  # same surname: a family pair, left out of the corridor counts
    assert not table.family[m] and table.named[m]
    assert table.sender_hour[i] == 13 and table.sender_hour[m] == -1 == table.beneficiary_hour[m]


def test_zone_offsets_at_the_ends_of_the_calendar() -> None:
    # an import takes any time UTC can hold: a typo'd year 1 or 9999 must not stop the
    # payment evaluators for every account (the day before / after is no datetime)
    zone = ZoneInfo("Asia/Manila")
    ends = [datetime(1, 1, 1, 20, tzinfo=UTC), datetime(9999, 12, 31, 12, tzinfo=UTC)]
    for at in ends:
        t = np.array([int(at.timestamp())], dtype=np.int64)
        offset = at.astimezone(zone).utcoffset()
        assert offset is not None
        assert zone_offsets(zone, t).tolist() == [int(offset.total_seconds())]
