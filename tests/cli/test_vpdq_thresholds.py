"""`vangnet bank create/update` set the rules of ``vpdq`` and ``vpdq_cropped`` alike (the
two are matched against each other, so one bank's videos follow one set of rules)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from vangnet.cli import app
from vangnet.config import reset_settings


def _json(*args: str) -> Any:
    reset_settings()
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def test_video_rules_apply_to_both_video_signals(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    created = _json("bank", "create", "VIDS", "--json")
    assert created["thresholds"]["vpdq_cropped"] == created["thresholds"]["vpdq"]
    updated = _json(
        "bank",
        "update",
        "VIDS",
        "--pdq-threshold",
        "20",
        "--quality-floor",
        "40",
        "--vpdq-query-pct",
        "60",
        "--vpdq-index-pct",
        "10",
        "--json",
    )
    rules = updated["thresholds"]
    assert rules["vpdq"] == rules["vpdq_cropped"]
    assert rules["vpdq_cropped"] == {
        "threshold": 20,
        "quality_floor": 40,
        "query_match_pct": 60.0,
        "index_match_pct": 10.0,
    }
