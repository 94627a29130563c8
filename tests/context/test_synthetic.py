"""The synthetic population generator: seeded, every typology planted with its truth, the
documented file schema, and `vangnet context generate` as a user runs it."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from cli_invoke import invoke
from vangnet.context.findings import Role, assess_all
from vangnet.context.payments.evaluator import PaymentsEvaluator
from vangnet.context.payments.sessions import SessionsEvaluator
from vangnet.context.synthetic import FACILITATORS, SENDER_TYPOLOGIES, Typology, generate
from vangnet.errors import ExitCode
from vangnet.sources.records.model import Account, Payment

SMALL = {"senders": 500, "months": 2, "offender_rate": 0.06}


@pytest.fixture(scope="module")
def pop():
    return generate(seed=7, **SMALL)


def test_seeded() -> None:
    one = generate(seed=7, senders=80, offender_rate=0.1)
    again = generate(seed=7, senders=80, offender_rate=0.1)
    assert again.payments == one.payments and again.truth == one.truth
    assert generate(seed=8, senders=80, offender_rate=0.1).payments != one.payments


def test_every_typology_is_planted_with_its_role(pop) -> None:
    kinds = Counter(t.typology for t in pop.truth)
    assert set(kinds) == set(Typology)
    assert sum(kinds[k] for k in SENDER_TYPOLOGIES) == round(500 * 0.06)
    for t in pop.truth:
        want = Role.FACILITATOR if t.typology in FACILITATORS else Role.VIEWER
        assert t.role is want
    assert len(pop.senders) == 500


def test_ordinary_life_and_noise_are_there(pop) -> None:
    accounts = {a.ref: a for a in pop.accounts}
    offenders = {t.account for t in pop.truth}
    ordinary = [p for p in pop.payments if p.sender not in offenders]
    # Family remittances: larger, to a corridor country, mostly to someone of the same surname.
    family = [
        p
        for p in ordinary
        if p.beneficiary_country in {"PH", "TH", "CO", "DO", "MX", "VN"} and p.amount >= 150
    ]
    assert family
    same = sum(
        (accounts[p.sender].name or "").split()[-1]
        == (accounts[p.beneficiary].name or "").split()[-1]
        for p in family
    )
    assert same / len(family) > 0.5
    # Ordinary small payments to PH exist (the noise every corridor rule meets).
    assert any(p.beneficiary_country == "PH" and p.amount < 60 for p in ordinary)
    assert {a.country for a in pop.accounts} >= {"NL", "AU", "GB", "US", "CA", "PH"}
    assert any(a.timezone is None for a in pop.accounts)  # missing at random
    assert pop.sessions and pop.messages
    langs = {m.language for m in pop.messages}
    assert {"tl"} <= langs


def test_offenders_rank_above_ordinary_senders(pop) -> None:
    population = pop.population()
    reasons = PaymentsEvaluator().evaluate(population)
    reasons += SessionsEvaluator().evaluate(population)
    risks = assess_all(reasons)
    offenders = {t.account for t in pop.truth}
    top = [r.account for r in risks[: len(offenders)]]
    precision = sum(a in offenders for a in top) / len(top)
    assert precision > 0.6, precision


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_cli_generate_writes_the_documented_files(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    result = invoke(
        "context",
        "generate",
        "--out",
        str(out),
        "--senders",
        "120",
        "--seed",
        "3",
        "--offender-rate",
        "0.1",
        "--json",
    )
    summary = json.loads(result.stdout)
    assert summary["files"]["payments.csv"] > 0
    payments = _rows(out / "payments.csv")
    assert len(payments) == summary["files"]["payments.csv"]
    assert list(payments[0]) == [f for f in Payment.__dataclass_fields__ if f != "details"]
    assert all(p["at"].endswith("Z") for p in payments)
    accounts = _rows(out / "accounts.csv")
    assert list(accounts[0]) == [f for f in Account.__dataclass_fields__ if f != "details"]
    sessions = [json.loads(x) for x in (out / "sessions.jsonl").read_text().splitlines()]
    assert all(isinstance(s["participants"], list) for s in sessions)
    truth = _rows(out / "truth.csv")
    assert len(truth) >= 12 and {t["role"] for t in truth} <= {"viewer", "facilitator"}
    # The same seed writes the same files; existing files are not overwritten silently.
    before = (out / "payments.csv").read_bytes()
    result = invoke(
        "context", "generate", "--out", str(out), "--senders", "5", code=ExitCode.CONFLICT
    )
    assert "(use --force)" in " ".join(result.output.split())
    assert (out / "payments.csv").read_bytes() == before
    invoke(
        "context",
        "generate",
        "--out",
        str(out),
        "--senders",
        "120",
        "--seed",
        "3",
        "--offender-rate",
        "0.1",
        "--force",
    )
    assert (out / "payments.csv").read_bytes() == before


@pytest.mark.parametrize(
    "args", [("--senders", "0"), ("--offender-rate", "1.5"), ("--months", "0")]
)
def test_cli_generate_refuses_bad_options(tmp_path: Path, args: tuple[str, str]) -> None:
    invoke("context", "generate", "--out", str(tmp_path / "x"), *args, code=ExitCode.USAGE)
    assert not (tmp_path / "x").exists()
