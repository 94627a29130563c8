"""A network picture drawn on the server: `draw_svg` turns a graph of the shared contract
(`vangnet.context.case_graph`, ``vangnet.context.graph``) into one self-contained SVG.

No script, no external font or stylesheet, no inline ``style`` (the app's Content Security
Policy forbids them; SVG presentation attributes are enough). Nodes are shaped by kind
(account: circle, device: square, handle: diamond, stream: triangle) and coloured by role
(viewer, facilitator, unknown); the focus account is ringed. Edges are coloured by kind
(paid, messaged, called, ...) and as wide as their count (paid: their EUR amount); each
node and edge has a ``<title>`` (a tooltip, and what a screen reader reads). Every label is
escaped. The layout is `networkx.spring_layout` with a fixed seed: the same graph draws the
same picture every time. Large graphs keep the focus and the nodes closest to it
(``max_nodes``); the picture says how many were left out.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from html import escape
from typing import Any

import networkx as nx

#: Fill colour by role (accounts) or kind (other nodes).
ROLE_COLOURS: Mapping[str, str] = {
    "viewer": "#c0392b",
    "facilitator": "#7d3c98",
    "unknown": "#5d6d7e",
}
KIND_COLOURS: Mapping[str, str] = {"device": "#b9770e", "handle": "#1e8449", "stream": "#2471a3"}
EDGE_COLOURS: Mapping[str, str] = {
    "paid": "#1e8449",
    "messaged": "#2471a3",
    "called": "#ca6f1e",
    "streamed": "#a93226",
    "uses_device": "#909497",
    "has_handle": "#909497",
}
SHAPES = ("account", "device", "handle", "stream")
SEED = 7
_LABEL = 28


def _short(text: str) -> str:
    return text if len(text) <= _LABEL else text[: _LABEL - 1] + "…"


def _keep(graph: nx.MultiDiGraph, focus: str, max_nodes: int) -> list[Hashable]:
    """The focus and the nodes nearest to it (hops, then the busiest links), at most
    ``max_nodes``; a graph without the focus keeps its busiest nodes."""
    plain = nx.Graph(graph)
    hops = nx.single_source_shortest_path_length(plain, focus) if focus in plain else {}
    degree = dict(plain.degree())
    order = sorted(plain.nodes, key=lambda n: (hops.get(n, math.inf), -degree.get(n, 0), str(n)))
    return order[:max_nodes]


def _shape(kind: str, x: float, y: float, r: float, fill: str, ring: bool) -> str:
    stroke = ' stroke="#111" stroke-width="3"' if ring else ' stroke="#fff" stroke-width="1"'
    if kind == "device":
        side = 2 * r
        return (
            f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{side:.1f}" height="{side:.1f}"'
            f' fill="{fill}"{stroke}/>'
        )
    if kind == "handle":
        pts = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{fill}"{stroke}/>'
    if kind == "stream":
        pts = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y + r:.1f} {x - r:.1f},{y + r:.1f}"
        return f'<polygon points="{pts}" fill="{fill}"{stroke}/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{fill}"{stroke}/>'


def _fill(data: Mapping[str, Any]) -> str:
    kind = str(data.get("kind", "account"))
    if kind == "account":
        return ROLE_COLOURS.get(str(data.get("role", "unknown")), ROLE_COLOURS["unknown"])
    return KIND_COLOURS.get(kind, ROLE_COLOURS["unknown"])


def _width(data: Mapping[str, Any]) -> float:
    if data.get("kind") == "paid" and float(data.get("amount_eur") or 0) > 0:
        return min(9.0, 1.0 + 1.6 * math.log10(1 + float(data["amount_eur"])))
    return min(9.0, 1.0 + 1.5 * math.log2(1 + int(data.get("count") or 1)))


def _edge_title(src: str, dst: str, data: Mapping[str, Any]) -> str:
    kind = str(data.get("kind", ""))
    parts = [f"{src} {kind} {dst}", f"{int(data.get('count') or 0)} records"]
    if kind == "paid":
        parts.append(f"EUR {float(data.get('amount_eur') or 0):.2f}")
        others = data.get("currencies") or []
        if others:
            parts.append("also in " + ", ".join(str(c) for c in others))
    first, last = data.get("first"), data.get("last")
    if first is not None and last is not None:
        parts.append(f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC")
    return "; ".join(parts)


def draw_svg(
    graph: nx.MultiDiGraph,
    *,
    focus: str,
    width: int = 720,
    height: int = 460,
    max_nodes: int = 60,
    title: str = "Network picture",
) -> str:
    """``graph`` as an SVG document (a string), centred on the node ``focus``."""
    keep = _keep(graph, focus, max(2, max_nodes))
    shown = graph.subgraph(keep)
    legend_h = 80
    plot_h = height - legend_h
    margin, margin_x = 40.0, 100.0  # room for the labels left and right of the outer nodes
    if len(shown) == 1:
        pos = {keep[0]: (0.0, 0.0)}
    elif len(shown):
        layout = nx.spring_layout(nx.Graph(shown), seed=SEED)
        pos = {n: (float(p[0]), float(p[1])) for n, p in layout.items()}
    else:
        pos = {}
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    span_x = max(max(xs) - min(xs), 1e-9)
    span_y = max(max(ys) - min(ys), 1e-9)

    def at(node: Hashable) -> tuple[float, float]:
        x, y = pos[node]
        if len(pos) == 1:
            return width / 2, plot_h / 2
        return (
            margin_x + (x - min(xs)) / span_x * (width - 2 * margin_x),
            margin + (y - min(ys)) / span_y * (plot_h - 2 * margin),
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" role="img" aria-labelledby="netpic-title" class="netpic">',
        f'<title id="netpic-title">{escape(title)}</title>',
        '<defs><marker id="netpic-arrow" viewBox="0 0 10 10" refX="10" refY="5"'
        ' markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fdfefe"/>',
    ]
    edges = sorted(
        shown.edges(keys=True, data=True), key=lambda e: (str(e[0]), str(e[1]), str(e[2]))
    )
    for src, dst, _key, data in edges:
        (x1, y1), (x2, y2) = at(src), at(dst)
        if src == dst:
            continue
        dx, dy = x2 - x1, y2 - y1
        length = math.hypot(dx, dy) or 1.0
        r = 14.0
        x2, y2 = x2 - dx / length * r, y2 - dy / length * r  # stop at the node's edge
        kind = str(data.get("kind", ""))
        colour = EDGE_COLOURS.get(kind, "#909497")
        arrow = ' marker-end="url(#netpic-arrow)"' if kind in ("paid", "messaged", "called") else ""
        src_label = str(graph.nodes[src].get("label", src))
        dst_label = str(graph.nodes[dst].get("label", dst))
        out.append(
            f'<g class="edge" data-kind="{escape(kind)}"><line x1="{x1:.1f}" y1="{y1:.1f}"'
            f' x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" stroke-width="{_width(data):.1f}"'
            f' stroke-opacity="0.8"{arrow}><title>{escape(_edge_title(src_label, dst_label, data))}'
            "</title></line></g>"
        )
    for node in sorted(shown.nodes, key=lambda n: (n == focus, str(n))):
        data = graph.nodes[node]
        x, y = at(node)
        kind = str(data.get("kind", "account"))
        label = str(data.get("label", node))
        about = [f"{kind} {label}"]
        if data.get("country"):
            about.append(f"country {data['country']}")
        if kind == "account":
            about.append(f"role {data.get('role', 'unknown')}")
        if float(data.get("score") or 0) > 0:
            about.append(f"risk {float(data['score']):.2f}")
        radius = 14.0 if node == focus else 10.0
        out.append(
            f'<g class="node" data-node="{escape(str(node))}" data-kind="{escape(kind)}">'
            f"<title>{escape('; '.join(about))}</title>"
            + _shape(kind, x, y, radius, _fill(data), node == focus)
            + f'<text x="{x:.1f}" y="{y + radius + 12:.1f}" font-size="11"'
            f' font-family="sans-serif" text-anchor="middle" fill="#1b2631">'
            f"{escape(_short(label))}</text></g>"
        )
    left_out = len(graph) - len(shown)
    out.append(_legend(width, height, legend_h, left_out))
    out.append("</svg>")
    return "\n".join(out)


def _legend(width: int, height: int, legend_h: int, left_out: int) -> str:
    y0 = height - legend_h + 8
    parts = [
        f'<g class="legend"><rect x="0" y="{y0 - 8}" width="{width}" height="{legend_h}"'
        ' fill="#f2f4f4"/>'
    ]
    x = 12.0
    for role, colour in ROLE_COLOURS.items():
        parts.append(_shape("account", x + 6, y0 + 8, 6, colour, False))
        parts.append(_legend_text(x + 16, y0 + 12, f"account: {role}"))
        x += 130
    for kind in ("device", "handle", "stream"):
        parts.append(_shape(kind, x + 6, y0 + 8, 6, KIND_COLOURS[kind], False))
        parts.append(_legend_text(x + 16, y0 + 12, kind))
        x += 70
    x = 12.0
    for kind in ("paid", "messaged", "called", "streamed"):
        parts.append(
            f'<line x1="{x:.1f}" y1="{y0 + 32}" x2="{x + 22:.1f}" y2="{y0 + 32}"'
            f' stroke="{EDGE_COLOURS[kind]}" stroke-width="3"/>'
        )
        parts.append(_legend_text(x + 28, y0 + 36, kind))
        x += 100
    note = "width: how many records (paid: EUR amount); ringed: the case's account"
    if left_out:
        note += f"; {left_out} more nodes not drawn"
    parts.append(_legend_text(12.0, y0 + 58, note))
    parts.append("</g>")
    return "".join(parts)


def _legend_text(x: float, y: float, text: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="10" font-family="sans-serif"'
        f' fill="#1b2631">{escape(text)}</text>'
    )
