"""An assessment: every installed context evaluator over a population, the graph's second
pass, and each account's explainable score, ranked and over time.

`assess` runs in this order:

1. every evaluator `vangnet.context.population.evaluators` lists, each built with
   ``from_settings(settings)``; the graph evaluator gets the alerts and cases Vangnet knows
   (``known``). An evaluator that raises (or a plug-in that failed to load) is reported in
   `Assessment.failures` with why, and the others still run: nothing is lost silently;
2. the first-pass ranking (`vangnet.context.findings.assess_all`);
3. the graph's propagation pass (`GraphEvaluator.propagate`: ``paid_by_known_viewer``,
   ``shared_device``, ``shared_handle`` from the first-pass scores), once;
4. the final ranking, and **risk over time**: the records' span is cut into buckets of
   ``bucket_days`` days (setting ``context_assess_bucket_days``; weeks start on Monday 00:00
   UTC, other lengths at 00:00 UTC of the first record's day) and an account's score at the
   end of a bucket is `combine` over its reasons whose ``at`` is before that end (a reason
   without a time counts from the start). The reasons are those of the whole window, replayed
   by time: an indicator is not re-run on each shorter window. The last bucket's score is the
   account's score (a reason dated after it, such as a later live alert, counts there).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import networkx as nx

from vangnet.config import Settings
from vangnet.context.findings import AccountRisk, Reason, assess_all, combine
from vangnet.context.graph import Link, build_graph, mark_risks
from vangnet.context.graph import summary as graph_summary
from vangnet.context.graph_reasons import GraphEvaluator
from vangnet.context.known import KnownLinks
from vangnet.context.payments.rules import euro_rates
from vangnet.context.population import Evaluator, Population, evaluators, failed_evaluators
from vangnet.errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

#: An assessment holds at most this many time buckets (a longer span needs longer buckets).
MAX_BUCKETS = 1000


@dataclass(frozen=True)
class Assessment:
    """What `assess` found: ``risks`` ranked (highest score first), the ``graph`` with each
    assessed account's role and score, ``failures`` (evaluator name → why), the evaluators
    that ran (name → version), the bucket ends and every ranked account's score per bucket."""

    risks: list[AccountRisk]
    graph: nx.MultiDiGraph
    evaluators: dict[str, str]
    failures: dict[str, str]
    bucket_days: int
    bucket_ends: list[datetime]
    scores: Mapping[str, list[float]]
    counts: dict[str, int] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None

    def risk(self, account: str) -> AccountRisk | None:
        return next((r for r in self.risks if r.account == account), None)

    def timeline(self, account: str) -> list[tuple[datetime, float]]:
        """``(bucket end, score then)`` for each bucket; empty for an account without
        reasons."""
        scores = self.scores.get(account)
        return list(zip(self.bucket_ends, scores, strict=True)) if scores else []

    def figures(self) -> dict[str, Any]:
        """What is stored with the assessment (JSON)."""
        return {
            "records": dict(self.counts),
            "accounts_ranked": len(self.risks),
            "evaluators": dict(self.evaluators),
            "failures": dict(self.failures),
            "bucket_days": self.bucket_days,
            "bucket_ends": [e.isoformat() for e in self.bucket_ends],
            "known": dict(self.known),
            "graph": graph_summary(self.graph),
        }


def _first_pass(
    population: Population,
    graph: nx.MultiDiGraph,
    *,
    settings: Settings,
    known: KnownLinks,
    failures: dict[str, str],
    only: Collection[str] | None,
) -> tuple[list[Reason], dict[str, str], GraphEvaluator | None]:
    reasons: list[Reason] = []
    ran: dict[str, str] = {}
    graph_evaluator: GraphEvaluator | None = None
    for name, why in failed_evaluators().items():
        if only is None or name in only:
            failures[name] = f"failed to load: {why}"
    for name, cls in evaluators().items():
        if only is not None and name not in only:
            continue
        try:
            evaluator: Evaluator = cls.from_settings(settings)
            if isinstance(evaluator, GraphEvaluator):
                graph_evaluator = evaluator = evaluator.with_known(known)
                found = graph_evaluator.first_pass(graph, population)
            else:
                found = evaluator.evaluate(population)
        except Exception as exc:  # a broken evaluator is reported, not fatal
            log.warning("context evaluator %s failed: %s", name, exc, exc_info=True)
            failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        ran[name] = cls.version
        reasons += [r for r in found if r.account]
    return reasons, ran, graph_evaluator


def _bucket_ends(
    times: Sequence[datetime], days: int, since: datetime | None, until: datetime | None
) -> list[datetime]:
    start = since or (min(times) if times else None)
    stop = until or (max(times) if times else None)
    if start is None or stop is None:
        return []
    start = start.astimezone(UTC)
    origin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if days == 7:
        origin -= timedelta(days=origin.weekday())
    step = timedelta(days=days)
    n = max(1, -(-(stop - origin) // step))  # ceil; a record at the very end is in the last
    if origin + n * step <= stop and until is None:
        n += 1
    if n > MAX_BUCKETS:
        raise ValidationError(
            f"{n} buckets of {days} day(s) from {origin:%Y-%m-%d} to {stop:%Y-%m-%d}: at most "
            f"{MAX_BUCKETS}; choose longer buckets"
        )
    return [origin + (i + 1) * step for i in range(n)]


def _over_time(risks: Sequence[AccountRisk], ends: Sequence[datetime]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for risk in risks:
        timeless = [r for r in risk.reasons if r.at is None]
        timed = sorted(
            ((r.at, r) for r in risk.reasons if r.at is not None), key=lambda pair: pair[0]
        )
        times = [at for at, _ in timed]
        scores = [
            round(combine([*timeless, *(r for _, r in timed[: bisect_left(times, end)])]), 4)
            for end in ends
        ]
        if scores:  # the last bucket is the account's score now (reasons after it count)
            scores[-1] = round(risk.score, 4)
        out[risk.account] = scores
    return out


def assess(
    population: Population,
    *,
    settings: Settings,
    known: KnownLinks | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_days: int | None = None,
    links: Iterable[Link] | None = None,
    only: Collection[str] | None = None,
) -> Assessment:
    """Run every evaluator, the graph's second pass and the ranking over ``population`` (the
    records from ``since`` to ``until``, which also bound the time buckets); ``links``: extra
    graph edges found elsewhere (payment handles a chat names); ``only``: the names of the
    evaluators to run (None: every installed one; an unknown name is refused)."""
    if only is not None:
        unknown = sorted(set(only) - set(evaluators()) - set(failed_evaluators()))
        if unknown:
            known_names = ", ".join(evaluators())
            raise NotFoundError(f"no context evaluator {', '.join(unknown)} (known: {known_names})")
    known = known or KnownLinks()
    days = bucket_days or settings.context_assess_bucket_days
    if days < 1:
        raise ValidationError("a time bucket is at least 1 day")
    graph = build_graph(population, links=links, rates=euro_rates(settings))
    failures: dict[str, str] = {}
    reasons, ran, graph_evaluator = _first_pass(
        population, graph, settings=settings, known=known, failures=failures, only=only
    )
    if graph_evaluator is not None:
        try:
            reasons += graph_evaluator.propagate(graph, assess_all(reasons))
        except Exception as exc:
            log.warning("context graph propagation failed: %s", exc, exc_info=True)
            failures["graph:propagation"] = f"{type(exc).__name__}: {exc}"
    risks = assess_all(reasons)
    mark_risks(graph, risks)
    times = [
        *(p.at for p in population.payments),
        *(m.at for m in population.messages),
        *(s.started_at for s in population.sessions),
        *(r.at for r in reasons if r.at is not None),
    ]
    ends = _bucket_ends(times, days, since, until)
    return Assessment(
        risks=risks,
        graph=graph,
        evaluators=ran,
        failures=failures,
        bucket_days=days,
        bucket_ends=ends,
        scores=_over_time(risks, ends),
        counts={
            "payments": len(population.payments),
            "messages": len(population.messages),
            "sessions": len(population.sessions),
            "accounts": len(population.accounts),
        },
        known=known.figures(),
        since=since,
        until=until,
    )
