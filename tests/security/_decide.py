"""Helpers for the "decide" findings (issue 10, #12-#16): a bank holding a benign photo and
matching uploads through the HTTP API, the outbox and reports as the database holds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.conftest import refresh
from conftest import audited
from vangnet.store.models import Report, WebhookDelivery

PHOTO = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
ENFORCEMENT = {"case.confirmed", "content.remove", "account.suspend"}


def bank_photo(client: TestClient, shared_data: Path, category: str = "vics:1") -> bytes:
    """Bank the photo (category ``category``) in bank KNOWN; returns its bytes."""
    data = (shared_data / PHOTO).read_bytes()
    r = client.post("/v1/banks", json={"name": "KNOWN", "category_profile": "vics"})
    assert r.status_code == 201, r.text
    pdq = client.post("/v1/hash", content=data).json()["pdq"]
    item = {"signal_type": "pdq", "value": pdq, "category": category, "note": "known item"}
    r = client.post("/v1/banks/KNOWN/hashes", json={"items": [item]})
    assert r.status_code == 200, r.text
    refresh(client)
    return data


def upload(client: TestClient, data: bytes, **subject: str) -> int:
    """A platform's upload that matches: filed in a case; returns the case id."""
    r = client.post("/v1/match", params={"platform": "example-platform", **subject}, content=data)
    assert r.status_code == 200, r.text
    case_id: int = r.json()["case_id"]
    return case_id


def outbox(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def events_for_case(engine: Engine, case_id: int) -> set[str]:
    """Webhook events in the outbox that are about ``case_id``."""
    found = set()
    for row in outbox(engine):
        body = json.loads(row.body)
        if body.get("data", {}).get("case", {}).get("id") == case_id:
            found.add(row.event)
    return found


def reports(engine: Engine, case_id: int) -> list[Report]:
    with Session(engine) as session:
        return list(
            session.scalars(select(Report).where(Report.case_id == case_id).order_by(Report.id))
        )


def decide(client: TestClient, case_id: int, decision: str, **extra: Any) -> Any:
    return client.post(f"/v1/cases/{case_id}/decisions", json={"decision": decision, **extra})


def persons_key(db_url: str, role: str, username: str) -> str:
    """A key of ``role`` that belongs to the web user ``username`` (created here): only a
    person's key may decide cases."""
    from vangnet.auth.keys import create_key
    from vangnet.auth.users import create_user
    from vangnet.store.db import make_engine, writer

    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as session:
            create_user(
                session, username=username, password="a long password", role=role, actor="t"
            )
            _view, secret = create_key(session, name=f"{username}-tools", role=role, user=username)
            session.commit()
    finally:
        engine.dispose()
    return secret
