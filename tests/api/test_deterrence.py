"""``POST /v1/deterrence/check`` and ``GET /v1/deterrence/stats`` on SQLite and PostgreSQL,
as a platform's search box calls them: an obfuscated query matching the (placeholder) test
list is answered with the warning and help route in the searcher's language and no echo of
the query; the query appears in no log record and no table, only the day's counts change;
bad input is refused (400) and counts nothing; no list configured answers enabled=false; a
key without the match permission is refused (403); an unreadable term list is a 503."""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from vangnet.store.db import make_engine

TEST_TERMS = str(files("vangnet.context.deterrence") / "data/test-terms.txt")
MARKER = "qzxv"  # a word of the query that must be found nowhere afterwards


def _everything(engine: Engine) -> str:
    """Every row of every table, as text."""
    metadata = MetaData()
    metadata.reflect(engine)
    with Session(engine) as s:
        return "\n".join(
            repr(row) for table in metadata.sorted_tables for row in s.execute(select(table))
        )


def _stats(client: Any) -> dict[str, Any]:
    r = client.get("/v1/deterrence/stats")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def test_a_check_warns_and_keeps_nothing_of_the_query(
    make_client: AppFactory,
    admin_key: str,
    db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(deterrence_term_files=[TEST_TERMS])
    client.headers["X-API-Key"] = admin_key
    caplog.set_level(logging.DEBUG)
    query = f"{MARKER} v4ngn\u0435t t e s t term"
    r = client.post("/v1/deterrence/check", json={"query": query, "language": "nl"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer == {
        "enabled": True,
        "warn": True,
        "message": answer["message"],
        "help": {"name": "Stop it Now! Nederland", "url": "https://stopitnow.nl", "phone": None},
        "list": "vangnet-test",
    }
    assert answer["message"].startswith("Zoeken naar") and MARKER not in r.text
    quiet = client.post("/v1/deterrence/check", json={"query": f"{MARKER} bread recipe"})
    assert quiet.status_code == 200 and quiet.json()["warn"] is False
    assert quiet.json()["help"] is None and MARKER not in quiet.text
    for record in caplog.records:
        assert MARKER not in record.getMessage() and MARKER not in repr(record.args)
    engine = make_engine(db_url)
    try:
        stored = _everything(engine)
    finally:
        engine.dispose()
    assert MARKER not in stored and "v4ngn" not in stored and "bread" not in stored
    stats = _stats(client)
    assert (stats["checks"], stats["warnings"]) == (2, 1)
    rows = {(d["list"], d["language"]): (d["checks"], d["warnings"]) for d in stats["days"]}
    assert rows == {("vangnet-test", "nl"): (1, 1), (None, "none"): (1, 0)}


BAD: list[tuple[Any, str]] = [
    ({"query": ""}, "empty"),
    ({"query": "x" * 33}, "longer than 32"),
    ({"query": "vangnet test term", "language": "dutch!"}, "ISO 639"),
    ({"query": "vangnet test term", "user": "u1"}, "invalid_request"),
    ({"language": "nl"}, "query"),
    ("not json", "invalid_request"),
    (["vangnet test term"], "invalid_request"),
]


def test_bad_input_is_refused_and_counts_nothing(make_client: AppFactory, admin_key: str) -> None:
    client = make_client(deterrence_term_files=[TEST_TERMS], deterrence_max_query_chars=32)
    client.headers["X-API-Key"] = admin_key
    for body, why in BAD:
        if isinstance(body, str):
            r = client.post(
                "/v1/deterrence/check", content=body, headers={"Content-Type": "application/json"}
            )
        else:
            r = client.post("/v1/deterrence/check", json=body)
        assert r.status_code == 400, (body, r.text)
        assert why in r.text, (body, r.text)
    assert _stats(client)["checks"] == 0


def test_without_a_list_permissions_and_an_unreadable_list(
    make_client: AppFactory, admin_key: str, db_url: str, tmp_path: Path
) -> None:
    client = make_client()  # no term list configured
    r = client.post(
        "/v1/deterrence/check",
        json={"query": "vangnet test term"},
        headers={"X-API-Key": admin_key},
    )
    assert r.status_code == 200
    assert r.json() == {
        "enabled": False,
        "warn": False,
        "message": None,
        "help": None,
        "list": None,
    }
    reviewer = make_key(db_url, "reviewer")
    r = client.post(
        "/v1/deterrence/check", json={"query": "x y z"}, headers={"X-API-Key": reviewer}
    )
    assert r.status_code == 403
    assert client.post("/v1/deterrence/check", json={"query": "x y z"}).status_code == 401
    matcher = make_key(db_url, "matcher")
    r = client.post("/v1/deterrence/check", json={"query": "x"}, headers={"X-API-Key": matcher})
    assert r.status_code == 200 and r.json()["enabled"] is False
    stats = client.get("/v1/deterrence/stats", headers={"X-API-Key": matcher})
    assert stats.status_code == 200 and stats.json()["days"] == []  # nothing counted
    broken = make_client(deterrence_term_files=[str(tmp_path / "missing.txt")])
    r = broken.post(
        "/v1/deterrence/check", json={"query": "x y z"}, headers={"X-API-Key": admin_key}
    )
    assert r.status_code == 503 and "deterrence is not available" in r.text
