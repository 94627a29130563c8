"""`vangnet context assess|accounts|account|graph`: run an assessment of the stored context
records, read the ranked accounts, one account with its reasons, scores over time and
counterparties, and the account graph (components, hubs, viewer clusters; GraphML export).

Exit codes: 0 (also when there are no records or no assessment yet: a message says so),
2 bad options, 4 an unknown account, 6 an unwritable GraphML file or bad rules file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from vangnet.cli.audit_cmd import AsOption, actor_of, write_atomically
from vangnet.cli.context import session
from vangnet.cli.context_cmd import context_app
from vangnet.cli.output import console, print_json, table, user_errors
from vangnet.config import get_settings


def _when(value: str | None) -> datetime | None:
    """An ISO 8601 date (00:00 UTC) or date-time with an offset."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date or time: {value!r}") from None
    if at.tzinfo is None:
        raise typer.BadParameter(f"{value!r} has no UTC offset (add Z or +01:00)")
    return at.astimezone(UTC)


SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Only records from this ISO 8601 date or time (with offset) on."),
]
UntilOption = Annotated[
    str | None,
    typer.Option("--until", help="Only records before this ISO 8601 date or time."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ROLES = ("viewer", "facilitator", "unknown")


def _top_reasons(reasons: list[dict[str, Any]], n: int = 3) -> str:
    return "; ".join(f"{r['indicator']}: {r['summary']}" for r in reasons[:n])


@context_app.command("assess")
def assess_command(
    since: SinceOption = None,
    until: UntilOption = None,
    bucket: int | None = typer.Option(
        None,
        "--bucket",
        min=1,
        max=366,
        help="Days per risk-over-time bucket (default: setting context_assess_bucket_days).",
    ),
    top: int = typer.Option(20, "--top", min=1, max=10000, help="Accounts to print."),
    evaluator: list[str] | None = typer.Option(
        None,
        "--evaluator",
        help="Run only this context evaluator (repeatable; default: every installed one).",
    ),
    as_json: JsonOption = False,
    as_name: AsOption = None,
) -> None:
    """Run every context evaluator over the stored records, store the assessment and print
    the top accounts with their reasons.

    Example: vangnet context assess --since 2026-11-01 --until 2026-12-01
    """
    from vangnet.context.service import run_assessment

    start, end = _when(since), _when(until)
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter("must be before --until", param_hint="--since")
    with user_errors(as_json=as_json):
        actor = actor_of(as_name)
        with session() as s:
            row, result = run_assessment(
                s,
                settings=get_settings(),
                actor=actor,
                since=start,
                until=end,
                bucket_days=bucket,
                only=evaluator or None,
            )
            s.commit()
            assessment_id = row.id
    records = sum(result.counts[k] for k in ("payments", "messages", "sessions"))
    if as_json:
        print_json(
            {
                "assessment": assessment_id,
                **result.figures(),
                "accounts": [r.as_json() for r in result.risks[:top]],
            }
        )
        return
    if records == 0:
        console.print(
            f"assessment {assessment_id}: no payment, message or session records"
            + (" in that window" if since or until else "")
            + ": import some with `vangnet context import`"
        )
    else:
        console.print(
            f"assessment {assessment_id}: {result.counts['payments']} payments, "
            f"{result.counts['messages']} messages, {result.counts['sessions']} sessions; "
            f"{len(result.risks)} accounts with reasons; evaluators: "
            f"{', '.join(result.evaluators) or 'none'}"
        )
    for name, why in result.failures.items():
        console.print(f"[yellow]evaluator {name} failed[/]: {why}", highlight=False)
    if result.risks:
        table(
            "Accounts, highest risk first",
            ["account", "score", "role", "reasons"],
            [
                [
                    r.account,
                    f"{r.score:.3f}",
                    r.role.value,
                    _top_reasons([x.as_json() for x in r.reasons]),
                ]
                for r in result.risks[:top]
            ],
        )


@context_app.command("accounts")
def accounts_command(
    top: int = typer.Option(50, "--top", "-n", min=1, max=100000, help="How many accounts."),
    role: str | None = typer.Option(None, "--role", help="viewer, facilitator or unknown."),
    as_json: JsonOption = False,
    as_name: AsOption = None,
) -> None:
    """The latest assessment's ranking: each account's score, role, indicators and its top
    reasons (one JSON object a line with --json)."""
    from vangnet.context.findings import Role
    from vangnet.context.service import ranking

    if role is not None and role not in ROLES:
        raise typer.BadParameter(f"--role is one of {', '.join(ROLES)}")
    with user_errors(as_json=as_json):
        actor = actor_of(as_name)
        with session() as s:
            row, risks = ranking(
                s, actor=actor, top=top, role=Role(role) if role is not None else None
            )
            header = None if row is None else (row.id, row.created_at)
            s.commit()
    if header is None:
        if not as_json:
            console.print("no assessment yet: run `vangnet context assess`")
        return
    if as_json:
        for r in risks:
            print_json({**r.as_json(rows=False), "assessment": header[0]})
        return
    table(
        f"Assessment {header[0]} ({header[1]:%Y-%m-%d %H:%M} UTC)",
        ["account", "score", "role", "indicators", "top reasons"],
        [
            [
                r.account,
                f"{r.score:.3f}",
                r.role.value,
                ", ".join(r.indicators),
                _top_reasons(r.reasons),
            ]
            for r in risks
        ],
    )


@context_app.command("account")
def account_command(
    ref: str = typer.Argument(..., help="The account's ref."),
    as_json: JsonOption = False,
    as_name: AsOption = None,
) -> None:
    """One account: its reasons with the rows behind them, its score per week and its
    counterparties (counts and euros), from the latest assessment. Exit 4 when unknown."""
    from vangnet.context.service import account_view

    with user_errors(as_json=as_json):
        actor = actor_of(as_name)
        with session() as s:
            view = account_view(s, settings=get_settings(), actor=actor, account=ref)
            s.commit()
            data = view.as_json()
    if as_json:
        print_json(data)
        return
    console.print(
        f"account {ref}: score {data['score']:.3f}, role {data['role']}"
        + ("" if data["assessment"] else " (no assessment yet: run `vangnet context assess`)"),
        highlight=False,
    )
    if data["reasons"]:
        table(
            "Reasons",
            ["indicator", "weight", "summary", "rows"],
            [
                [
                    r["indicator"],
                    f"{r['weight']:.2f}",
                    r["summary"],
                    ", ".join(f"{x['kind']}:{x['ref']}" for x in r["rows"][:10])
                    + (f" (+{len(r['rows']) - 10})" if len(r["rows"]) > 10 else ""),
                ]
                for r in data["reasons"]
            ],
        )
    if data["weekly"]:
        table(
            "Score over time (bucket ends)",
            ["until", "score"],
            [[w["end"], f"{w['score']:.3f}"] for w in data["weekly"]],
        )
    if data["counterparties"]:
        table(
            "Counterparties",
            ["node", "edge", "direction", "count", "EUR", "first", "last"],
            [
                [
                    c["node"],
                    c["edge"],
                    c["direction"],
                    c["count"],
                    "" if c["amount_eur"] is None else f"{c['amount_eur']:.2f}",
                    c["first"],
                    c["last"],
                ]
                for c in data["counterparties"]
            ],
        )


@context_app.command("graph")
def graph_command(
    since: SinceOption = None,
    until: UntilOption = None,
    graphml: Path | None = typer.Option(
        None, "--graphml", help="Also write the whole graph as GraphML (Gephi, Maltego, i2)."
    ),
    as_json: JsonOption = False,
    as_name: AsOption = None,
) -> None:
    """The account graph of the stored records: components, hubs (beneficiaries paid by
    many senders), viewer clusters per country; --graphml FILE exports it."""
    from vangnet.context.graph import (
        components,
        graphml_graph,
        hubs,
        summary,
        viewer_clusters,
    )
    from vangnet.context.graph_rules import GraphRules
    from vangnet.context.service import graph_view

    start, end = _when(since), _when(until)
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter("must be before --until", param_hint="--since")
    with user_errors(as_json=as_json):
        actor = actor_of(as_name)
        rule = GraphRules.from_settings(get_settings()).hub_beneficiary
        with session() as s:
            graph = graph_view(s, settings=get_settings(), actor=actor, since=start, until=end)
            if graphml is not None:
                import networkx as nx

                write_atomically(graphml, lambda out: nx.write_graphml(graphml_graph(graph), out))
            s.commit()
        found_hubs = hubs(graph, min_senders=rule.min_senders, min_countries=rule.min_countries)
        clusters = viewer_clusters(graph, hub_accounts=[h.account for h in found_hubs])
        parts = components(graph)
    if as_json:
        print_json(
            {
                **summary(graph),
                "components": [c.as_json() for c in parts],
                "hubs": [h.as_json() for h in found_hubs],
                "viewer_clusters": [v.as_json() for v in clusters],
                "graphml": str(graphml) if graphml else None,
            }
        )
        return
    if graph.number_of_nodes() == 0:
        console.print("no context records: import some with `vangnet context import`")
        return
    info = summary(graph)
    console.print(
        f"{graph.number_of_nodes()} nodes ({info['nodes']}), {graph.number_of_edges()} edges "
        f"({info['edges']}), {len(parts)} components",
        highlight=False,
    )
    if info["unconverted_currencies"]:
        console.print(
            f"no exchange rate for {', '.join(info['unconverted_currencies'])}: those payments "
            "are counted but not in the euro amounts"
        )
    table(
        "Largest components",
        ["nodes", "accounts"],
        [
            [c.size, ", ".join(c.accounts[:8]) + (" ..." if len(c.accounts) > 8 else "")]
            for c in parts[:10]
        ],
    )
    if found_hubs:
        table(
            "Hubs (beneficiaries paid by many senders)",
            ["account", "country", "senders", "sender countries", "payments", "EUR"],
            [
                [
                    h.account,
                    h.country,
                    len(h.senders),
                    ", ".join(h.countries),
                    h.payments,
                    f"{h.amount_eur:.2f}",
                ]
                for h in found_hubs
            ],
        )
    if clusters:
        table(
            "Viewer clusters (senders per country paying the same hubs)",
            ["country", "hubs", "senders"],
            [[v.country, ", ".join(v.hubs), ", ".join(v.senders)] for v in clusters],
        )
    if graphml is not None:
        console.print(f"GraphML written to {graphml}")
