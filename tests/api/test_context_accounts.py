"""The context assessment over the HTTP API on SQLite and PostgreSQL: ``POST
/v1/context/assess`` stores an audited assessment, ``GET /v1/context/accounts`` ranks,
``GET /v1/context/accounts/{ref}`` answers one account with reasons, rows, weekly scores,
counterparties and its ego graph (audited); refusals (a role without the review permission,
a bad body, an unknown account) record nothing."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from conftest import audited
from context.graphdata import population
from vangnet.context import stored
from vangnet.store.db import make_engine
from vangnet.store.models import AuditEntry, ContextAssessment


def _fill(db_url: str) -> None:
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            pop = population()
            s.add_all(stored.payment_row(p) for p in pop.payments)
            s.add_all(stored.session_row(c) for c in pop.sessions)
            s.add_all(stored.account_row(a) for a in pop.accounts.values())
            s.commit()
    finally:
        engine.dispose()


def _counts(db_url: str) -> tuple[int, int]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return (
                int(s.scalar(select(func.count()).select_from(ContextAssessment)) or 0),
                int(
                    s.scalar(
                        select(func.count())
                        .select_from(AuditEntry)
                        .where(AuditEntry.action.like("context.%"))
                    )
                    or 0
                ),
            )
    finally:
        engine.dispose()


def test_assess_rank_and_read_an_account(make_client: AppFactory, db_url: str) -> None:
    _fill(db_url)
    client = make_client()
    key = make_key(db_url, "reviewer")
    client.headers["X-API-Key"] = key

    empty = client.get("/v1/context/accounts")
    assert empty.status_code == 200
    assert empty.json() == {"assessment": None, "accounts": []}

    # the graph's reasons alone (the payment, session and chat evaluators have tests of their own)
    made = client.post(
        "/v1/context/assess", json={"bucket_days": 7, "top": 1, "evaluators": ["graph"]}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["assessment"]["actor"].startswith("key:")
    assert body["assessment"]["figures"]["records"]["payments"] == 15
    assert body["assessment"]["figures"]["failures"] == {}
    assert [a["account"] for a in body["accounts"]] == ["fac"]  # the top 1

    ranked = client.get("/v1/context/accounts", params={"role": "facilitator", "top": 5}).json()
    assert ranked["assessment"]["id"] == body["assessment"]["id"]
    assert {a["role"] for a in ranked["accounts"]} == {"facilitator"}
    assert ranked["accounts"][0]["account"] == "fac"
    assert all(r["rows"] == [] for r in ranked["accounts"][0]["reasons"])

    fac = client.get("/v1/context/accounts/fac")
    assert fac.status_code == 200
    data = fac.json()
    [hub] = [r for r in data["reasons"] if r["indicator"] == "hub_beneficiary"]
    assert {"kind": "payments", "ref": "P1"} in hub["rows"]
    assert data["weekly"][-1]["score"] == data["score"]
    ids = {n["id"] for n in data["graph"]["nodes"]}
    assert {"account:fac", "account:v1", "stream:7", "handle:fac_live"} <= ids
    paid = [e for e in data["graph"]["edges"] if e["kind"] == "paid"]
    into_fac = {e["source"] for e in paid if e["target"] == "account:fac"}
    assert into_fac == {f"account:v{i}" for i in range(1, 7)}
    assert "account:fac2" in ids  # two hops: fac <- v1 -> fac2
    assert any(c["node"] == "account:v2" and c["count"] == 2 for c in data["counterparties"])
    assert _counts(db_url) == (1, 3)  # assess, one list (none before it), one account view

    # the network picture is bounded by the setting
    small = make_client(context_graph_ego_nodes=3)
    small.headers["X-API-Key"] = key
    assert len(small.get("/v1/context/accounts/fac").json()["graph"]["nodes"]) == 3


def test_refusals_record_nothing(make_client: AppFactory, db_url: str) -> None:
    _fill(db_url)
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "matcher")
    assert client.post("/v1/context/assess", json={}).status_code == 403
    assert client.get("/v1/context/accounts").status_code == 403
    assert client.get("/v1/context/accounts/fac").status_code == 403
    client.headers["X-API-Key"] = make_key(db_url, "reviewer")
    bad = client.post("/v1/context/assess", json={"since": "2026-11-01T00:00:00"})  # no offset
    assert bad.status_code == 400
    assert client.post("/v1/context/assess", json={"bucket_days": 0}).status_code == 400
    swapped = {"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}
    backwards = client.post("/v1/context/assess", json=swapped)  # would rank nothing
    assert backwards.status_code == 400 and "before until" in backwards.text
    assert client.get("/v1/context/accounts", params={"role": "boss"}).status_code == 400
    nope = client.post("/v1/context/assess", json={"evaluators": ["nope"]})
    assert nope.status_code == 404 and "no context evaluator nope" in nope.text
    missing = client.get("/v1/context/accounts/nobody")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert _counts(db_url) == (0, 0)


def test_an_account_whose_ref_holds_a_slash_can_be_read(
    make_client: AppFactory, db_url: str
) -> None:
    # ISO 20022 and MT103 name a party without an account id by its name: "A/B Trading"
    from datetime import UTC, datetime
    from decimal import Decimal

    from vangnet.sources.records.model import Payment

    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as s:
            at = datetime(2026, 11, 3, 22, 0, tzinfo=UTC)
            pay = Payment(
                ref="S1",
                at=at,
                sender="A/B Trading",
                beneficiary="b",
                amount=Decimal(5),
                currency="EUR",
            )
            s.add(stored.payment_row(pay))
            s.commit()
    finally:
        engine.dispose()
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "reviewer")
    found = client.get("/v1/context/accounts/A%2FB%20Trading")
    assert found.status_code == 200, found.text
    assert found.json()["account"] == "A/B Trading"
    assert client.get("/v1/context/accounts/A%2FC").json()["error"]["code"] == "not_found"
