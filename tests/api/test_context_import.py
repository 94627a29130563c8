"""``POST /v1/context/{kind}/import`` and ``GET /v1/context/imports`` on SQLite and
PostgreSQL: a raw body or a multipart file imported with its summary, idempotent, 422 with
the bad rows and nothing stored, 400 for an unknown kind, format or zone, 403 for a key
without the review permission, 413 past the upload limit; the audit entry names the key."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from context import samples
from vangnet.store.models import AuditEntry, ContextImport, ContextMessage, ContextPayment


def count(client: object, model: type) -> int:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_raw_and_multipart_imports_are_idempotent(make_client: AppFactory, db_url: str) -> None:
    client = make_client()
    client.headers["X-API-Key"] = make_key(db_url, "analyst", "fiu-analyst")
    r = client.post("/v1/context/payments/import?filename=march.csv", content=samples.PAYMENTS_CSV)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["format"], first["rows"], first["added"], first["duplicates"]) == ("csv", 3, 3, 0)
    assert first["filename"] == "march.csv"
    files = {"file": ("again.csv", samples.PAYMENTS_CSV, "text/csv")}
    again = client.post("/v1/context/payments/import?format=csv", files=files).json()
    assert (again["added"], again["duplicates"], again["filename"]) == (0, 3, "again.csv")
    listed = client.get("/v1/context/imports").json()
    assert [i["import_id"] for i in listed] == [again["import_id"], first["import_id"]]
    assert count(client, ContextPayment) == 3
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        actors = list(
            s.scalars(select(AuditEntry.actor).where(AuditEntry.action == "context.import"))
        )
    assert len(actors) == 2 and all("fiu-analyst" in a for a in actors)


SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_chat_export_with_zone(make_client: AppFactory, admin_key: str) -> None:
    client = make_client()
    client.headers["X-API-Key"] = admin_key
    url = "/v1/context/messages/import?format=whatsapp&timezone=Asia/Manila&conversation=c-1"
    r = client.post(url, content=samples.WHATSAPP_ANDROID)
    assert r.status_code == 200, r.text
    assert (r.json()["added"], r.json()["skipped"]) == (3, 1)
    assert count(client, ContextMessage) == 3


def test_bad_rows_answer_422_and_store_nothing(make_client: AppFactory, admin_key: str) -> None:
    client = make_client()
    client.headers["X-API-Key"] = admin_key
    audited = count(client, AuditEntry)  # the app's start records its settings
    bad = samples.PAYMENTS_JSONL + b'{"ref": "j-3", "at": "2026-11-04", "sender": "a"}\n'
    r = client.post("/v1/context/payments/import", content=bad)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_records" and error["bad_rows"] == 1
    assert error["rows"] == [
        {"line": 4, "reason": "missing required fields: beneficiary, amount, currency"}
    ]
    assert count(client, ContextPayment) == 0 and count(client, ContextImport) == 0
    assert count(client, AuditEntry) == audited


@SQLITE_ONLY
def test_refusals(make_client: AppFactory, db_url: str, admin_key: str) -> None:
    client = make_client(max_upload_bytes=4096)
    client.headers["X-API-Key"] = admin_key
    assert client.post("/v1/context/transfers/import", content=b"x").json()["error"]["code"] == (
        "unknown_record_kind"
    )
    r = client.post("/v1/context/payments/import?format=xlsx", content=samples.PAYMENTS_CSV)
    assert r.status_code == 400 and "known: auto, pacs008" in r.json()["error"]["message"]
    r = client.post("/v1/context/messages/import?timezone=Nowhere/City", content=b"x")
    assert r.status_code == 400 and "unknown time zone" in r.json()["error"]["message"]
    assert client.post("/v1/context/payments/import", content=b"").status_code == 422
    big = samples.payments_csv(200)
    assert client.post("/v1/context/payments/import", content=big).status_code == 413
    client.headers["X-API-Key"] = make_key(db_url, "matcher")
    assert (
        client.post("/v1/context/payments/import", content=samples.PAYMENTS_CSV).status_code == 403
    )
    assert client.get("/v1/context/imports").status_code == 403
    del client.headers["X-API-Key"]
    assert (
        client.post("/v1/context/payments/import", content=samples.PAYMENTS_CSV).status_code == 401
    )
    assert count(client, ContextImport) == 0
