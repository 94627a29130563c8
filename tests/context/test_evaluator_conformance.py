"""Every installed context evaluator passes the conformance kit plug-in authors run, each
finds something in the kit's sample month, and the kit catches a broken evaluator."""

from __future__ import annotations

from typing import ClassVar

import pytest

from vangnet.config import Settings
from vangnet.context.conformance import check_evaluator, sample_population
from vangnet.context.findings import Reason, RowRef
from vangnet.context.population import Evaluator, Population, evaluators
from vangnet.sources.records.model import RecordKind

SAMPLE = sample_population()


@pytest.mark.parametrize("name", ["payments", "sessions", "chats", "graph"])
def test_the_built_in_evaluators_conform(name: str) -> None:
    found = check_evaluator(evaluators()[name], settings=Settings(), population=SAMPLE)
    assert found, f"{name} found nothing in a month with offenders of every typology"


class _Inventing(Evaluator):
    name: ClassVar[str] = "test_inventing"
    summary: ClassVar[str] = "names a record that does not exist"

    def evaluate(self, population: Population) -> list[Reason]:
        if not population.payments:
            return []
        p = population.payments[0]
        return [Reason("made_up", p.sender, 0.5, "x", (RowRef(RecordKind.PAYMENTS, "nope"),))]


class _Heavy(Evaluator):
    name: ClassVar[str] = "test_heavy"
    summary: ClassVar[str] = "weighs too much"

    def evaluate(self, population: Population) -> list[Reason]:
        return [Reason("heavy", p.sender, 1.5, "x") for p in population.payments[:1]]


class _Eager(Evaluator):
    name: ClassVar[str] = "test_eager"
    summary: ClassVar[str] = "finds something in nothing"

    def evaluate(self, population: Population) -> list[Reason]:
        return [Reason("eager", "someone", 0.1, "x")]


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_Inventing, "is no record of the population"),
        (_Heavy, "is not in \\[0, 1\\]"),
        (_Eager, "reasons in an empty population"),
    ],
)
def test_the_kit_catches_a_broken_evaluator(cls: type[Evaluator], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_evaluator(cls, settings=Settings(), population=SAMPLE)
