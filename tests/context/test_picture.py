"""The network picture (`vangnet.context.picture.draw_svg`) of a graph of the shared contract
built here with networkx: well-formed SVG, every label escaped, shapes by kind and colours by
role, widths by amount, the same picture for the same graph, large graphs capped around the
focus with the rest counted; and the case graph (`case_graph`) of the test records."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import networkx as nx

from context.case_data import ACCOUNTS, MESSAGES, PAYMENTS, SESSIONS
from vangnet.context.case_graph import case_graph
from vangnet.context.picture import ROLE_COLOURS, draw_svg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & co'
AT = datetime(2026, 11, 1, tzinfo=UTC)


def _graph() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    for node, kind, label, role in (
        ("account:v", "account", HOSTILE, "viewer"),
        ("account:f", "account", "fac", "facilitator"),
        ("device:d1", "device", "phone 1", "unknown"),
        ("handle:@h", "handle", "@h", "unknown"),
        ("stream:9", "stream", "stream 9", "unknown"),
    ):
        g.add_node(node, kind=kind, label=label, country="PH", role=role, score=0.5)
    g.add_edge(
        "account:v",
        "account:f",
        key="paid",
        kind="paid",
        count=3,
        amount_eur=900.0,
        first=AT,
        last=AT,
        refs=[],
    )
    g.add_edge(
        "account:v",
        "account:f",
        key="messaged",
        kind="messaged",
        count=1,
        first=AT,
        last=AT,
        refs=[],
    )
    g.add_edge(
        "account:v",
        "device:d1",
        key="uses_device",
        kind="uses_device",
        count=1,
        first=None,
        last=None,
        refs=[],
    )
    g.add_edge(
        "account:f",
        "handle:@h",
        key="has_handle",
        kind="has_handle",
        count=1,
        first=None,
        last=None,
        refs=[],
    )
    g.add_edge(
        "account:f",
        "stream:9",
        key="streamed",
        kind="streamed",
        count=1,
        first=AT,
        last=AT,
        refs=[],
    )
    return g


def test_draw_svg_is_escaped_well_formed_and_stable() -> None:
    svg = draw_svg(_graph(), focus="account:v")
    root = ET.fromstring(svg)  # well-formed: every label escaped
    assert root.tag == f"{SVG}svg"
    assert "<script" not in svg and "&lt;script&gt;" in svg and "style=" not in svg
    nodes = {g.get("data-node"): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert set(nodes) == {"account:v", "account:f", "device:d1", "handle:@h", "stream:9"}
    assert nodes["account:v"].find(f"{SVG}circle").get("fill") == ROLE_COLOURS["viewer"]  # type: ignore[union-attr]
    assert nodes["account:v"].find(f"{SVG}circle").get("stroke-width") == "3"  # type: ignore[union-attr]  # ringed
    assert nodes["account:f"].find(f"{SVG}circle").get("fill") == ROLE_COLOURS["facilitator"]  # type: ignore[union-attr]
    assert nodes["device:d1"].find(f"{SVG}rect") is not None
    assert nodes["handle:@h"].find(f"{SVG}polygon") is not None
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    widths = {
        e.get("data-kind"): float(e.find(f"{SVG}line").get("stroke-width"))  # type: ignore[union-attr, arg-type]
        for e in edges
    }
    assert widths["paid"] > widths["messaged"]  # EUR 900 is wider than one message
    assert "EUR 900.00" in svg and "legend" in svg
    assert draw_svg(_graph(), focus="account:v") == svg  # seeded layout: the same picture


def test_a_large_graph_keeps_the_focus_and_counts_the_rest() -> None:
    g = _graph()
    for i in range(30):
        g.add_node(
            f"account:x{i}", kind="account", label=f"x{i}", country=None, role="unknown", score=0.0
        )
        g.add_edge(
            "account:f",
            f"account:x{i}",
            key="paid",
            kind="paid",
            count=1,
            amount_eur=1.0,
            first=AT,
            last=AT,
            refs=[],
        )
    svg = draw_svg(g, focus="account:v", max_nodes=4)
    root = ET.fromstring(svg)
    shown = {n.get("data-node") for n in root.iter(f"{SVG}g") if n.get("class") == "node"}
    assert len(shown) == 4 and "account:v" in shown and "account:f" in shown
    assert "31 more nodes not drawn" in svg


def test_the_case_graph_follows_the_contract() -> None:
    g = case_graph(
        [*PAYMENTS[:2], MESSAGES[0], SESSIONS[0]],
        accounts={a.ref: a for a in ACCOUNTS},
        focus="viewer-1",
        role="viewer",
        score=0.88,
    )
    assert set(g.nodes) == {"account:viewer-1", "account:fac-1", "device:dev-9"}
    me = g.nodes["account:viewer-1"]
    assert (me["kind"], me["role"], me["score"], me["country"]) == ("account", "viewer", 0.88, "NL")
    assert g.nodes["account:fac-1"]["country"] == "PH"
    paid = g.get_edge_data("account:viewer-1", "account:fac-1", key="paid")
    assert (paid["count"], paid["amount_eur"]) == (2, 55.0)
    assert [r.ref for r in paid["refs"]] == ["TX-1", "TX-2"]
    assert paid["first"] < paid["last"]
    kinds = {k for _, _, k in g.edges(keys=True)}
    assert kinds == {"paid", "messaged", "called", "uses_device"}
