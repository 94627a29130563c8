"""The account graph: nodes and aggregated edges by the graph contract, components, hubs,
viewer clusters, ego bounds, counterparties and the GraphML export."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import networkx as nx
import pytest

from context.graphdata import T0, VIEWERS, pay, population
from vangnet.context.findings import AccountRisk, Role, RowRef
from vangnet.context.graph import (
    MAX_EDGE_REFS,
    EdgeKind,
    Link,
    build_graph,
    components,
    counterparties,
    ego,
    graph_json,
    hubs,
    mark_risks,
    viewer_clusters,
    write_graphml,
)
from vangnet.context.payments.rules import default_rules
from vangnet.context.population import Population
from vangnet.sources.records.model import RecordKind


def test_nodes_and_edges_follow_the_contract() -> None:
    g = build_graph(population())
    assert isinstance(g, nx.MultiDiGraph)
    fac = g.nodes["account:fac"]
    assert fac == {
        "kind": "account",
        "label": "Facilitator One",
        "country": "PH",
        "role": "unknown",
        "score": 0.0,
        "merchant": False,
    }
    assert g.nodes["account:v3"]["country"] == "AU"  # from its payments (no account record)
    assert g.nodes["device:dev-A"]["kind"] == "device"
    assert g.nodes["handle:fac_live"]["kind"] == "handle"
    assert g.nodes["stream:7"]["kind"] == "stream"
    kinds = {k for _, _, k in g.edges(keys=True)}
    assert kinds == {e.value for e in EdgeKind}
    # direction: sender -> beneficiary / recipient; first participant -> the others
    assert g.has_edge("account:v1", "account:fac", "paid")
    assert not g.has_edge("account:fac", "account:v1", "paid")
    assert g.has_edge("account:fac", "account:v1", "messaged")
    assert g.has_edge("account:v1", "account:fac", "messaged")
    assert g.has_edge("account:fac", "account:v1", "called")
    assert g.has_edge("account:v1", "stream:7", "streamed")
    assert g.has_edge("account:v1", "device:dev-A", "uses_device")
    assert g.has_edge("account:fac", "handle:fac_live", "has_handle")


def test_parallel_records_aggregate_into_one_edge_with_euros() -> None:
    g = build_graph(population())
    [only] = g.get_edge_data("account:v2", "account:fac").values()
    assert only["kind"] == "paid"
    assert only["count"] == 2
    assert only["amount_eur"] == pytest.approx(40.0)
    assert only["first"] == T0 + timedelta(days=1)
    assert only["last"] == T0 + timedelta(days=8)
    assert only["refs"] == [RowRef(RecordKind.PAYMENTS, "P2"), RowRef(RecordKind.PAYMENTS, "P3")]
    usd = g.get_edge_data("account:v1", "account:fac2", "paid")
    assert usd["amount_eur"] == pytest.approx(30 * default_rules().fx.to_eur["USD"])
    # a currency without a rate is counted and named, not converted, not dropped
    mum = g.get_edge_data("account:son", "account:mum", "paid")
    assert (mum["count"], mum["unconverted"], mum["amount_eur"]) == (3, 1, 400.0)
    assert g.graph["unconverted_currencies"] == ["XTS"]
    # the caller's rates win
    g2 = build_graph(population(), rates={"EUR": 1.0, "XTS": 2.0})
    assert g2.get_edge_data("account:son", "account:mum", "paid")["amount_eur"] == 410.0
    assert g2.get_edge_data("account:v1", "account:fac2", "paid")["unconverted"] == 1


def test_an_edge_keeps_at_most_its_newest_refs() -> None:
    many = [pay(f"R{i}", "a", "b", days=i / 100) for i in range(MAX_EDGE_REFS + 7)]
    edge = build_graph(Population(payments=many)).get_edge_data("account:a", "account:b", "paid")
    assert edge["count"] == MAX_EDGE_REFS + 7
    assert len(edge["refs"]) == MAX_EDGE_REFS
    assert edge["refs"][0].ref == "R7" and edge["refs"][-1].ref == f"R{MAX_EDGE_REFS + 6}"


def test_extra_links_come_in_as_edges() -> None:
    link = Link(
        "account:v4", "handle:fac_live", EdgeKind.HAS_HANDLE, T0, RowRef(RecordKind.MESSAGES, "M3")
    )
    g = build_graph(population(), links=[link])
    data = g.get_edge_data("account:v4", "handle:fac_live", "has_handle")
    assert data["count"] == 1 and data["refs"] == [RowRef(RecordKind.MESSAGES, "M3")]


def test_components() -> None:
    found = components(build_graph(population()))
    sizes = [c.size for c in found]
    assert sizes == sorted(sizes, reverse=True)
    big = found[0]
    assert {"fac", "fac2", "v1", "v9", *VIEWERS} <= set(big.accounts)
    family = next(c for c in found if "mum" in c.accounts)
    assert family.accounts == ("daughter", "mum", "son")
    assert family.size == 3


def test_hubs_need_many_senders_from_enough_countries() -> None:
    g = build_graph(population())
    [hub] = hubs(g, min_senders=5)
    assert hub.account == "fac"
    assert hub.senders == tuple(sorted(VIEWERS))
    assert hub.countries == ("AU", "NL", "US")
    assert (hub.payments, hub.amount_eur) == (9, 180.0)
    assert len(hub.rows) == 9
    assert hubs(g, min_senders=5, min_countries=4) == []
    assert hubs(g, min_senders=7) == []
    # two family senders to mum: a hub only with a threshold of 2
    assert "mum" not in [h.account for h in hubs(g, min_senders=3)]
    assert "mum" in [h.account for h in hubs(g, min_senders=2)]


def test_a_merchant_is_no_hub_and_is_not_raised_by_a_known_viewer() -> None:
    """A shop paid by card by every viewer (or a business account) is paid by many senders
    from many countries, like a facilitator: it is no hub, and a flagged viewer's purchase
    there raises nobody."""
    from dataclasses import replace

    from vangnet.context.graph_reasons import GraphEvaluator
    from vangnet.sources.records.model import Account, Channel

    base = population()
    shop = [
        replace(pay(f"C{i}", v, "shop", "9.99", sender_country=c), channel=Channel.CARD)
        for i, (v, c) in enumerate(sorted(VIEWERS.items()))
    ]
    vpn = replace(pay("V1", "v1", "vpn-co", "4.99"), merchant_category="vpn")
    firm = [
        pay(f"F{i}", v, "firm", "30.00", sender_country=c)
        for i, (v, c) in enumerate(VIEWERS.items())
    ]
    accounts = {**base.accounts, "firm": Account("firm", kind="business", country="PH")}
    g = build_graph(
        Population([*base.payments, *shop, vpn, *firm], base.messages, base.sessions, accounts)
    )
    assert g.nodes["account:shop"]["merchant"] and g.nodes["account:vpn-co"]["merchant"]
    assert g.nodes["account:firm"]["merchant"] and not g.nodes["account:fac"]["merchant"]
    assert [h.account for h in hubs(g, min_senders=5)] == ["fac"]
    raised = GraphEvaluator().propagate(g, [AccountRisk("v1", 0.9, Role.VIEWER, ())])
    assert "fac" in {r.account for r in raised}
    assert not {"shop", "vpn-co", "firm"} & {r.account for r in raised}


def test_viewer_clusters_group_senders_per_country_by_the_hubs_they_pay() -> None:
    g = build_graph(population())
    clusters = viewer_clusters(g, hub_accounts=["fac", "fac2"])
    by_key = {(c.country, c.hubs): c.senders for c in clusters}
    assert by_key == {
        ("NL", ("fac",)): ("v2", "v5"),
        ("NL", ("fac", "fac2")): ("v1",),
        ("AU", ("fac", "fac2")): ("v3",),
        ("AU", ("fac",)): ("v6",),
        ("US", ("fac",)): ("v4",),
    }
    assert len(clusters[0].senders) == 2  # largest first
    assert viewer_clusters(g, hub_accounts=["nobody"]) == []


def test_ego_is_bounded_and_keeps_the_strongest_edges() -> None:
    payments = [pay(f"H{i}", f"s{i}", "hub", days=i) for i in range(30)]
    payments += [pay(f"HH{j}", "s7", "hub", days=j) for j in range(5)]  # s7: the heaviest
    payments += [pay(f"HX{j}", "s3", "hub", days=j) for j in range(3)]
    payments += [pay("FAR", "far", "s7")]
    g = build_graph(Population(payments=payments))
    small = ego(g, "account:hub", radius=1, max_nodes=3)
    assert set(small.nodes) == {"account:hub", "account:s7", "account:s3"}
    assert small.number_of_edges() == 2
    assert set(ego(g, "account:hub", radius=1, max_nodes=100).nodes) == {
        "account:hub",
        *(f"account:s{i}" for i in range(30)),
    }
    two = ego(g, "account:hub", radius=2, max_nodes=100)
    assert "account:far" in two
    assert "account:far" not in ego(g, "account:hub", radius=2, max_nodes=31)
    small.nodes["account:hub"]["score"] = 1.0  # a copy: the graph is untouched
    assert g.nodes["account:hub"]["score"] == 0.0
    with pytest.raises(KeyError):
        ego(g, "account:nobody")


def test_counterparties_and_marked_risks() -> None:
    g = build_graph(population())
    found = counterparties(g, "v1")
    paid = next(c for c in found if c.node == "account:fac" and c.edge == "paid")
    assert (paid.direction, paid.count, paid.amount_eur) == ("out", 1, 20.0)
    assert any(c.node == "device:dev-A" and c.edge == "uses_device" for c in found)
    assert any(c.node == "account:fac" and c.direction == "in" for c in found)
    assert counterparties(g, "nobody") == []
    mark_risks(g, [AccountRisk("fac", 0.8, Role.FACILITATOR, ())])
    assert (g.nodes["account:fac"]["role"], g.nodes["account:fac"]["score"]) == ("facilitator", 0.8)


def test_json_and_graphml_export(tmp_path: Path) -> None:
    g = build_graph(population())
    data = graph_json(g)
    edge = next(e for e in data["edges"] if e["source"] == "account:v2" and e["kind"] == "paid")
    assert edge["refs"] == [{"kind": "payments", "ref": "P2"}, {"kind": "payments", "ref": "P3"}]
    assert edge["first"] == (T0 + timedelta(days=1)).isoformat()
    path = tmp_path / "g.graphml"
    write_graphml(g, path)
    back = nx.read_graphml(path, force_multigraph=True)
    assert back.number_of_nodes() == g.number_of_nodes()
    assert back.number_of_edges() == g.number_of_edges()
    assert back.nodes["account:fac"]["country"] == "PH"
    [(_, attrs)] = back.get_edge_data("account:v2", "account:fac").items()
    assert attrs["refs"] == "payments:P2;payments:P3" and attrs["count"] == 2
