"""`assess`: every installed evaluator plus small test evaluators registered for the test,
the graph's first-pass reasons (hubs, links to alerts and cases), the second pass
(paid by a known viewer, shared device / handle), a failing evaluator reported, and the
score per week. Also the graph rules file: shipped, replaced, and refused when malformed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from context.graphdata import T0, population
from vangnet.config import Settings
from vangnet.context.assess import assess
from vangnet.context.findings import AccountRisk, Reason, Role, RowRef
from vangnet.context.graph import EdgeKind, Link, build_graph
from vangnet.context.graph_reasons import GraphEvaluator
from vangnet.context.graph_rules import SHIPPED, GraphRules
from vangnet.context.known import AlertLink, CaseLink, KnownLinks
from vangnet.context.population import REGISTRY, Evaluator, Population
from vangnet.errors import NotFoundError, ValidationError
from vangnet.sources.records.model import RecordKind

VIEWER_NAME = "test_viewer"
BROKEN_NAME = "test_broken"
#: The evaluators these tests look at: the test ones and the graph (the payment, session and
#: chat evaluators have tests of their own and would add reasons to this small population).
ONLY = (VIEWER_NAME, BROKEN_NAME, "graph")


class _Viewer(Evaluator):
    """Flags v1 as a viewer (weight 0.7) on the day of its first payment, and v2 weakly."""

    name = VIEWER_NAME
    version = "3"
    summary = "test: flags v1"

    def evaluate(self, population: Population) -> list[Reason]:
        return [
            Reason(
                "test_pays_at_night",
                "v1",
                0.7,
                "v1 pays at night",
                rows=(RowRef(RecordKind.PAYMENTS, "P1"),),
                at=T0,
                role=Role.VIEWER,
            ),
            Reason("test_pays_at_night", "v2", 0.2, "v2 once", at=T0 + timedelta(days=8)),
        ]


class _Broken(Evaluator):
    name = BROKEN_NAME
    summary = "test: always fails"

    def evaluate(self, population: Population) -> list[Reason]:
        raise RuntimeError("rules file missing")


@pytest.fixture
def test_evaluators() -> Iterator[None]:
    REGISTRY.register(_Viewer)
    REGISTRY.register(_Broken)
    try:
        yield
    finally:
        REGISTRY.unregister(VIEWER_NAME)
        REGISTRY.unregister(BROKEN_NAME)


def _by(reasons: list[Reason], indicator: str) -> dict[str, Reason]:
    return {r.account: r for r in reasons if r.indicator == indicator}


KNOWN = KnownLinks(
    alerts=(AlertLink(alert=11, stream=7, external_id="ext-7", account="fac_live", at=T0, case=3),),
    cases=(
        CaseLink(case=4, account="v4", matches=2, confirmed=True, at=T0 + timedelta(days=2)),
        CaseLink(case=5, account="v6", matches=1, confirmed=False, at=T0),
    ),
)


def test_graph_first_pass_hub_alerts_and_cases() -> None:
    reasons = GraphEvaluator(known=KNOWN).evaluate(population())
    hub = _by(reasons, "hub_beneficiary")
    assert set(hub) == {"fac"}  # not mum (two family senders), not fac2 (two senders)
    assert hub["fac"].role is Role.FACILITATOR
    assert hub["fac"].weight == pytest.approx(0.35 + 0.02 * 1 + 0.05 * 2)
    assert len(hub["fac"].rows) == 9
    assert hub["fac"].details["countries"] == ["AU", "NL", "US"]
    alert = _by(reasons, "linked_to_alert")
    # fac: named by the platform (its handle fac_live) as the stream's account
    assert alert["fac"].weight == 0.9 and alert["fac"].role is Role.FACILITATOR
    assert RowRef(RecordKind.SESSIONS, "S1") in alert["fac"].rows
    assert RowRef(RecordKind.ACCOUNTS, "fac") in alert["fac"].rows
    assert alert["fac"].details["alerts"] == [11] and alert["fac"].details["cases"] == [3]
    # v1: in the monitored session S1 (stream "7") with the stream's account: a viewer
    assert alert["v1"].weight == 0.6 and alert["v1"].role is Role.VIEWER
    assert alert["v1"].rows == (RowRef(RecordKind.SESSIONS, "S1"),)
    assert set(alert) == {"fac", "v1"}
    match = _by(reasons, "linked_to_media_match")
    assert match["v4"].weight == 0.95 and match["v4"].details["confirmed"] == [4]
    assert match["v6"].weight == 0.7 and match["v6"].details["matches"] == 1
    assert set(match) == {"v4", "v6"}
    # nothing known: no links
    plain = GraphEvaluator().evaluate(population())
    assert {r.indicator for r in plain} == {"hub_beneficiary"}


def test_a_session_names_its_stream_by_external_id_too() -> None:
    pop = population()
    from dataclasses import replace

    pop = Population(
        payments=pop.payments,
        sessions=[replace(pop.sessions[0], stream="ext-7")],
        accounts=pop.accounts,
    )
    alert = _by(GraphEvaluator(known=KNOWN).evaluate(pop), "linked_to_alert")
    assert alert["v1"].rows == (RowRef(RecordKind.SESSIONS, "S1"),)
    other = Population(sessions=[replace(pop.sessions[0], stream="8")])
    assert _by(GraphEvaluator(known=KNOWN).evaluate(other), "linked_to_alert") == {}


def test_assess_runs_every_evaluator_reports_failures_and_propagates(
    test_evaluators: None,
) -> None:
    result = assess(population(), settings=Settings(), known=KNOWN)
    assert result.evaluators[VIEWER_NAME] == "3"
    assert "graph" in result.evaluators
    assert BROKEN_NAME not in result.evaluators
    assert result.failures[BROKEN_NAME] == "RuntimeError: rules file missing"
    scores = [r.score for r in result.risks]
    assert scores == sorted(scores, reverse=True)
    v1 = result.risk("v1")
    assert v1 is not None and v1.role is Role.VIEWER
    assert {"test_pays_at_night", "linked_to_alert"} <= set(v1.indicators)
    assert v1.score >= 1 - (1 - 0.7) * (1 - 0.6) - 1e-9
    # second pass: fac2 is paid by v1 (first-pass score >= 0.5) and by v3
    fac2 = result.risk("fac2")
    assert fac2 is not None and fac2.role is Role.FACILITATOR
    [known_viewer] = [r for r in fac2.reasons if r.indicator == "paid_by_known_viewer"]
    assert set(known_viewer.details["viewers"]) == {"v1"}
    assert known_viewer.weight == pytest.approx(0.6 * v1.score)
    assert known_viewer.rows == (RowRef(RecordKind.PAYMENTS, "P90"),)
    # v9 uses v1's device
    v9 = result.risk("v9")
    assert v9 is not None
    [shared] = [r for r in v9.reasons if r.indicator == "shared_device"]
    assert shared.details["devices"] == ["dev-A"]
    assert shared.weight == pytest.approx(0.5 * v1.score)
    assert shared.role is Role.VIEWER
    assert RowRef(RecordKind.ACCOUNTS, "v9") in shared.rows
    # the ordinary family is not ranked at all
    assert {"son", "daughter", "mum"}.isdisjoint(r.account for r in result.risks)
    # the graph carries the assessment
    assert result.graph.nodes["account:v1"]["score"] == round(v1.score, 4)
    assert result.graph.nodes["account:v1"]["role"] == "viewer"
    figures = result.figures()
    assert figures["failures"] == result.failures
    assert figures["records"] == {"payments": 15, "messages": 3, "sessions": 1, "accounts": 4}


def test_only_flagged_accounts_propagate(test_evaluators: None) -> None:
    result = assess(population(), settings=Settings(), only=ONLY)  # nothing known
    # v1 (0.7 >= 0.5) raises fac and fac2; v2 (0.2) pays fac too but is not a known viewer
    fac = result.risk("fac")
    assert fac is not None
    [known_viewer] = [r for r in fac.reasons if r.indicator == "paid_by_known_viewer"]
    assert set(known_viewer.details["viewers"]) == {"v1"}
    assert known_viewer.at == T0 + timedelta(days=0)  # v1's payment and its reason
    # v4 pays only fac and is flagged by nothing: nothing reaches it
    assert result.risk("v4") is None
    # a viewer below the threshold raises nobody
    graph = build_graph(population())
    weak = AccountRisk("v2", 0.49, Role.VIEWER, ())
    assert GraphEvaluator().propagate(graph, [weak]) == []
    strong = AccountRisk("v2", 0.5, Role.VIEWER, ())
    [raised] = GraphEvaluator().propagate(graph, [strong])
    assert (raised.account, raised.indicator) == ("fac", "paid_by_known_viewer")
    # a facilitator paying someone is not a "viewer"
    assert GraphEvaluator().propagate(graph, [AccountRisk("v2", 0.9, Role.FACILITATOR, ())]) == []


def test_a_handle_shared_with_a_flagged_account() -> None:
    # the chats helper found v4 naming fac's handle: an extra link into the graph
    link = Link(
        "account:v4", "handle:fac_live", EdgeKind.HAS_HANDLE, T0, RowRef(RecordKind.MESSAGES, "M9")
    )
    graph = build_graph(population(), links=[link])
    fac = AccountRisk("fac", 0.8, Role.FACILITATOR, (Reason("x", "fac", 0.8, "x", at=T0),))
    [shared] = GraphEvaluator().propagate(graph, [fac])
    assert (shared.account, shared.indicator) == ("v4", "shared_handle")
    assert shared.weight == pytest.approx(0.4 * 0.8) and shared.role is Role.FACILITATOR
    assert shared.rows == (RowRef(RecordKind.MESSAGES, "M9"), RowRef(RecordKind.ACCOUNTS, "fac"))
    assert shared.details["handles"] == ["fac_live"] and shared.at == T0
    # below the threshold, or without the link: nothing
    weak = AccountRisk("fac", 0.49, Role.FACILITATOR, ())
    assert GraphEvaluator().propagate(graph, [weak]) == []
    assert GraphEvaluator().propagate(build_graph(population()), [fac]) == []
    # through assess: fac is flagged by its alert and its hub
    result = assess(population(), settings=Settings(), known=KNOWN, links=[link])
    v4 = result.risk("v4")
    assert v4 is not None and "shared_handle" in v4.indicators


def test_risk_over_time_per_week(test_evaluators: None) -> None:
    result = assess(population(), settings=Settings(), known=KNOWN, only=ONLY)
    ends = result.bucket_ends
    assert ends[0] == datetime(2026, 11, 9, tzinfo=UTC)  # T0 is a Monday: its week's end
    assert all(b - a == timedelta(days=7) for a, b in pairwise(ends))
    assert ends[-1] > T0 + timedelta(days=34)  # the last record is in the last bucket
    v2 = dict(result.timeline("v2"))
    # v2: its weak reason dated day 8 is in week 2, not week 1
    assert v2[ends[0]] == 0.0 and v2[ends[1]] == pytest.approx(0.2)
    fac = [s for _, s in result.timeline("fac")]
    assert fac == sorted(fac) and fac[-1] == pytest.approx(result.risk("fac").score, abs=1e-4)  # type: ignore[union-attr]
    assert result.timeline("nobody") == []
    daily = assess(population(), settings=Settings(), known=KNOWN, bucket_days=1)
    assert daily.bucket_ends[0] == datetime(2026, 11, 3, tzinfo=UTC)
    assert len(daily.bucket_ends) == 35  # Nov 3 .. Dec 7: the last payment is on Dec 6
    bounded = assess(
        population(),
        settings=Settings(),
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 12, 1, tzinfo=UTC),
        bucket_days=10,
    )
    assert bounded.bucket_ends == [
        datetime(2026, 11, 11, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    ]
    with pytest.raises(ValidationError, match="buckets"):
        assess(
            population(),
            settings=Settings(),
            since=datetime(2020, 1, 1, tzinfo=UTC),
            until=datetime(2026, 12, 1, tzinfo=UTC),
            bucket_days=1,
        )


def test_an_empty_population_is_an_empty_assessment() -> None:
    result = assess(Population(), settings=Settings())
    assert result.risks == [] and result.bucket_ends == []
    assert result.figures()["records"]["payments"] == 0


def test_rules_are_data(tmp_path: Path) -> None:
    shipped = GraphRules.shipped()
    assert shipped.hub_beneficiary.min_senders == 5
    text = (Path(__file__).parents[2] / "src/vangnet/context" / SHIPPED).read_text()
    strict = tmp_path / "rules.toml"
    strict.write_text(text.replace("min_senders = 5", "min_senders = 7"))
    settings = Settings(context_graph_rules=strict)
    rules = GraphRules.from_settings(settings)
    assert rules.hub_beneficiary.min_senders == 7
    assert _by(GraphEvaluator(rules).evaluate(population()), "hub_beneficiary") == {}
    for bad, why in (
        (text.replace("min_senders = 5\n", ""), "missing keys min_senders"),
        (text.replace("base = 0.35", "base = 1.35"), "base must be in"),
        (text.replace("[shared_handle]", "[shared_handles]"), "unknown tables"),
        (text + "\n[hub_beneficiary.x]\n", "not TOML|unknown keys"),
        ("not = [toml", "not TOML"),
    ):
        strict.write_text(bad)
        with pytest.raises(ValidationError, match=why):
            GraphRules.load(strict)
    with pytest.raises(ValidationError, match="cannot read"):
        GraphRules.load(tmp_path / "absent.toml")


def test_graph_evaluator_uses_the_shared_graph() -> None:
    pop = population()
    graph = build_graph(pop)
    assert GraphEvaluator().first_pass(graph, pop) == GraphEvaluator().evaluate(pop)


def test_only_the_named_evaluators_run(test_evaluators: None) -> None:
    result = assess(population(), settings=Settings(), only=[VIEWER_NAME])
    assert result.evaluators == {VIEWER_NAME: "3"} and result.failures == {}
    assert {r.indicator for k in result.risks for r in k.reasons} == {"test_pays_at_night"}
    with pytest.raises(NotFoundError, match="no context evaluator nope"):
        assess(population(), settings=Settings(), only=["nope"])
