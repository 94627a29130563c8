"""`vangnet context assess|accounts|account|graph` as a user runs them: on an empty store
(exit 0, a clear message), on stored records (a stored, audited assessment; the ranking; one
account with its reasons, weekly scores and counterparties; the graph with hubs, clusters and
a GraphML file), an unknown account (exit 4) and bad options (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli_invoke import invoke, json_lines
from conftest import audited
from context.graphdata import population
from vangnet.context import stored
from vangnet.store.db import make_engine
from vangnet.store.models import AuditEntry, ContextAssessment, ContextRisk


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    return db_url


def _fill(db_url: str) -> None:
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            pop = population()
            s.add_all(stored.payment_row(p) for p in pop.payments)
            s.add_all(stored.message_row(m) for m in pop.messages)
            s.add_all(stored.session_row(c) for c in pop.sessions)
            s.add_all(stored.account_row(a) for a in pop.accounts.values())
            s.commit()
    finally:
        engine.dispose()


def _count(db_url: str, what: type, action: str | None = None) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            query = select(func.count()).select_from(what)
            if action is not None:
                query = query.where(AuditEntry.action == action)
            return int(s.scalar(query) or 0)
    finally:
        engine.dispose()


def test_an_empty_store_says_so(store: str) -> None:
    assert "no assessment yet" in invoke("context", "accounts").stdout
    assert "no context records" in invoke("context", "graph").stdout
    out = invoke("context", "assess").stdout
    assert "no payment, message or session records" in out
    assert _count(store, ContextAssessment) == 1
    assert json_lines("context", "accounts", "--json") == []
    invoke("context", "account", "nobody", code=4)


def test_assess_rank_and_read_an_account(store: str, tmp_path: Path) -> None:
    _fill(store)
    # the graph's reasons alone (the payment, session and chat evaluators have tests of their own)
    out = invoke("context", "assess", "--as", "analyst-1", "--evaluator", "graph").stdout
    assert "15 payments" in out and "fac" in out and "hub_beneficiary" in out
    assert _count(store, ContextAssessment) == 1 and _count(store, ContextRisk) >= 1
    assert _count(store, AuditEntry, "context.assess") == 1

    [result] = json_lines(
        "context", "assess", "--json", "--top", "1", "--bucket", "10", "--evaluator", "graph"
    )
    assert result["assessment"] == 2 and result["bucket_days"] == 10
    assert [a["account"] for a in result["accounts"]] == ["fac"]
    assert "graph" in result["evaluators"] and result["failures"] == {}

    ranked = json_lines("context", "accounts", "--json")
    assert ranked[0]["account"] == "fac" and ranked[0]["role"] == "facilitator"
    assert "hub_beneficiary" in ranked[0]["indicators"]
    assert ranked[0]["reasons"][0]["summary"] and ranked[0]["reasons"][0]["rows"] == []
    assert [
        r["account"] for r in json_lines("context", "accounts", "--json", "--role", "viewer")
    ] == []
    assert len(json_lines("context", "accounts", "--json", "--top", "1")) == 1
    assert "fac" in invoke("context", "accounts").stdout
    assert _count(store, AuditEntry, "context.accounts.list") == 4

    [fac] = json_lines("context", "account", "fac", "--json")
    [hub] = [r for r in fac["reasons"] if r["indicator"] == "hub_beneficiary"]
    assert len(hub["rows"]) == 9 and hub["rows"][0]["kind"] == "payments"
    assert fac["weekly"][-1]["score"] == fac["score"]
    assert len(fac["weekly"]) == 4  # 10-day buckets over Nov 2 .. Dec 6
    v2 = next(c for c in fac["counterparties"] if c["node"] == "account:v2")
    assert (v2["edge"], v2["direction"], v2["count"], v2["amount_eur"]) == ("paid", "in", 2, 40.0)
    assert {n["id"] for n in fac["graph"]["nodes"]} >= {"account:fac", "account:v1", "stream:7"}
    node = next(n for n in fac["graph"]["nodes"] if n["id"] == "account:fac")
    assert node["role"] == "facilitator" and node["score"] == fac["score"]
    text = invoke("context", "account", "fac").stdout
    assert "Reasons" in text and "Counterparties" in text and "hub_beneficiary" in text
    # an account with records but no reason: score 0, its counterparties
    [mum] = json_lines("context", "account", "mum", "--json")
    assert mum["score"] == 0.0 and mum["reasons"] == []
    assert {c["node"] for c in mum["counterparties"]} == {"account:son", "account:daughter"}
    invoke("context", "account", "nobody", code=4)
    assert _count(store, AuditEntry, "context.account.view") == 3


def test_graph_summary_and_graphml(store: str, tmp_path: Path) -> None:
    _fill(store)
    [info] = json_lines("context", "graph", "--json")
    assert [h["account"] for h in info["hubs"]] == ["fac"]
    assert info["hubs"][0]["countries"] == ["AU", "NL", "US"]
    assert {tuple(v["hubs"]) for v in info["viewer_clusters"]} == {("fac",)}
    assert info["components"][0]["size"] > info["components"][-1]["size"]
    assert info["unconverted_currencies"] == ["XTS"]
    path = tmp_path / "net.graphml"
    out = invoke("context", "graph", "--graphml", str(path)).stdout
    assert "Hubs" in out and "GraphML written" in out and "XTS" in out
    g = nx.read_graphml(path, force_multigraph=True)
    assert g.nodes["account:fac"]["kind"] == "account"
    assert g.number_of_nodes() == sum(info["nodes"].values())
    # a window with no records
    [later] = json_lines("context", "graph", "--json", "--since", "2027-01-01")
    assert later["hubs"] == [] and later["viewer_clusters"] == []
    assert set(later["edges"]) == {"uses_device", "has_handle"}  # account records only
    # an unwritable GraphML file: exit 6, no file
    bad = tmp_path / "absent-dir" / "g.graphml"
    invoke("context", "graph", "--graphml", str(bad), code=6)
    assert not bad.exists()
    assert json.loads(json.dumps(info))  # plain JSON


def test_bad_options(store: str) -> None:
    invoke("context", "assess", "--since", "yesterday", code=2)
    invoke("context", "assess", "--since", "2026-11-01T10:00:00", code=2)  # no offset
    invoke("context", "assess", "--bucket", "0", code=2)
    invoke("context", "assess", "--since", "2026-12-01", "--until", "2026-11-01", code=2)
    invoke("context", "assess", "--evaluator", "nope", code=4)  # no such evaluator
    invoke("context", "accounts", "--role", "boss", code=2)
    assert _count(store, ContextAssessment) == 0


def test_a_bad_rules_file_is_reported(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(store)
    rules = tmp_path / "rules.toml"
    rules.write_text("[hub_beneficiary]\nmin_senders = 0\n")
    monkeypatch.setenv("VANGNET_CONTEXT_GRAPH_RULES", str(rules))
    [result] = json_lines("context", "assess", "--json")
    assert "graph" not in result["evaluators"]
    assert "[hub_beneficiary] missing keys base" in result["failures"]["graph"]
    assert "evaluator graph failed" in invoke("context", "assess").stdout
    out = invoke("context", "graph", code=6)
    assert "missing keys base" in out.output
