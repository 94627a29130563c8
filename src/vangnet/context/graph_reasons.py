"""`GraphEvaluator` (``graph``): the reasons the account graph gives, weighted by
`vangnet.context.graph_rules`.

First pass (`GraphEvaluator.evaluate`, like every evaluator):

- ``hub_beneficiary`` (facilitator): a beneficiary paid by many distinct senders from many
  countries; rows: the payments on its incoming ``paid`` edges.
- ``linked_to_alert``: a live alert was raised on the account's own stream (the platform
  named it as the stream's account: facilitator), or on a monitored call session it took part
  in (``stream`` of a session record; viewer when the stream's account is another
  participant); rows: those sessions (and the account record); alert, stream and case ids in
  ``details``.
- ``linked_to_media_match``: the account is named in a case with media matches, or a
  confirmed case; case ids in ``details``.

Second pass (`GraphEvaluator.propagate`, run by `vangnet.context.assess` with every
evaluator's first-pass scores; one pass, so nothing feeds on itself):

- ``paid_by_known_viewer`` (facilitator): a beneficiary paid by an account whose first-pass
  score is at least the rule's ``min_score`` (and which does not itself look like a
  facilitator); weight = the rule's weight x that viewer's score.
- ``shared_device`` / ``shared_handle``: an account that uses a device or handle an account
  scoring at least ``min_score`` also uses; weight = the rule's weight x that score, role:
  the flagged account's.

Known links (`vangnet.context.known`) name platform accounts: a context account matches by
its ``ref`` or by one of its ``handles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

import networkx as nx

from vangnet.config import Settings
from vangnet.context.findings import AccountRisk, Reason, Role, RowRef
from vangnet.context.graph import (
    EdgeKind,
    NodeKind,
    account_node,
    build_graph,
    hubs,
    ref_of,
)
from vangnet.context.graph_rules import GraphRules, PropagationRule
from vangnet.context.known import AlertLink, CaseLink, KnownLinks
from vangnet.context.payments.rules import euro_rates
from vangnet.context.population import Evaluator, Population
from vangnet.sources.records.model import RecordKind

#: At most this many rows behind one graph reason (``details["rows_total"]`` counts them all).
MAX_REASON_ROWS = 200


class GraphIndicator(StrEnum):
    HUB_BENEFICIARY = "hub_beneficiary"
    LINKED_TO_ALERT = "linked_to_alert"
    LINKED_TO_MEDIA_MATCH = "linked_to_media_match"
    PAID_BY_KNOWN_VIEWER = "paid_by_known_viewer"
    SHARED_DEVICE = "shared_device"
    SHARED_HANDLE = "shared_handle"


def _rows(rows: Iterable[RowRef]) -> tuple[tuple[RowRef, ...], int]:
    unique = tuple(dict.fromkeys(rows))
    return unique[:MAX_REASON_ROWS], len(unique)


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class _Names:
    """The platform names each account goes by: its ref and its handles."""

    by_name: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: nx.MultiDiGraph, population: Population) -> _Names:
        names: dict[str, set[str]] = {}
        for node, attrs in graph.nodes(data=True):
            if attrs["kind"] == NodeKind.ACCOUNT.value:
                ref = ref_of(node)
                names.setdefault(ref, set()).add(ref)
        for ref, account in population.accounts.items():
            for handle in account.handles:
                names.setdefault(handle, set()).add(ref)
        return cls(names)

    def accounts(self, name: str) -> set[str]:
        return self.by_name.get(name, set())


class GraphEvaluator(Evaluator):
    """Reasons from the account graph and from Vangnet's own alerts and cases."""

    name = "graph"
    version = "1"
    summary = (
        "account graph: hubs paid by many senders, links to live alerts and media matches, "
        "viewers and devices shared with flagged accounts"
    )

    def __init__(
        self,
        rules: GraphRules | None = None,
        *,
        known: KnownLinks | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        self.rules = rules or GraphRules.shipped()
        self.known = known or KnownLinks()
        self.rates = rates

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(GraphRules.from_settings(settings), rates=euro_rates(settings))

    def with_known(self, known: KnownLinks) -> GraphEvaluator:
        """The same evaluator, with the alerts and cases Vangnet knows of."""
        return GraphEvaluator(self.rules, known=known, rates=self.rates)

    def evaluate(self, population: Population) -> list[Reason]:
        return self.first_pass(build_graph(population, rates=self.rates), population)

    # -- first pass --------------------------------------------------------------------------

    def first_pass(self, graph: nx.MultiDiGraph, population: Population) -> list[Reason]:
        names = _Names.of(graph, population)
        return [
            *self._hubs(graph),
            *self._alerts(population, names),
            *self._matches(population, names),
        ]

    def _hubs(self, graph: nx.MultiDiGraph) -> list[Reason]:
        rule = self.rules.hub_beneficiary
        out: list[Reason] = []
        for hub in hubs(graph, min_senders=rule.min_senders, min_countries=rule.min_countries):
            rows, total = _rows(hub.rows)
            where = f" from {len(hub.countries)} countries ({', '.join(hub.countries)})"
            out.append(
                Reason(
                    indicator=GraphIndicator.HUB_BENEFICIARY,
                    account=hub.account,
                    weight=rule.weight(len(hub.senders), len(hub.countries)),
                    summary=f"paid by {len(hub.senders)} distinct senders"
                    f"{where if hub.countries else ''}: {hub.payments} payments, "
                    f"EUR {hub.amount_eur:.2f}",
                    rows=rows,
                    at=hub.last,
                    role=Role.FACILITATOR,
                    details={
                        "senders": len(hub.senders),
                        "countries": list(hub.countries),
                        "payments": hub.payments,
                        "amount_eur": hub.amount_eur,
                        "rows_total": total,
                    },
                )
            )
        return out

    def _alerts(self, population: Population, names: _Names) -> list[Reason]:
        rule = self.rules.linked_to_alert
        found: dict[str, dict[str, Any]] = {}

        def note(account: str, alert: AlertLink, role: Role, weight: float) -> dict[str, Any]:
            entry = found.setdefault(
                account,
                {"alerts": {}, "rows": [], "weight": 0.0, "role": Role.UNKNOWN, "at": None},
            )
            entry["alerts"][alert.alert] = alert
            if weight > entry["weight"]:
                entry["weight"], entry["role"] = weight, role
            entry["at"] = _latest(entry["at"], alert.at)
            return entry

        for name, links in self.known.alerts_by_account().items():
            for account in names.accounts(name):
                for alert in links:
                    entry = note(account, alert, Role.FACILITATOR, rule.account_weight)
                if account in population.accounts:
                    entry["rows"].append(RowRef(RecordKind.ACCOUNTS, account))
        by_stream = self.known.alerts_by_stream()
        for s in population.sessions:
            if not s.stream or s.stream not in by_stream:
                continue
            for alert in by_stream[s.stream]:
                streamer = names.accounts(alert.account) if alert.account else set()
                for p in dict.fromkeys(s.participants):
                    if p in streamer:
                        role, weight = Role.FACILITATOR, rule.account_weight
                    else:
                        role = Role.VIEWER if streamer else Role.UNKNOWN
                        weight = rule.session_weight
                    entry = note(p, alert, role, weight)
                    entry["rows"].append(RowRef(RecordKind.SESSIONS, s.ref))
                    entry["at"] = _latest(entry["at"], s.started_at)
        out: list[Reason] = []
        for account, entry in sorted(found.items()):
            alerts: list[AlertLink] = sorted(entry["alerts"].values(), key=lambda a: a.alert)
            rows, total = _rows(entry["rows"])
            streams = sorted({a.stream for a in alerts})
            out.append(
                Reason(
                    indicator=GraphIndicator.LINKED_TO_ALERT,
                    account=account,
                    weight=entry["weight"],
                    summary=f"{len(alerts)} live alert(s) on stream(s) "
                    f"{', '.join(str(s) for s in streams)} "
                    + (
                        "it streamed"
                        if entry["role"] is Role.FACILITATOR
                        else "of a session it took part in"
                    ),
                    rows=rows,
                    at=entry["at"],
                    role=entry["role"],
                    details={
                        "alerts": [a.alert for a in alerts],
                        "streams": streams,
                        "cases": sorted({a.case for a in alerts if a.case is not None}),
                        "rows_total": total,
                    },
                )
            )
        return out

    def _matches(self, population: Population, names: _Names) -> list[Reason]:
        rule = self.rules.linked_to_media_match
        found: dict[str, dict[int, CaseLink]] = {}
        for name, links in self.known.cases_by_account().items():
            for account in names.accounts(name):
                for link in links:
                    found.setdefault(account, {})[link.case] = link
        out: list[Reason] = []
        for account, by_case in sorted(found.items()):
            cases = sorted(by_case.values(), key=lambda c: c.case)
            confirmed = [c.case for c in cases if c.confirmed]
            matches = sum(c.matches for c in cases)
            row = (RowRef(RecordKind.ACCOUNTS, account),) if account in population.accounts else ()
            out.append(
                Reason(
                    indicator=GraphIndicator.LINKED_TO_MEDIA_MATCH,
                    account=account,
                    weight=rule.confirmed_weight if confirmed else rule.weight,
                    summary=f"named in {len(cases)} case(s) with {matches} media match(es)"
                    + (f", {len(confirmed)} confirmed" if confirmed else ""),
                    rows=row,
                    at=max(c.at for c in cases),
                    details={
                        "cases": [c.case for c in cases],
                        "confirmed": confirmed,
                        "matches": matches,
                    },
                )
            )
        return out

    # -- second pass -------------------------------------------------------------------------

    def propagate(self, graph: nx.MultiDiGraph, first: Iterable[AccountRisk]) -> list[Reason]:
        """The second-pass reasons, from the first pass's account risks."""
        risks = {r.account: r for r in first}
        return [
            *self._paid_by_known(graph, risks),
            *self._shared(graph, risks, EdgeKind.USES_DEVICE, self.rules.shared_device),
            *self._shared(graph, risks, EdgeKind.HAS_HANDLE, self.rules.shared_handle),
        ]

    def _paid_by_known(
        self, graph: nx.MultiDiGraph, risks: Mapping[str, AccountRisk]
    ) -> list[Reason]:
        rule = self.rules.paid_by_known_viewer
        found: dict[str, list[tuple[AccountRisk, dict[str, Any]]]] = {}
        for account, risk in risks.items():
            if risk.score < rule.min_score or risk.role is Role.FACILITATOR:
                continue
            node = account_node(account)
            if node not in graph:
                continue
            for _, v, key, data in graph.out_edges(node, keys=True, data=True):
                if key == EdgeKind.PAID.value and v != node and not graph.nodes[v]["merchant"]:
                    found.setdefault(ref_of(v), []).append((risk, data))
        out: list[Reason] = []
        for beneficiary, payers in sorted(found.items()):
            payers.sort(key=lambda p: (-p[0].score, p[0].account))
            best = payers[0][0]
            rows, total = _rows(r for _, d in payers for r in d["refs"])
            newest = _latest(*(d["last"] for _, d in payers), *(_reason_at(p) for p, _ in payers))
            out.append(
                Reason(
                    indicator=GraphIndicator.PAID_BY_KNOWN_VIEWER,
                    account=beneficiary,
                    weight=rule.weight * best.score,
                    summary=f"paid by {len(payers)} flagged account(s), strongest "
                    f"{best.account} (score {best.score:.2f}: {', '.join(best.indicators)})",
                    rows=rows,
                    at=newest,
                    role=Role.FACILITATOR,
                    details={
                        "viewers": {p.account: round(p.score, 4) for p, _ in payers},
                        "payments": sum(int(d["count"]) for _, d in payers),
                        "rows_total": total,
                    },
                )
            )
        return out

    def _shared(
        self,
        graph: nx.MultiDiGraph,
        risks: Mapping[str, AccountRisk],
        kind: EdgeKind,
        rule: PropagationRule,
    ) -> list[Reason]:
        indicator = (
            GraphIndicator.SHARED_DEVICE
            if kind is EdgeKind.USES_DEVICE
            else GraphIndicator.SHARED_HANDLE
        )
        what = "device" if kind is EdgeKind.USES_DEVICE else "handle"
        found: dict[str, list[tuple[AccountRisk, str, list[RowRef]]]] = {}
        for account, risk in risks.items():
            if risk.score < rule.min_score:
                continue
            node = account_node(account)
            if node not in graph:
                continue
            for _, thing, key, data in graph.out_edges(node, keys=True, data=True):
                if key != kind.value:
                    continue
                for other, _, k2, d2 in graph.in_edges(thing, keys=True, data=True):
                    if k2 != kind.value or other == node:
                        continue
                    joined = [*d2["refs"], *data["refs"]]
                    found.setdefault(ref_of(other), []).append((risk, ref_of(thing), joined))
        out: list[Reason] = []
        for account, shared in sorted(found.items()):
            shared.sort(key=lambda s: (-s[0].score, s[0].account, s[1]))
            best = shared[0][0]
            rows, total = _rows(r for _, _, rs in shared for r in rs)
            things = sorted({t for _, t, _ in shared})
            out.append(
                Reason(
                    indicator=indicator,
                    account=account,
                    weight=rule.weight * best.score,
                    summary=f"shares {what}(s) {', '.join(things)} with flagged account "
                    f"{best.account} (score {best.score:.2f})",
                    rows=rows,
                    at=_reason_at(best),
                    role=best.role,
                    details={
                        f"{what}s": things,
                        "flagged": {r.account: round(r.score, 4) for r, _, _ in shared},
                        "rows_total": total,
                    },
                )
            )
        return out


def _reason_at(risk: AccountRisk) -> datetime | None:
    """When an account's risk was there: the newest of its reasons."""
    return _latest(*(r.at for r in risk.reasons))
