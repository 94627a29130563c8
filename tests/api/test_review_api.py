"""Uploads that match are filed in review cases; machines read the queue, decide and verify
the audit chain with API keys (roles enforced); every decision is audited under the key."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.conftest import BRIDGE, AppFactory, make_key, refresh

PHOTO = BRIDGE / "aaa-orig.jpg"
OTHER = Path("photos/public-domain/skimage_coffee.png")


def _bank_photo(client: TestClient, data: bytes) -> None:
    assert (
        client.post("/v1/banks", json={"name": "KNOWN", "category_profile": "vics"}).status_code
        == 201
    )
    pdq = client.post("/v1/hash", content=data).json()["pdq"]
    r = client.post(
        "/v1/banks/KNOWN/hashes",
        json={"items": [{"signal_type": "pdq", "value": pdq, "category": "vics:1", "note": "n1"}]},
    )
    assert r.status_code == 200, r.text
    refresh(client)


def _persons_key(client: TestClient, role: str) -> str:
    """A key of ``role`` belonging to a person (a web user of that role)."""
    from vangnet.auth.keys import create_key
    from vangnet.auth.users import create_user
    from vangnet.store.db import writer

    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with Session(writer(engine)) as session:
        create_user(
            session, username=f"{role}-person", password="a long password", role=role, actor="t"
        )
        _view, secret = create_key(session, name=f"{role}-tools", role=role, user=f"{role}-person")
        session.commit()
    return secret


def test_matching_upload_is_filed_in_a_case(client: TestClient, shared_data: Path) -> None:
    data = (shared_data / PHOTO).read_bytes()
    _bank_photo(client, data)
    r = client.post("/v1/match?account=u1&platform=p&content_id=c9", content=data)
    assert r.status_code == 200, r.text
    case_id = r.json()["case_id"]
    again = client.post("/v1/match?account=u1&platform=p", content=data).json()
    assert again["case_id"] == case_id  # one account, one case
    assert "case_id" not in client.post("/v1/match?record=false", content=data).json()
    miss = client.post("/v1/match", content=(shared_data / OTHER).read_bytes()).json()
    assert miss["matches"] == [] and "case_id" not in miss

    queue = client.get("/v1/cases").json()
    assert [c["id"] for c in queue["cases"]] == [case_id]
    assert queue["cases"][0]["priority"]["reasons"]
    doc = client.get(f"/v1/cases/{case_id}").json()
    assert doc["subject"] == {"account": "u1", "platform": "p", "content_id": "c9"}
    assert len(doc["items"]) == 2 and doc["items"][0]["media_type"] == "image/jpeg"
    assert doc["matches"][0]["banked"]["note"] == "n1"

    person = {"X-API-Key": _persons_key(client, "reviewer")}  # deciding keys are a person's
    r = client.post(f"/v1/cases/{case_id}/decisions", json={"decision": "confirm"}, headers=person)
    assert r.status_code == 400 and "category" in r.json()["error"]["message"]
    r = client.post(
        f"/v1/cases/{case_id}/decisions",
        json={"decision": "confirm", "category": "vics:1"},
        headers=person,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    r = client.post(
        f"/v1/cases/{case_id}/decisions",
        json={"decision": "confirm", "category": "vics:1"},
        headers=person,
    )
    assert r.status_code == 409
    assert client.get("/v1/audit/verify").json()["ok"] is True
    actions = [e["action"] for e in client.get("/v1/audit?action=case.").json()["entries"]]
    assert actions[0] == "case.confirm" and "case.view" in actions
    who = client.get("/v1/audit?action=case.confirm").json()["entries"][0]["actor"]
    assert who.startswith("key:")


def test_review_routes_need_their_roles(
    make_client: AppFactory, db_url: str, shared_data: Path
) -> None:
    client = make_client()
    matcher = {"X-API-Key": make_key(db_url, "matcher")}
    reviewer = {"X-API-Key": _persons_key(client, "reviewer")}
    analyst = {"X-API-Key": make_key(db_url, "analyst")}
    assert client.get("/v1/cases").status_code == 401
    assert client.get("/v1/cases", headers=matcher).status_code == 403
    assert client.get("/v1/cases", headers=analyst).status_code == 200
    decision = {"decision": "escalate"}
    assert client.post("/v1/cases/1/decisions", json=decision, headers=analyst).status_code == 403
    assert client.post("/v1/cases/1/decisions", json=decision, headers=reviewer).status_code == 404
    assert client.get("/v1/audit/verify", headers=reviewer).status_code == 403
    bad = client.post("/v1/cases/1/decisions", json={"decision": "delete"}, headers=reviewer)
    assert bad.status_code == 400
