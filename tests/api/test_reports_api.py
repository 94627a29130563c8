"""Reports over the HTTP API (``GET /v1/reports/formats``, ``POST /v1/cases/{id}/reports``,
``GET /v1/reports/{id}``), on SQLite and PostgreSQL: a report is filed as the CLI and the case
page file it (a report row per case, timeline, custody, one audit entry under the key), the
answer is the document with what was recorded in its headers, and every refusal (unknown
format or case, too many cases, clear previews where they do not apply, a role without the
report permission, a malformed body) leaves the reports table and the audit log unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, make_key
from api.test_review_api import _persons_key
from review.factory import PHOTOS, make_case
from vangnet.audit.actions import ROUTES
from vangnet.auth.roles import Permission, Role, has_permission
from vangnet.reports.formats import register_report_format, unregister_report_format
from vangnet.store.models import AuditEntry, CaseEvent, CustodyEvent, Report
from web.test_plugin_reports import ItemCsv, MediaDigest


@pytest.fixture(autouse=True)
def _plugins() -> Iterator[None]:
    register_report_format(ItemCsv)  # test-item-csv: up to 2 cases, no media
    register_report_format(MediaDigest)  # test-media-digest: reads each item
    yield
    unregister_report_format(ItemCsv.name)
    unregister_report_format(MediaDigest.name)


def _written(engine: Engine) -> dict[str, int]:
    """Rows of every table a filing writes to."""
    with Session(engine) as s:
        return {
            m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Report, AuditEntry, CaseEvent, CustodyEvent)
        }


def _audit(engine: Engine, prefix: str) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like(f"{prefix}%"))
                .order_by(AuditEntry.seq)
            )
        )


def _digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def test_formats_are_listed_for_who_may_report(
    make_client: AppFactory, db_url: str, admin_key: str
) -> None:
    client = make_client()
    analyst = {"X-API-Key": make_key(db_url, "analyst")}
    r = client.get("/v1/reports/formats", headers=analyst)
    assert r.status_code == 200, r.text
    by_name = {f["name"]: f for f in r.json()["formats"]}
    assert {"html", "pdf", "vics", "test-item-csv", "test-media-digest"} <= set(by_name)
    assert "ncmec" not in by_name  # a workflow, not a format
    assert by_name["pdf"] == {
        "name": "pdf",
        "description": by_name["pdf"]["description"],
        "media_type": "application/pdf",
        "extension": "pdf",
        "max_cases": 1,
        "reads_media": True,
        "built_in": True,
    }
    assert by_name["vics"]["max_cases"] == 1000 and by_name["vics"]["reads_media"] is False
    assert by_name["test-item-csv"]["built_in"] is False
    assert by_name["test-item-csv"]["max_cases"] == 2
    assert r.json()["failed"] == []
    assert client.get("/v1/reports/formats").status_code == 401
    for role in ("curator", "matcher"):
        refused = client.get("/v1/reports/formats", headers={"X-API-Key": make_key(db_url, role)})
        assert refused.status_code == 403, role
        assert refused.json()["error"]["code"] == "forbidden"


def test_an_html_report_is_filed_recorded_and_answered(
    make_client: AppFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data)
    client = make_client()
    reviewer = {"X-API-Key": make_key(db_url, "reviewer", name="report-bot")}
    r = client.post(f"/v1/cases/{case_id}/reports", json={"format": "html"}, headers=reviewer)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-disposition"] == f'attachment; filename="case-{case_id}-html.html"'
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["repr-digest"] == _digest(r.content)
    assert "<html" in r.text.lower()
    (report_id,) = (int(i) for i in r.headers["x-vangnet-report-ids"].split(","))
    assert r.headers["location"] == f"/v1/reports/{report_id}"

    with Session(db_engine) as s:
        row = s.get_one(Report, report_id)
        assert (row.case_id, row.kind, row.status) == (case_id, "html", "built")
        assert row.actor.startswith("key:") and "report-bot" in row.actor
        assert row.details["sha256"] == hashlib.sha256(r.content).hexdigest()
        assert row.details["include_clear"] is False
        custody = s.scalars(select(CustodyEvent).where(CustodyEvent.actor == row.actor)).all()
        assert [c.action for c in custody] == ["accessed", "exported"]
        assert "blurred preview in case report" in (custody[1].detail or "")
        events = s.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "report")
        ).all()
        assert len(events) == 1 and "blurred previews" in events[0].summary
    (entry,) = _audit(db_engine, "report.")
    assert (entry.action, entry.target, entry.actor) == (
        "report.html",
        f"case:{case_id}",
        row.actor,
    )
    assert entry.details["include_clear"] is False
    assert entry.details["sha256"] == hashlib.sha256(r.content).hexdigest()
    declared = ROUTES[("POST", "/v1/cases/{case_id}/reports")]  # what the route declares
    assert isinstance(declared, str) and entry.action.startswith(declared)

    # the record: what was filed, and its digest; opening it is audited
    shown = client.get(f"/v1/reports/{report_id}", headers=reviewer)
    assert shown.status_code == 200, shown.text
    record = shown.json()
    assert (record["id"], record["case_id"], record["kind"]) == (report_id, case_id, "html")
    assert record["details"]["sha256"] == hashlib.sha256(r.content).hexdigest()
    assert record["body"] is None and record["actor"] == row.actor
    (view,) = _audit(db_engine, "report.view")
    assert view.target == f"report:{report_id}"
    assert client.get("/v1/reports/999999", headers=reviewer).status_code == 404
    curator = {"X-API-Key": make_key(db_url, "curator")}
    assert client.get(f"/v1/reports/{report_id}", headers=curator).status_code == 403
    doc = client.get(f"/v1/cases/{case_id}", headers=reviewer).json()
    assert [(x["id"], x["kind"]) for x in doc["reports"]] == [(report_id, "html")]


def test_a_pdf_with_clear_previews_is_recorded_as_such(
    make_client: AppFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data)
    client = make_client()
    analyst = {"X-API-Key": make_key(db_url, "analyst", name="analyst-bot")}
    r = client.post(
        f"/v1/cases/{case_id}/reports",
        json={"format": "pdf", "include_clear": True},
        headers=analyst,
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    assert r.headers["content-disposition"] == f'attachment; filename="case-{case_id}-pdf.pdf"'
    (entry,) = _audit(db_engine, "report.")
    assert entry.action == "report.pdf" and entry.details["include_clear"] is True
    doc = client.get(f"/v1/cases/{case_id}", headers=analyst).json()
    assert doc["items"][0]["viewed_by"] == [entry.actor]  # a clear preview left: it counts
    exported = [c for c in doc["custody"] if c["action"] == "exported"]
    assert "clear preview in case report" in exported[0]["detail"]


def test_vics_and_plug_ins_take_several_cases(
    make_client: AppFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    first = make_case(db_engine, shared_data)
    second = make_case(db_engine, shared_data, photo=PHOTOS[1], account="someone-else")
    client = make_client()
    person = {"X-API-Key": _persons_key(client, "reviewer")}
    r = client.post(  # a confirmed case carries its VICS category
        f"/v1/cases/{first}/decisions",
        json={"decision": "confirm", "category": "vics:1"},
        headers=person,
    )
    assert r.status_code == 200, r.text

    r = client.post(
        f"/v1/cases/{first}/reports",
        json={"format": "vics", "cases": [second, first], "profile": "UK"},
        headers=person,
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == 'attachment; filename="cases-vics.json"'
    exported = json.loads(r.content)
    assert "/UK/" in exported["@odata.context"] and len(exported["value"]) == 2
    text = json.dumps(exported)  # in the order asked, each case once
    assert text.count(f"Vangnet case {first}:") == text.count(f"Vangnet case {second}:") == 1
    assert text.index(f"Vangnet case {first}:") < text.index(f"Vangnet case {second}:")
    ids = [int(i) for i in r.headers["x-vangnet-report-ids"].split(",")]
    with Session(db_engine) as s:
        rows = [s.get_one(Report, i) for i in ids]
        assert [(x.case_id, x.kind) for x in rows] == [(first, "vics"), (second, "vics")]
    (entry,) = _audit(db_engine, "report.vics")
    assert entry.target == "cases:2" and entry.details["cases"] == [first, second]

    r = client.post(
        f"/v1/cases/{second}/reports",
        json={"format": "test-item-csv", "cases": [first]},
        headers=person,
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.text.splitlines()[0] == "case,item,sha256" and len(r.text.splitlines()) == 3
    (entry,) = _audit(db_engine, "report.format.test-item-csv")
    assert entry.details["cases"] == [second, first] and entry.details["items"] == []


def test_a_plug_in_reads_media_through_the_api(
    make_client: AppFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data)
    client = make_client()
    reviewer = {"X-API-Key": make_key(db_url, "reviewer")}
    path = f"/v1/cases/{case_id}/reports"
    blurred = client.post(path, json={"format": "test-media-digest"}, headers=reviewer)
    clear = client.post(
        path, json={"format": "test-media-digest", "include_clear": True}, headers=reviewer
    )
    assert blurred.status_code == clear.status_code == 201, (blurred.text, clear.text)
    photo = hashlib.sha256((shared_data / PHOTOS[0]).read_bytes()).hexdigest()
    (item,) = clear.json()["items"]
    assert clear.json() == {"clear": True, "items": {item: photo}}
    assert blurred.json()["clear"] is False and blurred.json()["items"][item] != photo
    entries = _audit(db_engine, "report.format.test-media-digest")
    assert [e.details["include_clear"] for e in entries] == [False, True]
    assert all(e.details["items"] == [int(item)] for e in entries)


def test_refusals_record_nothing(
    make_client: AppFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    ids = [
        make_case(db_engine, shared_data, photo=photo, account=f"acct{n}")
        for n, photo in enumerate(PHOTOS)
    ]
    client = make_client()
    reviewer = {"X-API-Key": make_key(db_url, "reviewer")}
    path = f"/v1/cases/{ids[0]}/reports"
    before = _written(db_engine)

    def refused(status: int, body: Any, code: str, says: str, **kw: Any) -> None:
        r = client.post(kw.pop("at", path), json=body, headers=kw.pop("headers", reviewer))
        assert r.status_code == status, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == code, (body, error)
        assert says in error["message"], (body, error)

    refused(404, {"format": "no-such-format"}, "unknown_report_format", "test-item-csv")
    refused(404, {"format": "ncmec"}, "unknown_report_format", "report ncmec")
    refused(404, {"format": "html"}, "not_found", "no case 999999", at="/v1/cases/999999/reports")
    refused(404, {"format": "test-item-csv", "cases": [999999]}, "not_found", "no case 999999")
    refused(400, {"format": "html", "cases": [ids[1]]}, "invalid_value", "at most 1 case, not 2")
    refused(400, {"format": "test-item-csv", "cases": ids[1:]}, "invalid_value", "at most 2 cases")
    refused(400, {"format": "test-item-csv", "include_clear": True}, "invalid_value", "no media")
    refused(400, {"format": "vics", "include_clear": True}, "invalid_value", "no media")
    refused(
        403,
        {"format": "html"},
        "forbidden",
        "curator",
        headers={"X-API-Key": make_key(db_url, "curator")},
    )
    refused(
        403,
        {"format": "html"},
        "forbidden",
        "matcher",
        headers={"X-API-Key": make_key(db_url, "matcher")},
    )
    refused(401, {"format": "html"}, "unauthorized", "API key", headers={})
    for body in (
        {},
        {"format": ""},
        {"format": "x" * 65},
        {"format": "html", "cases": [0]},
        {"format": "html", "cases": [2**31]},
        {"format": "html", "cases": "1"},
        {"format": "html", "cases": list(range(1, 1001))},
        {"format": "vics", "profile": "XX"},
        {"format": "html", "include_clear": "perhaps"},
    ):
        refused(400, body, "invalid_request", "body")
    assert client.post(path, content=b"not json", headers=reviewer).status_code == 400
    assert _written(db_engine) == before
    assert _audit(db_engine, "report.") == []


def test_the_body_cap_and_the_key_rate_apply(
    make_client: AppFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    """As on every ``/v1`` route: a body over VANGNET_HTTP_MAX_JSON_BYTES is refused (413)
    before it is read, and a key over its rate gets 429; neither records anything."""
    case_id = make_case(db_engine, shared_data)
    client = make_client(http_max_json_bytes=1024, key_rate_per_second=0.001, key_rate_burst=1)
    reviewer = {"X-API-Key": make_key(db_url, "reviewer")}
    path = f"/v1/cases/{case_id}/reports"
    before = _written(db_engine)
    big = client.post(path, json={"format": "html", "padding": "x" * 2000}, headers=reviewer)
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
    # the one request of the key's burst (the refused body took none)
    assert client.get("/v1/reports/formats", headers=reviewer).status_code == 200
    limited = client.post(path, json={"format": "html"}, headers=reviewer)
    assert limited.status_code == 429, limited.text
    assert limited.headers["retry-after"]
    assert _written(db_engine) == before


def test_every_role_that_may_report_may_reveal() -> None:
    """Clear previews are for roles that may reveal media (the review permission); today
    every role that may report may reveal, so the route's own check refuses nobody who got
    past the report permission. A role that may report without revealing must be a choice:
    this fails, and the route then refuses it clear previews (403)."""
    for role in Role:
        if has_permission(role, Permission.REPORT):
            assert has_permission(role, Permission.REVIEW), role
