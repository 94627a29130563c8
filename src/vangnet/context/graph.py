"""The account graph: who paid, messaged and called whom, which devices, handles and streams
they share (networkx), and what an investigator reads off it.

`build_graph` turns a `Population` into a `networkx.MultiDiGraph` by the graph contract:

- nodes ``account:<ref>``, ``device:<id>``, ``handle:<h>``, ``stream:<id>``, each with
  ``kind`` (`NodeKind`), ``label``, ``country`` (the account record's, else the country its
  payments and sessions name most often, else None), ``role`` (a `Role` value, ``unknown``
  until an assessment sets it: `mark_risks`), ``score`` (0.0 until then) and ``merchant``
  (an account record of a business kind, `MERCHANT_KINDS`, or a beneficiary of a card
  purchase: never a hub, never raised by the payments of a known viewer);
- one edge per (source, target, `EdgeKind`) that aggregates every record behind it:
  ``count``, ``first`` / ``last`` (datetimes), ``refs`` (the newest `MAX_EDGE_REFS`
  `RowRef`\\ s, oldest first) and, on ``paid`` edges, ``amount_eur`` (converted with
  ``rates``; a currency without a rate is counted in ``unconverted`` and listed in the
  graph's ``unconverted_currencies``: nothing is dropped silently).

``paid`` and ``messaged`` edges go sender → beneficiary / recipient; ``called`` edges join
a session's participants in their listed order (the first → each later one); ``streamed``
edges go participant → ``stream:<id>`` when the session was monitored live; account
records give ``uses_device`` and ``has_handle`` edges. Edges found elsewhere (a payment
handle the chat indicators read in a message) come in through ``links``.

Then `components` (weakly connected), `hubs` (beneficiaries paid by many distinct senders
from many countries: the facilitator pattern of AUSTRAC 2022 and FINTRAC Project Shadow),
`viewer_clusters` (those senders grouped per country by the hubs they pay), `ego` (a
bounded neighbourhood for the network picture), `counterparties`, `graph_json` and
`write_graphml` (Gephi, Maltego, i2 Analyst's Notebook read GraphML).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import networkx as nx

from vangnet.context.findings import AccountRisk, Role, RowRef
from vangnet.context.payments.rules import default_rules
from vangnet.context.population import Population
from vangnet.sources.records.model import Channel, RecordKind

#: At most this many record references are kept on one edge (``count`` has them all).
MAX_EDGE_REFS = 50


class NodeKind(StrEnum):
    """What a node stands for."""

    ACCOUNT = "account"
    DEVICE = "device"
    HANDLE = "handle"
    STREAM = "stream"


_UNKNOWN = str(Role.UNKNOWN)


class EdgeKind(StrEnum):
    """What an edge aggregates."""

    PAID = "paid"
    MESSAGED = "messaged"
    CALLED = "called"
    USES_DEVICE = "uses_device"
    HAS_HANDLE = "has_handle"
    STREAMED = "streamed"


#: Account record kinds of a business, whose beneficiaries are merchants (`hubs`).
MERCHANT_KINDS = frozenset({"business", "merchant", "company", "organisation", "organization"})


def node_id(kind: NodeKind, ref: str) -> str:
    """The node id of ``ref`` as a ``kind`` node: ``account:<ref>`` and so on."""
    return f"{kind.value}:{ref}"


def account_node(ref: str) -> str:
    return node_id(NodeKind.ACCOUNT, ref)


def ref_of(node: str) -> str:
    """The ref inside a node id (``account:a1`` → ``a1``)."""
    return node.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class Link:
    """An edge found outside the records the graph reads (for example a payment handle named
    in a chat message): ``source`` → ``target`` node ids, its ``kind``, when, and the row."""

    source: str
    target: str
    kind: EdgeKind
    at: datetime
    row: RowRef | None = None


@dataclass(slots=True)
class _Edge:
    count: int = 0
    amount_eur: Decimal = Decimal(0)
    unconverted: int = 0
    first: datetime | None = None
    last: datetime | None = None
    refs: list[RowRef] = field(default_factory=list)

    def add(self, at: datetime | None, row: RowRef | None) -> None:
        self.count += 1
        if at is not None:
            if self.first is None or at < self.first:
                self.first = at
            if self.last is None or at > self.last:
                self.last = at
        if row is not None:
            self.refs.append(row)
            if len(self.refs) >= 2 * MAX_EDGE_REFS:  # keep the newest (records come in order)
                del self.refs[:-MAX_EDGE_REFS]


class _Builder:
    """Collects nodes and aggregated edges, then makes the networkx graph once."""

    def __init__(self, rates: Mapping[str, float]) -> None:
        self.rates = {k.upper(): Decimal(str(v)) for k, v in rates.items()}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.seen_countries: dict[str, Counter[str]] = {}
        self.edges: dict[tuple[str, str, EdgeKind], _Edge] = {}
        self.unconverted: set[str] = set()

    def node(self, kind: NodeKind, ref: str, country: str | None = None) -> str:
        nid = f"{kind}:{ref}"
        if nid not in self.nodes:
            self.nodes[nid] = {
                "kind": str(kind),
                "label": ref,
                "country": None,
                "role": _UNKNOWN,
                "score": 0.0,
                "merchant": False,
            }
        if country:
            seen = self.seen_countries.get(nid)
            if seen is None:
                seen = self.seen_countries[nid] = Counter()
            seen[country.upper()] += 1
        return nid

    def edge(
        self, u: str, v: str, kind: EdgeKind, at: datetime | None, row: RowRef | None
    ) -> _Edge:
        e = self.edges.get((u, v, kind))
        if e is None:
            e = self.edges[(u, v, kind)] = _Edge()
        e.add(at, row)
        return e

    def graph(self) -> nx.MultiDiGraph:
        g = nx.MultiDiGraph(unconverted_currencies=sorted(self.unconverted))
        for nid, counts in self.seen_countries.items():
            attrs = self.nodes[nid]
            if attrs["country"] is None:  # the most frequent, ties by name: deterministic
                attrs["country"] = min(counts, key=lambda c: (-counts[c], c))
        g.add_nodes_from(self.nodes.items())
        edges: list[tuple[str, str, str, dict[str, Any]]] = []
        for (u, v, kind), e in self.edges.items():
            edge: dict[str, Any] = {
                "kind": str(kind),
                "count": e.count,
                "first": e.first,
                "last": e.last,
                "refs": e.refs[-MAX_EDGE_REFS:],
            }
            if kind is EdgeKind.PAID:
                edge["amount_eur"] = float(round(e.amount_eur, 2))
                edge["unconverted"] = e.unconverted
            edges.append((u, v, str(kind), edge))
        g.add_edges_from(edges)
        return g


def build_graph(
    population: Population,
    *,
    links: Iterable[Link] | None = None,
    rates: Mapping[str, float] | None = None,
) -> nx.MultiDiGraph:
    """The graph of ``population`` (and ``links``) by the graph contract (module docstring);
    amounts in euros by ``rates`` (euros per unit of each currency; default: the bundled
    payment rules' ``fx.to_eur``, `vangnet.context.payments.rules`)."""
    b = _Builder(default_rules().fx.to_eur if rates is None else rates)
    for ref, account in population.accounts.items():
        a = b.node(NodeKind.ACCOUNT, ref)
        b.nodes[a]["label"] = account.name or ref
        if account.kind.lower() in MERCHANT_KINDS:
            b.nodes[a]["merchant"] = True
        if account.country:
            b.nodes[a]["country"] = account.country.upper()
        row = RowRef(RecordKind.ACCOUNTS, ref)
        for device in account.devices:
            b.edge(a, b.node(NodeKind.DEVICE, device), EdgeKind.USES_DEVICE, None, row)
        for handle in account.handles:
            b.edge(a, b.node(NodeKind.HANDLE, handle), EdgeKind.HAS_HANDLE, None, row)
    for p in sorted(population.payments, key=lambda p: p.at):
        s = b.node(NodeKind.ACCOUNT, p.sender, p.sender_country)
        t = b.node(NodeKind.ACCOUNT, p.beneficiary, p.beneficiary_country)
        e = b.edge(s, t, EdgeKind.PAID, p.at, RowRef(RecordKind.PAYMENTS, p.ref))
        if p.channel is Channel.CARD or p.merchant_category:  # a purchase: paid to a merchant
            b.nodes[t]["merchant"] = True
        rate = b.rates.get(p.currency.upper())
        if rate is None:
            e.unconverted += 1
            b.unconverted.add(p.currency.upper())
        else:
            e.amount_eur += p.amount * rate
    for m in sorted(population.messages, key=lambda m: m.at):
        s = b.node(NodeKind.ACCOUNT, m.sender)
        row = RowRef(RecordKind.MESSAGES, m.ref)
        for r in dict.fromkeys(m.recipients):
            if r != m.sender:
                b.edge(s, b.node(NodeKind.ACCOUNT, r), EdgeKind.MESSAGED, m.at, row)
    for c in sorted(population.sessions, key=lambda c: c.started_at):
        row = RowRef(RecordKind.SESSIONS, c.ref)
        countries = list(c.countries) + [None] * (len(c.participants) - len(c.countries))
        people = [
            b.node(NodeKind.ACCOUNT, p, country)
            for p, country in zip(c.participants, countries, strict=False)
        ]
        people = list(dict.fromkeys(people))
        for u in people[1:]:
            b.edge(people[0], u, EdgeKind.CALLED, c.started_at, row)
        if c.stream:
            stream = b.node(NodeKind.STREAM, c.stream)
            for u in people:
                b.edge(u, stream, EdgeKind.STREAMED, c.started_at, row)
    for link in links or ():
        for nid in (link.source, link.target):
            kind, _, ref = nid.partition(":")
            b.node(NodeKind(kind), ref)
        b.edge(link.source, link.target, link.kind, link.at, link.row)
    return b.graph()


# -- reading the graph -------------------------------------------------------------------------


def _accounts(graph: nx.MultiDiGraph, nodes: Iterable[str]) -> tuple[str, ...]:
    return tuple(
        sorted(ref_of(n) for n in nodes if graph.nodes[n]["kind"] == NodeKind.ACCOUNT.value)
    )


@dataclass(frozen=True, slots=True)
class Component:
    """One weakly connected component: its size in nodes and the accounts in it."""

    size: int
    accounts: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"size": self.size, "accounts": list(self.accounts)}


def components(graph: nx.MultiDiGraph) -> list[Component]:
    """The weakly connected components, largest first (ties by their first account)."""
    found = [
        Component(len(nodes), _accounts(graph, nodes))
        for nodes in nx.weakly_connected_components(graph)
    ]
    found.sort(key=lambda c: (-c.size, c.accounts))
    return found


def _paid_in(graph: nx.MultiDiGraph, node: str) -> Iterable[tuple[str, dict[str, Any]]]:
    for u, _, key, data in graph.in_edges(node, keys=True, data=True):
        if key == EdgeKind.PAID.value and u != node:
            yield u, data


@dataclass(frozen=True, slots=True)
class Hub:
    """A beneficiary paid by many distinct ``senders`` from the sender ``countries``
    (None: a sender whose country is unknown)."""

    account: str
    country: str | None
    senders: tuple[str, ...]
    countries: tuple[str, ...]
    payments: int
    amount_eur: float
    first: datetime | None
    last: datetime | None
    rows: tuple[RowRef, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "country": self.country,
            "senders": list(self.senders),
            "countries": list(self.countries),
            "payments": self.payments,
            "amount_eur": self.amount_eur,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
        }


def hubs(graph: nx.MultiDiGraph, *, min_senders: int = 3, min_countries: int = 1) -> list[Hub]:
    """Beneficiaries paid by at least ``min_senders`` distinct senders from at least
    ``min_countries`` distinct (known) sender countries; most senders first. Merchants
    (``merchant`` nodes: business accounts, and beneficiaries of card purchases) are no
    facilitators however many pay them: a shop is paid by everyone."""
    found: list[Hub] = []
    for node, attrs in graph.nodes(data=True):
        if attrs["kind"] != NodeKind.ACCOUNT.value or attrs.get("merchant"):
            continue
        paid = list(_paid_in(graph, node))
        if len(paid) < min_senders:
            continue
        countries = sorted({c for u, _ in paid if (c := graph.nodes[u]["country"])})
        if len(countries) < min_countries:
            continue
        firsts = [d["first"] for _, d in paid if d["first"] is not None]
        lasts = [d["last"] for _, d in paid if d["last"] is not None]
        rows = [r for _, d in sorted(paid, key=lambda x: x[0]) for r in d["refs"]]
        found.append(
            Hub(
                account=ref_of(node),
                country=attrs["country"],
                senders=tuple(sorted(ref_of(u) for u, _ in paid)),
                countries=tuple(countries),
                payments=sum(d["count"] for _, d in paid),
                amount_eur=round(sum(d["amount_eur"] for _, d in paid), 2),
                first=min(firsts, default=None),
                last=max(lasts, default=None),
                rows=tuple(rows),
            )
        )
    found.sort(key=lambda h: (-len(h.senders), -h.payments, h.account))
    return found


@dataclass(frozen=True, slots=True)
class ViewerCluster:
    """Senders of one ``country`` (None: unknown) who pay the same set of ``hubs``."""

    country: str | None
    hubs: tuple[str, ...]
    senders: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"country": self.country, "hubs": list(self.hubs), "senders": list(self.senders)}


def viewer_clusters(
    graph: nx.MultiDiGraph, *, hub_accounts: Iterable[str] | None = None
) -> list[ViewerCluster]:
    """The senders who pay hubs, grouped per sender country by the exact set of hubs they
    pay (default hubs: `hubs` with its defaults); largest cluster first."""
    hub_refs = [h.account for h in hubs(graph)] if hub_accounts is None else list(hub_accounts)
    pays: dict[str, set[str]] = {}
    for hub in hub_refs:
        node = account_node(hub)
        if node not in graph:
            continue
        for u, _ in _paid_in(graph, node):
            pays.setdefault(u, set()).add(hub)
    groups: dict[tuple[str | None, tuple[str, ...]], list[str]] = {}
    for sender, paid in pays.items():
        key = (graph.nodes[sender]["country"], tuple(sorted(paid)))
        groups.setdefault(key, []).append(ref_of(sender))
    found = [ViewerCluster(c, h, tuple(sorted(s))) for (c, h), s in groups.items()]
    found.sort(key=lambda v: (-len(v.senders), v.country or "~", v.hubs))
    return found


def _strength(graph: nx.MultiDiGraph, u: str, v: str) -> int:
    """How many records join ``u`` and ``v``, both ways, every kind."""
    total = 0
    for a, b in ((u, v), (v, u)):
        for data in (graph.get_edge_data(a, b) or {}).values():
            total += int(data["count"])
    return total


def ego(
    graph: nx.MultiDiGraph, node: str, radius: int = 2, *, max_nodes: int = 60
) -> nx.MultiDiGraph:
    """The neighbourhood of ``node`` up to ``radius`` hops (either direction), at most
    ``max_nodes`` nodes: grown strongest edge first (most records), so a hub with thousands
    of senders shows its heaviest payers, not an arbitrary few. A copy; KeyError for a node
    not in the graph."""
    if node not in graph:
        raise KeyError(node)
    kept: dict[str, int] = {}
    heap: list[tuple[int, int, str, str]] = [(0, 0, node, node)]
    while heap and len(kept) < max(1, max_nodes):
        _neg, depth, _from, v = heapq.heappop(heap)
        if v in kept:
            continue
        kept[v] = depth
        if depth >= radius:
            continue
        for w in set(graph.successors(v)) | set(graph.predecessors(v)):
            if w not in kept:
                heapq.heappush(heap, (-_strength(graph, v, w), depth + 1, v, w))
    sub: nx.MultiDiGraph = graph.subgraph(kept).copy()
    return sub


@dataclass(frozen=True, slots=True)
class Counterparty:
    """What joins an account to one neighbour: per edge kind and direction (``out``: the
    account paid / messaged / called it), the count, euros and time span."""

    node: str
    kind: str  # the neighbour's NodeKind
    edge: str  # the EdgeKind
    direction: str  # "out" or "in"
    count: int
    amount_eur: float | None
    first: datetime | None
    last: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "kind": self.kind,
            "edge": self.edge,
            "direction": self.direction,
            "count": self.count,
            "amount_eur": self.amount_eur,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
        }


def counterparties(graph: nx.MultiDiGraph, account: str) -> list[Counterparty]:
    """Everything ``account`` is directly joined to, most records first."""
    node = account_node(account)
    if node not in graph:
        return []
    found: list[Counterparty] = []
    for direction, edges in (
        ("out", graph.out_edges(node, keys=True, data=True)),
        ("in", graph.in_edges(node, keys=True, data=True)),
    ):
        for u, v, key, data in edges:
            other = v if direction == "out" else u
            found.append(
                Counterparty(
                    node=other,
                    kind=graph.nodes[other]["kind"],
                    edge=key,
                    direction=direction,
                    count=data["count"],
                    amount_eur=data.get("amount_eur"),
                    first=data["first"],
                    last=data["last"],
                )
            )
    found.sort(key=lambda c: (-c.count, c.node, c.edge, c.direction))
    return found


def mark_risks(graph: nx.MultiDiGraph, risks: Iterable[AccountRisk]) -> None:
    """Set each assessed account node's ``role`` and ``score`` (in place)."""
    for risk in risks:
        node = account_node(risk.account)
        if node in graph:
            graph.nodes[node]["role"] = risk.role.value
            graph.nodes[node]["score"] = round(risk.score, 4)


# -- export ------------------------------------------------------------------------------------


def _scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(
            f"{r.kind.value}:{r.ref}" if isinstance(r, RowRef) else str(r) for r in value
        )
    return "" if value is None else value


def graph_json(graph: nx.MultiDiGraph) -> dict[str, list[dict[str, Any]]]:
    """Nodes and edges as JSON (datetimes ISO 8601, rows as ``{kind, ref}``), for the API and
    the network picture."""
    nodes = [{"id": n, **dict(a)} for n, a in sorted(graph.nodes(data=True))]
    edges: list[dict[str, Any]] = []
    for u, v, _key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3]):
        edge: dict[str, Any] = {"source": u, "target": v}
        for k, value in data.items():
            if isinstance(value, datetime):
                edge[k] = value.isoformat()
            elif k == "refs":
                edge[k] = [r.as_json() for r in value]
            else:
                edge[k] = value
        edges.append(edge)
    return {"nodes": nodes, "edges": edges}


def graphml_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy GraphML can hold: datetimes as ISO 8601 text, rows as ``kind:ref;...`` text,
    None as empty text."""
    out = nx.MultiDiGraph()
    for n, attrs in graph.nodes(data=True):
        out.add_node(n, **{k: _scalar(v) for k, v in attrs.items()})
    for u, v, key, attrs in graph.edges(keys=True, data=True):
        out.add_edge(u, v, key=key, **{k: _scalar(val) for k, val in attrs.items()})
    return out


def write_graphml(graph: nx.MultiDiGraph, path: Path) -> None:
    """Write ``graph`` as GraphML (networkx's writer) to ``path``."""
    nx.write_graphml(graphml_graph(graph), str(path))


def summary(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """Node and edge counts per kind, and the currencies without a rate."""
    nodes = Counter(a["kind"] for _, a in graph.nodes(data=True))
    edges = Counter(k for _, _, k in graph.edges(keys=True))
    return {
        "nodes": dict(sorted(nodes.items())),
        "edges": dict(sorted(edges.items())),
        "unconverted_currencies": list(graph.graph.get("unconverted_currencies", [])),
    }
