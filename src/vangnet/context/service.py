"""The context assessment as the doors (CLI, API) use it: run and store one, read the
ranking, read one account with its neighbourhood, read the graph. Keyword-only; the caller
owns the transaction (and commits). Every read of accounts' reasons and records, and every
run, leaves an audit entry (``context.assess``, ``context.accounts.list``,
``context.account.view``, ``context.graph.view``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import networkx as nx
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.config import Settings
from vangnet.context import assessments
from vangnet.context.assess import Assessment, assess
from vangnet.context.findings import Role
from vangnet.context.graph import (
    Counterparty,
    account_node,
    build_graph,
    counterparties,
    ego,
    graph_json,
)
from vangnet.context.known import known_links
from vangnet.context.payments.rules import euro_rates
from vangnet.context.population import Population
from vangnet.errors import NotFoundError, ValidationError
from vangnet.store.models import ContextAssessment


def check_window(since: datetime | None, until: datetime | None) -> None:
    """`ValidationError` unless ``since`` is before ``until`` (when both are given)."""
    if since is not None and until is not None and since >= until:
        raise ValidationError(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
        )


def run_assessment(
    session: Session,
    *,
    settings: Settings,
    actor: str,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket_days: int | None = None,
    only: Collection[str] | None = None,
    population: Population | None = None,
) -> tuple[ContextAssessment, Assessment]:
    """Assess the stored records from ``since`` to ``until`` (``population``: already loaded
    for that window) with what Vangnet knows (alerts, cases), by every installed evaluator
    or ``only`` the named ones, store the result and audit it. A window that ends before it
    starts is refused (`ValidationError`): stored, it would be the latest assessment and rank
    nobody."""
    check_window(since, until)
    if population is None:
        population = Population.load(session, since=since, until=until)
    result = assess(
        population,
        settings=settings,
        known=known_links(session),
        since=since,
        until=until,
        bucket_days=bucket_days,
        only=only,
    )
    row = assessments.save(session, assessment=result, actor=actor)
    chain.record(
        session,
        actor=actor,
        action="context.assess",
        target=f"context_assessment:{row.id}",
        details={
            "records": result.counts,
            "accounts_ranked": len(result.risks),
            "failures": result.failures,
        },
    )
    return row, result


def _latest(session: Session) -> ContextAssessment | None:
    return assessments.latest(session)


def ranking(
    session: Session, *, actor: str, top: int | None = None, role: Role | None = None
) -> tuple[ContextAssessment | None, list[assessments.StoredRisk]]:
    """The latest assessment and its ranking (none: ``(None, [])``); audited."""
    row = _latest(session)
    if row is None:
        return None, []
    risks = assessments.ranking(session, assessment_id=row.id, top=top, role=role)
    chain.record(
        session,
        actor=actor,
        action="context.accounts.list",
        target=f"context_assessment:{row.id}",
        details={"top": top, "role": role.value if role else None, "accounts": len(risks)},
    )
    return row, risks


@dataclass(frozen=True)
class AccountView:
    """One account as a reviewer reads it: its stored risk (None: no reason found), its
    counterparties and its network picture (ego graph), from the latest assessment."""

    account: str
    assessment: ContextAssessment | None
    risk: assessments.StoredRisk | None
    counterparties: list[Counterparty]
    ego: nx.MultiDiGraph

    def as_json(self) -> dict[str, Any]:
        risk = self.risk
        return {
            "account": self.account,
            "assessment": assessments.header(self.assessment) if self.assessment else None,
            "score": risk.score if risk else 0.0,
            "role": risk.role.value if risk else Role.UNKNOWN.value,
            "indicators": risk.indicators if risk else [],
            "reasons": risk.reasons if risk else [],
            "weekly": risk.weekly if risk else [],
            "counterparties": [c.as_json() for c in self.counterparties],
            "graph": graph_json(self.ego),
        }


def _graph(session: Session, row: ContextAssessment | None, settings: Settings) -> nx.MultiDiGraph:
    population = Population.load(
        session, since=row.since if row else None, until=row.until if row else None
    )
    return build_graph(population, rates=euro_rates(settings))


def account_view(session: Session, *, settings: Settings, actor: str, account: str) -> AccountView:
    """``account`` in the latest assessment's window; `NotFoundError` when no record and no
    assessment names it. Audited (``context.account.view``)."""
    row = _latest(session)
    risk = (
        assessments.risk_of(session, assessment_id=row.id, account=account)
        if row is not None
        else None
    )
    graph = _graph(session, row, settings)
    node = account_node(account)
    if node not in graph and risk is None:
        raise NotFoundError(f"no context records or assessed risk of account {account!r}")
    if node in graph:
        picture = ego(graph, node, radius=2, max_nodes=settings.context_graph_ego_nodes)
    else:
        picture = nx.MultiDiGraph()
    if row is not None and picture.number_of_nodes():
        scored = {
            r.account: r
            for r in assessments.ranking(session, assessment_id=row.id)
            if account_node(r.account) in picture
        }
        for ref, r in scored.items():
            picture.nodes[account_node(ref)]["role"] = r.role.value
            picture.nodes[account_node(ref)]["score"] = r.score
    chain.record(
        session,
        actor=actor,
        action="context.account.view",
        target=f"context_account:{account}",
        details={"assessment": row.id if row else None},
    )
    return AccountView(
        account=account,
        assessment=row,
        risk=risk,
        counterparties=counterparties(graph, account),
        ego=picture,
    )


def graph_view(
    session: Session,
    *,
    settings: Settings,
    actor: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> nx.MultiDiGraph:
    """The graph of the stored records from ``since`` to ``until``, with the latest
    assessment's roles and scores on its accounts. Audited (``context.graph.view``)."""
    check_window(since, until)
    population = Population.load(session, since=since, until=until)
    graph = build_graph(population, rates=euro_rates(settings))
    row = _latest(session)
    if row is not None:
        for r in assessments.ranking(session, assessment_id=row.id):
            node = account_node(r.account)
            if node in graph:
                graph.nodes[node]["role"] = r.role.value
                graph.nodes[node]["score"] = r.score
    chain.record(
        session,
        actor=actor,
        action="context.graph.view",
        target="context_graph",
        details={
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "nodes": graph.number_of_nodes(),
        },
    )
    return graph
