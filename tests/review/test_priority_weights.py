"""The queue priority's weights are settings (``review_priority_*``): the defaults give the
points the code used to hard-wire, and other values change the order through the CLI too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cli.test_cli import Run
from conftest import audited
from review.factory import PHOTOS, make_case
from vangnet.config import Settings, reset_settings
from vangnet.review.priority import BankFacts, MatchFacts, PriorityWeights, priority
from vangnet.store.db import make_engine

FACTS = {
    "matches": [MatchFacts("B", "pdq", 0, "vics:1"), MatchFacts("B", "md5", 0, "vics:2")],
    "banks": {"B": BankFacts(False, {"pdq": {"threshold": 31}})},
    "live": True,
    "viewers": 9,
    "scores": {"nudity": 0.5},
    "escalated": True,
}


def test_the_default_weights_are_the_old_constants() -> None:
    result = priority(**FACTS, weights=PriorityWeights.from_settings(Settings()))  # type: ignore[arg-type]
    assert result.reasons == [
        "category vics:1 from bank B (+40)",
        "live stream still running (+30)",
        "exact md5 match (+15)",
        "2 matches (+4)",
        "9 viewers (+5)",
        "nudity 0.50: priority 0.50 (+10)",
        "escalated (+10)",
    ]
    assert result.score == 114


def test_every_weight_is_a_setting() -> None:
    settings = Settings(
        review_priority_severity={"vics:1": 7},
        review_priority_uncategorised=1,
        review_priority_live=0,
        review_priority_confidence=2,
        review_priority_distance=3,
        review_priority_per_match=6,
        review_priority_matches_max=5,
        review_priority_viewers=10,
        review_priority_viewers_max=8,
        review_priority_classifier=100,
        review_priority_escalated=9,
    )
    result = priority(**FACTS, weights=PriorityWeights.from_settings(settings))  # type: ignore[arg-type]
    assert result.reasons == [
        "category vics:1 from bank B (+7)",
        "pdq distance 0 of threshold 31 (+3)",  # more than an exact match's 2 now
        "2 matches (+5)",
        "9 viewers (+8)",
        "nudity 0.50: priority 0.50 (+50)",
        "escalated (+9)",
    ]
    assert result.score == 82


def test_the_cli_queue_order_follows_the_weights(
    db_url: str, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    engine: Engine = audited(make_engine(db_url))
    try:
        low = make_case(engine, shared_data, photo=PHOTOS[0], account="u1", category="vics:4")
        high = make_case(engine, shared_data, photo=PHOTOS[1], account="u2", category="vics:1")
    finally:
        engine.dispose()
    run = Run()
    assert [r["id"] for r in run.json("case", "list", "--json")] == [high, low]
    monkeypatch.setenv("VANGNET_REVIEW_PRIORITY_SEVERITY", json.dumps({"vics:4": 90}))
    rows = run.json("case", "list", "--json")
    assert [r["id"] for r in rows] == [low, high]
    assert rows[0]["priority"]["reasons"][0] == "category vics:4 from bank DEMO (+90)"
