"""`vangnet plugins` lists every plug-in point with its plug-ins and their load state."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vangnet.cli import app as cli_app


def test_every_plug_in_point_is_listed_with_its_state() -> None:
    result = CliRunner().invoke(cli_app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = {(r["kind"], r["name"]) for r in rows}
    assert {("signal_type", "pdq"), ("index", "pdq"), ("stream_source", "rtmp")} <= names
    assert {
        ("stream_source", "(path)"),
        ("bank_format", "vics2"),
        ("bank_format", "plain"),
    } <= names
    assert {("report_format", "html"), ("report_format", "pdf"), ("report_format", "vics")} <= names
    graph = next(r for r in rows if (r["kind"], r["name"]) == ("context_evaluator", "graph"))
    assert graph["class"] == "vangnet.context.graph_reasons:GraphEvaluator"
    assert graph["version"] == "1" and "hubs" in graph["description"]
    assert all(r["state"] == "loaded" for r in rows if r["kind"] != "failed")
    assert all(r["state"] == "failed" for r in rows if r["kind"] == "failed")

    table = CliRunner().invoke(cli_app, ["plugins"])
    assert table.exit_code == 0 and "vics2" in table.stdout and "loaded" in table.stdout
