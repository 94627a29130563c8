"""Conformance kit for context evaluators: run it on your evaluator plug-in (the built-ins run
it).

Usage, in a test of your package::

    from vangnet.context.conformance import check_evaluator

    def test_my_evaluator_conforms() -> None:
        check_evaluator(MyEvaluator, settings=Settings())  # the kit's sample, or your own

`check_evaluator` raises `AssertionError` naming the first rule broken:

- the registry accepts the class (an `Evaluator` with a name), whose ``version`` and
  ``summary`` are non-empty text, and ``from_settings`` builds it from default settings;
- an empty population gives no reason (nothing found in nothing);
- on the sample population (a small generated month: `vangnet.context.synthetic`), every
  reason names a non-empty indicator and an account that appears in the population, has a
  weight in [0, 1], a `Role`, a one-line summary, an aware ``at`` (or None), and rows that
  are records of the population (so a reviewer can open each one);
- it is deterministic: the same population gives the same reasons;
- it does not change the population it reads.
"""

from __future__ import annotations

import copy
from datetime import datetime

from vangnet.config import Settings
from vangnet.context.findings import Reason, Role
from vangnet.context.population import Evaluator, Population, as_evaluator
from vangnet.sources.records.model import RecordKind


def sample_population(*, senders: int = 600, seed: int = 11) -> Population:
    """The kit's sample: a seeded synthetic month with offenders of every typology,
    ordinary senders, chats and calls (`vangnet.context.synthetic.generate`)."""
    from vangnet.context.synthetic import generate

    return generate(senders=senders, months=1, seed=seed, offender_rate=0.1).population()


def _refs(population: Population) -> dict[RecordKind, set[str]]:
    return {
        RecordKind.PAYMENTS: {p.ref for p in population.payments},
        RecordKind.MESSAGES: {m.ref for m in population.messages},
        RecordKind.SESSIONS: {s.ref for s in population.sessions},
        RecordKind.ACCOUNTS: set(population.accounts),
    }


def _accounts(population: Population) -> set[str]:
    found = set(population.accounts)
    for p in population.payments:
        found |= {p.sender, p.beneficiary}
    for m in population.messages:
        found |= {m.sender, *m.recipients}
    for s in population.sessions:
        found |= set(s.participants)
    return found


def _check_reason(
    r: Reason, *, where: str, accounts: set[str], refs: dict[RecordKind, set[str]]
) -> None:
    assert isinstance(r, Reason), f"{where}: {r!r} is not a Reason"
    assert r.indicator and isinstance(r.indicator, str), f"{where}: a reason without indicator"
    assert r.account in accounts, f"{where}: {r.indicator} names {r.account!r}, not in the records"
    assert 0.0 <= r.weight <= 1.0, f"{where}: {r.indicator} weight {r.weight} is not in [0, 1]"
    assert isinstance(r.role, Role), f"{where}: {r.indicator} role {r.role!r} is not a Role"
    assert r.summary.strip() and "\n" not in r.summary, f"{where}: {r.indicator} summary"
    if r.at is not None:
        assert isinstance(r.at, datetime) and r.at.tzinfo is not None, (
            f"{where}: {r.indicator} at {r.at!r} is not an aware time"
        )
    for row in r.rows:
        assert row.ref in refs.get(row.kind, set()), (
            f"{where}: {r.indicator} row {row.kind.value}:{row.ref} is no record of the population"
        )


def check_evaluator(
    cls: type[Evaluator],
    *,
    settings: Settings,
    population: Population | None = None,
) -> list[Reason]:
    """Check ``cls`` against the rules above; returns the reasons it found in the sample (or
    ``population``), for further checks of your own."""
    as_evaluator(cls, cls.__name__)
    for attribute in ("version", "summary"):
        value = getattr(cls, attribute)
        assert isinstance(value, str) and value.strip(), f"{cls.name}: empty {attribute}"
    evaluator = cls.from_settings(settings)
    assert isinstance(evaluator, cls), f"{cls.name}: from_settings returned {evaluator!r}"
    assert evaluator.evaluate(Population()) == [], f"{cls.name}: reasons in an empty population"
    sample = population if population is not None else sample_population()
    before = copy.deepcopy(sample)
    found = evaluator.evaluate(sample)
    assert isinstance(found, list), f"{cls.name}: evaluate returned {type(found).__name__}"
    accounts, refs = _accounts(sample), _refs(sample)
    for r in found:
        _check_reason(r, where=cls.name, accounts=accounts, refs=refs)
    again = cls.from_settings(settings).evaluate(sample)
    assert [x.as_json() for x in again] == [x.as_json() for x in found], (
        f"{cls.name}: two runs on one population gave different reasons"
    )
    assert sample == before, f"{cls.name}: evaluate changed the population"
    return found
