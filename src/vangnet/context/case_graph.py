"""The network around a context case, built from the records behind its reasons, as a
`networkx.MultiDiGraph` of the shared graph contract (``docs/context-cases.md``): nodes
``account:<ref>``, ``device:<id>``, ``handle:<h>``, ``stream:<id>`` with ``kind``, ``label``,
``country``, ``role``, ``score``; edges ``paid`` / ``messaged`` (sender to beneficiary or
recipient), ``called``, ``uses_device``, ``has_handle``, ``streamed`` with ``count``,
``first`` / ``last``, ``refs`` (up to 50 `RowRef`\\ s) and, for ``paid``, ``amount_eur``.

It is the case's evidence only (what a reviewer must weigh), not the whole population's
graph; amounts in other currencies than EUR are counted, not converted (``amount_eur`` sums
the EUR payments; ``currencies`` lists the others).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

import networkx as nx

from vangnet.context.findings import Role, RowRef
from vangnet.sources.records.model import Account, CallSession, Message, Payment, RecordKind

MAX_REFS = 50


def _node(graph: nx.MultiDiGraph, node: str, kind: str, label: str) -> None:
    if node not in graph:
        graph.add_node(
            node, kind=kind, label=label, country=None, role=Role.UNKNOWN.value, score=0.0
        )


def _edge(
    graph: nx.MultiDiGraph,
    src: str,
    dst: str,
    kind: str,
    at: datetime | None,
    ref: RowRef | None,
    amount: Decimal | None = None,
    currency: str | None = None,
) -> None:
    data = graph.get_edge_data(src, dst, key=kind)
    if data is None:
        graph.add_edge(src, dst, key=kind, kind=kind, count=0, first=at, last=at, refs=[])
        data = graph.get_edge_data(src, dst, key=kind)
        if kind == "paid":
            data["amount_eur"] = 0.0
            data["currencies"] = []
    data["count"] += 1
    if at is not None:
        data["first"] = at if data["first"] is None else min(data["first"], at)
        data["last"] = at if data["last"] is None else max(data["last"], at)
    if ref is not None and len(data["refs"]) < MAX_REFS:
        data["refs"].append(ref)
    if amount is not None:
        if currency == "EUR":
            data["amount_eur"] += float(amount)
        elif currency and currency not in data["currencies"]:
            data["currencies"].append(currency)


def account(ref: str) -> str:
    return f"account:{ref}"


def case_graph(
    records: Iterable[Payment | Message | CallSession | Account],
    *,
    accounts: Mapping[str, Account],
    focus: str,
    role: str = Role.UNKNOWN.value,
    score: float = 0.0,
) -> nx.MultiDiGraph:
    """The graph of ``records`` (the case's), the known ``accounts`` giving countries,
    devices and handles; ``focus`` (the case's account ref) gets ``role`` and ``score``."""
    graph = nx.MultiDiGraph()
    _node(graph, account(focus), "account", focus)
    for r in records:
        if isinstance(r, Payment):
            ref = RowRef(RecordKind.PAYMENTS, r.ref)
            _node(graph, account(r.sender), "account", r.sender)
            _node(graph, account(r.beneficiary), "account", r.beneficiary)
            _edge(
                graph,
                account(r.sender),
                account(r.beneficiary),
                "paid",
                r.at,
                ref,
                r.amount,
                r.currency,
            )
            for who, country in (
                (r.sender, r.sender_country),
                (r.beneficiary, r.beneficiary_country),
            ):
                if country and graph.nodes[account(who)]["country"] is None:
                    graph.nodes[account(who)]["country"] = country
        elif isinstance(r, Message):
            ref = RowRef(RecordKind.MESSAGES, r.ref)
            _node(graph, account(r.sender), "account", r.sender)
            for to in r.recipients:
                _node(graph, account(to), "account", to)
                _edge(graph, account(r.sender), account(to), "messaged", r.at, ref)
        elif isinstance(r, CallSession):
            ref = RowRef(RecordKind.SESSIONS, r.ref)
            people = list(dict.fromkeys(r.participants))
            for who in people:
                _node(graph, account(who), "account", who)
            for who, country in zip(people, r.countries, strict=False):
                if country and graph.nodes[account(who)]["country"] is None:
                    graph.nodes[account(who)]["country"] = country
            for other in people[1:]:
                _edge(graph, account(people[0]), account(other), "called", r.started_at, ref)
            if r.stream and people:
                stream = f"stream:{r.stream}"
                _node(graph, stream, "stream", f"stream {r.stream}")
                _edge(graph, account(people[0]), stream, "streamed", r.started_at, ref)
    for node in [n for n, d in graph.nodes(data=True) if d["kind"] == "account"]:
        known = accounts.get(node.removeprefix("account:"))
        if known is None:
            continue
        ref = RowRef(RecordKind.ACCOUNTS, known.ref)
        if known.country:
            graph.nodes[node]["country"] = known.country
        if known.name:
            graph.nodes[node]["label"] = f"{known.ref} ({known.name})"
        for device in known.devices:
            _node(graph, f"device:{device}", "device", device)
            _edge(graph, node, f"device:{device}", "uses_device", None, ref)
        for handle in known.handles:
            _node(graph, f"handle:{handle}", "handle", handle)
            _edge(graph, node, f"handle:{handle}", "has_handle", None, ref)
    graph.nodes[account(focus)]["role"] = role
    graph.nodes[account(focus)]["score"] = float(score)
    return graph
