"""Issue 10, findings 12-14 and 16 and point 0: decisions mean what they say.

#12 a "not illegal" category (vics:0) triggers no enforcement and no report, and the case shows
the decided category; every decision can be previewed and undone inside its window before
anything is sent. #13 investigation cases stay out of the review queue. #14 a live case stays
bounded. #16 a CyberTipline report states only what the records show and is filed once.

Every test goes through the HTTP API, the web UI or the CLI, on SQLite and PostgreSQL; all
traffic goes to loopback servers the tests start (the fake NCMEC, a webhook receiver).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.conftest import AppFactory, poll
from cli.test_cli import Run
from reports.fake_ncmec import PASSWORD as NCMEC_PASSWORD
from reports.fake_ncmec import USERNAME as NCMEC_USERNAME
from reports.fake_ncmec import FakeNcmec, run_fake_ncmec
from review.factory import make_case
from vangnet.actions.webhooks import Deliverer
from vangnet.config import Settings, reset_settings
from vangnet.reports.formats import (
    CaseDocument,
    RenderOptions,
    ReportFormat,
    register_report_format,
    unregister_report_format,
)
from vangnet.reports.ncmec import safe_xml_parser
from vangnet.store.models import AuditEntry, Case, EvidenceItem
from web.conftest import WebFactory, csrf_of, login
from webhook_receiver import run_receiver

from ._decide import (
    ENFORCEMENT,
    bank_photo,
    decide,
    events_for_case,
    outbox,
    persons_key,
    reports,
    upload,
)

HOOK_URL = "http://127.0.0.1:9/hooks"  # loopback, nothing listens: rows stay in the outbox


@pytest.fixture
def admin_key(db_url: str) -> str:
    """An admin key that belongs to a person: only a person's key may decide (finding 8)."""
    return persons_key(db_url, "admin", "admin-person")


@pytest.fixture
def api(make_client: AppFactory, admin_key: str) -> TestClient:
    c = make_client(webhook_url=HOOK_URL, webhook_max_attempts=100)
    c.headers["X-API-Key"] = admin_key
    return c


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return Run()


@pytest.fixture
def ncmec(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNcmec]:
    with run_fake_ncmec() as server:
        for name, value in {
            "NCMEC_URL": server.url,
            "NCMEC_USERNAME": NCMEC_USERNAME,
            "NCMEC_PASSWORD": NCMEC_PASSWORD,
            "NCMEC_REPORTER_FIRST_NAME": "Ada",
            "NCMEC_REPORTER_LAST_NAME": "Reviewer",
            "NCMEC_REPORTER_EMAIL": "trust-safety@example.org",
        }.items():
            monkeypatch.setenv(f"VANGNET_{name}", value)
        yield server


def _xml(data: bytes) -> etree._Element:
    return etree.fromstring(data, safe_xml_parser())


# -- #12: a "not illegal" category triggers nothing --------------------------------------------


def test_non_pertinent_confirmation_sends_no_enforcement_and_shows_the_decided_category(
    api: TestClient, db_engine: Engine, shared_data: Path
) -> None:
    data = bank_photo(api, shared_data, "vics:1")
    case_id = upload(api, data, account="u12")
    r = decide(api, case_id, "confirm", category="vics:0")
    assert r.status_code == 200, r.text
    outcome = r.json()
    assert (outcome["status"], outcome["category"]) == ("confirmed", "vics:0")
    assert outcome["verdict"] == "not_illegal" and outcome["report_allowed"] is False
    assert outcome["webhooks"] == []
    assert events_for_case(db_engine, case_id) == set()  # no content.remove, no account.suspend
    (row,) = api.get("/v1/cases", params={"status": "confirmed"}).json()["cases"]
    assert (row["id"], row["category"], row["verdict"]) == (case_id, "vics:0", "not_illegal")
    doc = api.get(f"/v1/cases/{case_id}").json()
    assert (doc["category"], doc["verdict"]) == ("vics:0", "not_illegal")
    assert any("not illegal" in e["summary"] for e in doc["timeline"])

    # the same bank item confirmed as abuse material does trigger enforcement
    other = upload(api, data, account="u12b")
    assert decide(api, other, "confirm", category="vics:1").json()["verdict"] == "illegal"
    assert events_for_case(db_engine, other) == ENFORCEMENT


def test_non_pertinent_case_cannot_be_reported_from_the_cli(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec, tmp_path: Path
) -> None:
    case_id = make_case(db_engine, shared_data, category="vics:1")
    done = run.json(
        "case", "decide", str(case_id), "--confirm", "--category", "vics:0", "--json"
    )  # fmt: skip
    assert (done["verdict"], done["webhooks"]) == ("not_illegal", [])
    out = run("report", "ncmec", str(case_id), "--out", str(tmp_path / "r.xml"), code=5)
    assert "case_not_reportable" in out.output
    out = run("report", "ncmec", str(case_id), "--submit", "--yes", code=5)
    assert "case_not_reportable" in out.output
    assert ncmec.requests == [] and not (tmp_path / "r.xml").exists()
    assert reports(db_engine, case_id) == []
    (listed,) = run.json("case", "list", "--status", "confirmed", "--json")
    assert (listed["category"], listed["verdict"]) == ("vics:0", "not_illegal")


def test_queue_and_case_page_show_the_decided_category(
    web_factory: WebFactory, role_users: dict[str, str], db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data, category="vics:1")
    web = web_factory(webhook_url=HOOK_URL)
    token = login(web, "reviewer")
    r = web.post(
        f"/ui/cases/{case_id}/decide",
        data={"csrf": token, "decision": "confirm", "category": "vics:0"},
    )
    assert r.status_code == 303
    assert events_for_case(db_engine, case_id) == set()
    queue = web.get("/ui/queue", params={"status": "confirmed"}).text
    row = queue[queue.index(f'href="/ui/cases/{case_id}"') :]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[: row.index("</tr>")], re.S)
    categories = cells[3]  # priority, case, status, categories, ...
    assert "vics:0" in categories and "not illegal" in categories and "vics:1" not in categories
    page = web.get(f"/ui/cases/{case_id}").text
    assert 'id="decided-category">vics:0<' in page
    assert "not illegal: no enforcement, no report" in page
    assert 'id="btn-ncmec"' not in page  # no NCMEC report offered


# -- point 0: every decision says what it triggers, and can be undone before anything is sent ---


def test_decision_preview_changes_nothing(
    api: TestClient, db_engine: Engine, shared_data: Path
) -> None:
    case_id = upload(api, bank_photo(api, shared_data), account="u0")
    before = api.get(f"/v1/cases/{case_id}").json()
    preview = api.post(
        f"/v1/cases/{case_id}/decisions/preview", json={"decision": "confirm", "category": "vics:1"}
    )
    assert preview.status_code == 200, preview.text
    effects = preview.json()
    assert effects["dry_run"] is True
    assert (effects["status"], effects["verdict"], effects["report_allowed"]) == (
        "confirmed",
        "illegal",
        True,
    )
    assert set(effects["webhooks"]) == ENFORCEMENT and effects["held_seconds"] == 60
    quiet = api.post(
        f"/v1/cases/{case_id}/decisions/preview", json={"decision": "confirm", "category": "vics:0"}
    ).json()
    assert (quiet["verdict"], quiet["webhooks"], quiet["report_allowed"]) == (
        "not_illegal",
        [],
        False,
    )
    bad = api.post(
        f"/v1/cases/{case_id}/decisions/preview", json={"decision": "confirm", "category": "uk:A"}
    )
    assert bad.status_code == 400
    after = api.get(f"/v1/cases/{case_id}").json()
    assert (after["status"], after["decisions"]) == ("open", [])
    assert [e["kind"] for e in after["timeline"]] == [e["kind"] for e in before["timeline"]]
    assert outbox(db_engine) == []
    with Session(db_engine) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "case.confirm")).all() == []


def test_cli_dry_run_changes_nothing(
    run: Run, db_engine: Engine, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = make_case(db_engine, shared_data)
    monkeypatch.setenv("VANGNET_WEBHOOK_URL", HOOK_URL)
    shown = run(
        "case", "decide", str(case_id), "--confirm", "--category", "vics:1", "--dry-run"
    ).output  # fmt: skip
    effects = run.json(
        "case", "decide", str(case_id), "--confirm", "--category", "vics:1", "--dry-run",
        "--json",
    )  # fmt: skip
    shown = " ".join(shown.split())
    assert "Dry run, nothing changed" in shown and "content.remove" in shown
    assert "NCMEC report allowed" in shown
    assert effects["dry_run"] is True and set(effects["webhooks"]) == ENFORCEMENT
    with Session(db_engine) as s:
        assert s.get_one(Case, case_id).status == "open"
    assert outbox(db_engine) == []


def test_undo_within_the_window_cancels_the_held_webhooks(
    make_client: AppFactory, admin_key: str, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    with run_receiver() as receiver:
        api = make_client(webhook_url=receiver.url)
        api.headers["X-API-Key"] = admin_key
        case_id = upload(api, bank_photo(api, shared_data), account="u-undo")
        done = decide(api, case_id, "confirm", category="vics:1").json()
        assert set(done["webhooks"]) == ENFORCEMENT and done["undo_until"]
        held = [row for row in outbox(db_engine) if row.event in ENFORCEMENT]
        assert len(held) == 3
        assert all(row.next_attempt_at > datetime.now(UTC) for row in held)  # held
        deliverer = Deliverer(db_engine, settings=Settings(database_url=db_url))
        try:
            deliverer.run_once()
        finally:
            deliverer.stop()
        assert [r.path for r in receiver.requests if b'"case"' in r.body] == []  # not sent

        r = api.post(f"/v1/cases/{case_id}/decisions/undo")
        assert r.status_code == 200, r.text
        undone = r.json()
        assert undone["status"] == "open" and set(undone["cancelled_webhooks"]) == ENFORCEMENT
        assert events_for_case(db_engine, case_id) == set()
        doc = api.get(f"/v1/cases/{case_id}").json()
        assert (doc["status"], doc["category"], doc["decided_at"]) == ("open", None, None)
        decided_by = doc["decisions"][-1]["actor"]
        assert doc["decisions"][-1]["details"]["undo"]["undone_by"] == decided_by
        entries = api.get("/v1/audit", params={"action": "case.undo"}).json()["entries"]
        assert [(e["actor"], e["target"]) for e in entries] == [(decided_by, f"case:{case_id}")]
        assert api.post(f"/v1/cases/{case_id}/decisions/undo").status_code == 409  # once
        time.sleep(0.2)
        assert [r for r in receiver.requests if b'"case"' in r.body] == []


def test_undo_is_refused_after_the_window_and_for_someone_else(
    make_client: AppFactory, admin_key: str, db_url: str, db_engine: Engine, shared_data: Path
) -> None:

    with run_receiver() as receiver:
        api = make_client(webhook_url=receiver.url, review_undo_seconds=0.5)
        api.headers["X-API-Key"] = admin_key
        data = bank_photo(api, shared_data)
        case_id = upload(api, data, account="late")
        assert decide(api, case_id, "confirm", category="vics:1").status_code == 200
        other = TestClient(api.app)
        other.headers["X-API-Key"] = persons_key(db_url, "reviewer", "someone-else")
        r = other.post(f"/v1/cases/{case_id}/decisions/undo")
        assert r.status_code == 409 and "can undo their decision" in r.json()["error"]["message"]

        # the window ends; the held webhooks go out, and undo is refused
        def sent() -> set[str]:
            return {json.loads(r.body)["event"] for r in receiver.requests if b'"case"' in r.body}

        assert poll(lambda: sent() == ENFORCEMENT, timeout=10)
        r = api.post(f"/v1/cases/{case_id}/decisions/undo")
        assert r.status_code == 409 and "ended" in r.json()["error"]["message"]
        assert api.get(f"/v1/cases/{case_id}").json()["status"] == "confirmed"


def test_decision_form_lists_what_each_choice_triggers_and_offers_undo(
    web_factory: WebFactory, role_users: dict[str, str], db_engine: Engine, shared_data: Path
) -> None:
    case_id = make_case(db_engine, shared_data, category="vics:1")
    web = web_factory(webhook_url=HOOK_URL)
    token = login(web, "reviewer")
    page = web.get(f"/ui/cases/{case_id}").text
    table = page[
        page.index('id="decision-effects"') : page.index("</table>", page.index("effects"))
    ]
    rows = {
        cat: table[table.index(f'data-category="{cat}"') :].split("</tr>", 1)[0]
        for cat in ("vics:0", "vics:1", "vics:4")
    }
    assert "not illegal" in rows["vics:0"] and "none" in rows["vics:0"]
    assert "content.remove" not in rows["vics:0"] and "<td>no</td>" in rows["vics:0"]
    assert "content.remove, account.suspend" in rows["vics:1"] and "allowed" in rows["vics:1"]
    assert "not illegal" in rows["vics:4"]
    assert "held 60 s" in table
    assert 'id="undo-form"' not in page

    r = web.post(
        f"/ui/cases/{case_id}/decide",
        data={"csrf": token, "decision": "confirm", "category": "vics:1"},
    )
    assert r.status_code == 303 and "undo until" in unquote(r.headers["location"])
    page = web.get(f"/ui/cases/{case_id}").text
    assert 'id="undo-form"' in page and "webhooks not sent yet" in page
    r = web.post(f"/ui/cases/{case_id}/undo", data={"csrf": csrf_of(page)})
    assert r.status_code == 303 and "undone" in unquote(r.headers["location"])
    assert events_for_case(db_engine, case_id) == set()
    with Session(db_engine) as s:
        assert s.get_one(Case, case_id).status == "open"


# -- #13: investigation cases stay out of the review queue -------------------------------------


def test_investigation_case_is_not_a_review_case(
    run: Run,
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    tmp_path: Path,
    make_client: AppFactory,
    admin_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(
        (shared_data / "photos/public-domain/china.jpg").read_bytes()
    )
    run("triage", str(folder), "--case", "DEMO-OP", "--no-ocr", "--workers", "1")  # exit 0
    review_case = make_case(db_engine, shared_data)

    assert [r["id"] for r in run.json("case", "list", "--json")] == [review_case]
    assert [r["id"] for r in run.json("case", "list", "--status", "all", "--json")] == [review_case]
    kinds = {r["kind"] for r in run.json("case", "list", "--investigations", "--json")}
    assert kinds == {"upload", "investigation"}
    shown = run("case", "show", "DEMO-OP").output
    # the item's row (a narrow terminal folds the name over two lines: "holiday" / ".jpg")
    assert "Triage items" in shown and "holiday" in shown and "196653" in shown
    out = run("case", "decide", "DEMO-OP", "--confirm", "--category", "vics:1", code=5).output
    assert "investigation" in out
    assert "investigation" in run("report", "ncmec", "DEMO-OP", code=5).output

    api = make_client()
    api.headers["X-API-Key"] = admin_key
    listed = api.get("/v1/cases", params={"status": "all"}).json()
    assert [c["id"] for c in listed["cases"]] == [review_case]
    assert listed["counts"] == {"open": 1}
    with Session(db_engine) as s:
        op = s.scalars(select(Case).where(Case.kind == "investigation")).one()
    r = api.post(f"/v1/cases/{op.id}/decisions", json={"decision": "escalate"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "investigation_case"


# -- #16: a CyberTipline report states only what the records show, and is filed once ------------


def _file_details(fake: FakeNcmec) -> list[etree._Element]:
    (report,) = fake.reports.values()
    return [_xml(f.details or b"") for f in report.files.values()]


def test_file_viewed_only_when_a_reveal_is_recorded(
    run: Run,
    db_engine: Engine,
    shared_data: Path,
    ncmec: FakeNcmec,
    web_factory: WebFactory,
    role_users: dict[str, str],
) -> None:
    case_id = make_case(db_engine, shared_data)
    run("case", "decide", str(case_id), "--confirm", "--category", "vics:1")  # no reveal
    run("report", "ncmec", str(case_id), "--submit", "--yes")
    (details,) = _file_details(ncmec)
    assert details.findtext("fileViewedByEsp") == "false"

    other = make_case(db_engine, shared_data, account="revealed-user")
    web = web_factory()
    token = login(web, "reviewer")
    with Session(db_engine) as s:
        item_id = s.scalars(select(EvidenceItem.id).where(EvidenceItem.case_id == other)).one()
    r = web.post(f"/ui/items/{item_id}/reveal", headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    run("case", "decide", str(other), "--confirm", "--category", "vics:1")
    ncmec.reports.clear()
    run("report", "ncmec", str(other), "--submit", "--yes")
    (details,) = _file_details(ncmec)
    assert details.findtext("fileViewedByEsp") == "true"
    doc = run.json("case", "show", str(other), "--json")
    assert doc["items"][0]["viewed_by"] == ["reviewer"]


class _ClearDigests(ReportFormat):
    """A plug-in format of several cases that reads every item (clear with include_clear)."""

    name = "test-clear-digests"
    description = "Digests of what was read (test plug-in)"
    media_type = "application/json"
    extension = "json"
    reads_media = True
    max_cases = 5

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        assert options.read_item is not None
        got = {str(i["id"]): len(options.read_item(i["id"])) for c in cases for i in c["items"]}
        return json.dumps(got).encode()


def test_file_viewed_when_a_plug_in_report_showed_it_in_the_clear(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec, tmp_path: Path
) -> None:
    first = make_case(db_engine, shared_data)
    second = make_case(db_engine, shared_data, account="second-user")
    register_report_format(_ClearDigests)
    try:
        run("report", "render", "test-clear-digests", str(first), str(second), "--as", "erin",
            "--include-clear", "--out", str(tmp_path / "d.json"))  # fmt: skip
    finally:
        unregister_report_format(_ClearDigests.name)
    doc = run.json("case", "show", str(second), "--json")
    assert doc["items"][0]["viewed_by"] == ["erin"]  # a multi-case (cases:2) clear read counts
    run("case", "decide", str(second), "--confirm", "--category", "vics:1")
    run("report", "ncmec", str(second), "--submit", "--yes")
    (details,) = _file_details(ncmec)
    assert details.findtext("fileViewedByEsp") == "true"


def test_upload_answer_without_hash_is_accepted_and_recorded(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    case_id = make_case(db_engine, shared_data)
    run("case", "decide", str(case_id), "--confirm", "--category", "vics:1")
    ncmec.omit_hash = True
    result = run.json("report", "ncmec", str(case_id), "--submit", "--yes", "--json")
    assert result["status"] == "submitted"
    (report,) = ncmec.reports.values()
    assert report.state == "finished"
    (row,) = [r for r in reports(db_engine, case_id) if r.kind == "ncmec"]
    (file_id,) = result["file_ids"]
    ours = run.json("case", "show", str(case_id), "--json")["items"][0]["md5"]
    assert row.details["md5_unconfirmed"] == {file_id: ours}


def test_unclear_finish_is_settled_from_ncmecs_answer_and_never_filed_twice(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    case_id = make_case(db_engine, shared_data)
    run("case", "decide", str(case_id), "--confirm", "--category", "vics:1")
    ncmec.lose_finish_answer = True  # NCMEC finishes the report; its answer is lost
    result = run.json("report", "ncmec", str(case_id), "--submit", "--yes", "--json")
    (report,) = ncmec.reports.values()
    assert report.state == "finished"
    assert result["status"] == "submitted" and result["remote_id"] == str(report.report_id)
    assert ncmec.steps[-2:] == ["finish", "retract"]  # the retract was answered 5102
    (row,) = [r for r in reports(db_engine, case_id) if r.kind == "ncmec"]
    assert (row.status, row.remote_id, row.details["finish"]) == (
        "submitted",
        str(report.report_id),
        "already_finished",
    )
    again = run("report", "ncmec", str(case_id), "--submit", "--yes", code=5)
    assert "already submitted" in again.output
    assert len(ncmec.reports) == 1  # one incident, one CyberTip


def test_retract_answered_already_retracted_counts_as_withdrawn(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    case_id = make_case(db_engine, shared_data)
    run("case", "decide", str(case_id), "--confirm", "--category", "vics:1")
    ncmec.fail("upload")
    ncmec.fail("retract", http_status=400, response_code=5101, description="Report retracted")
    run("report", "ncmec", str(case_id), "--submit", "--yes", code=1)
    (row,) = [r for r in reports(db_engine, case_id) if r.kind == "ncmec"]
    assert (row.status, row.details["retracted"]) == ("failed", True)
    # withdrawn at NCMEC: a new submission of the case is safe, and goes through
    result = run.json("report", "ncmec", str(case_id), "--submit", "--yes", "--json")
    assert result["status"] == "submitted"


def test_unsettled_failed_report_blocks_a_second_filing(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    case_id = make_case(db_engine, shared_data)
    run("case", "decide", str(case_id), "--confirm", "--category", "vics:1")
    ncmec.fail("upload")
    ncmec.fail("retract")  # the report stays open at NCMEC
    run("report", "ncmec", str(case_id), "--submit", "--yes", code=1)
    out = run("report", "ncmec", str(case_id), "--submit", "--yes", code=5).output
    assert "was not retracted" in out
    assert len(ncmec.reports) == 1


def _reporter_env(monkeypatch: pytest.MonkeyPatch, first_name: str = "Ada") -> None:
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_FIRST_NAME", first_name)
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_LAST_NAME", "Reviewer")
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_EMAIL", "trust-safety@example.org")


def test_text_is_cut_at_each_fields_documented_length(
    api: TestClient,
    run: Run,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _reporter_env(monkeypatch, "F" * 300)
    data = bank_photo(api, shared_data)
    case_id = upload(api, data, account="a" * 255, platform="p" * 255)
    decide(api, case_id, "confirm", category="vics:1")
    run("report", "ncmec", str(case_id), "--out", str(tmp_path / "r.xml"))
    root = _xml((tmp_path / "r.xml").read_bytes())
    assert len(root.findtext("reporter/reportingPerson/firstName")) == 100
    assert len(root.findtext("personOrUserReported/espService")) == 100
    assert len(root.findtext("incidentSummary/platform")) == 255  # fits its 256
    assert len(root.findtext("personOrUserReported/espIdentifier")) == 255


def test_ip_time_is_when_the_ip_was_recorded(
    api: TestClient,
    run: Run,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _reporter_env(monkeypatch)
    data = bank_photo(api, shared_data)
    case_id = upload(api, data, account="ip-user")  # first match: no IP given
    time.sleep(1.1)  # the report's times have whole seconds
    assert upload(api, data, account="ip-user", ip="192.0.2.7") == case_id
    decide(api, case_id, "confirm", category="vics:1")
    run("report", "ncmec", str(case_id), "--out", str(tmp_path / "r.xml"))
    root = _xml((tmp_path / "r.xml").read_bytes())
    doc = api.get(f"/v1/cases/{case_id}").json()
    first_match = min(m["at"] for m in doc["matches"])
    with_ip = next(i for i in doc["items"] if i["ip"] == "192.0.2.7")
    capture = root.find("personOrUserReported/ipCaptureEvent")
    assert capture.findtext("ipAddress") == "192.0.2.7"
    recorded = capture.findtext("dateTime")
    assert recorded == with_ip["captured_at"][:19] + "Z"
    assert recorded != first_match[:19] + "Z"
    assert root.findtext("incidentSummary/incidentDateTime") == first_match[:19] + "Z"
    assert json.dumps(doc["subject"]).count("ip_at") == 1


# -- #14: a live case stays bounded however long the stream loops ------------------------------

LOOPS, KNOWN_PER_LOOP, PERIOD = 8, 3, 10.0
BOUNDS = {
    "review_live_range_gap_seconds": 4.0,
    "review_live_max_ranges": 3,
    "review_live_frames_per_range": 2,
    "live_evidence_before": 1,
    "live_evidence_after": 1,
    "live_queue_samples": 64,
}


def test_looping_live_alert_keeps_its_case_bounded(
    make_client: AppFactory,
    admin_key: str,
    run: Run,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_client(**BOUNDS)
    api.headers["X-API-Key"] = admin_key
    known = bank_photo(api, shared_data)
    other = (shared_data / "photos/public-domain/skimage_coffee.png").read_bytes()
    r = api.post("/v1/streams", json={"url": None, "external_id": "loop-1", "fps": 1,
                                      "metadata": {"account": "looper"}})  # fmt: skip
    assert r.status_code == 201, r.text
    stream = r.json()["id"]
    pushed = 0
    for loop in range(LOOPS):  # the banked item shows for 3 s of every 10 s, again and again
        base = loop * PERIOD
        frames = [(base + i, known, "image/jpeg") for i in range(KNOWN_PER_LOOP)]
        for t, data, kind in [*frames, (base + 5, other, "image/png")]:
            r = api.post(
                f"/v1/streams/{stream}/frames",
                params={"stream_time": t},
                content=data,
                headers={"Content-Type": kind},
            )
            assert r.status_code == 202, r.text
            pushed += 1

    def processed() -> int:
        return int(api.get(f"/v1/streams/{stream}").json()["live"]["samples"])

    assert poll(lambda: processed() == pushed, timeout=30)
    (alert,) = api.get("/v1/alerts", params={"stream_id": stream}).json()["alerts"]
    matched = LOOPS * KNOWN_PER_LOOP

    def evidence() -> list[dict[str, object]]:
        found: list[dict[str, object]] = api.get(f"/v1/alerts/{alert['id']}").json()["evidence"]
        return found

    assert poll(lambda: sum(1 for e in evidence() if e["matched"]) == matched, timeout=30)
    detail = api.get(f"/v1/alerts/{alert['id']}").json()
    assert detail["frames_matched"] == matched  # every matched frame stays in the alert

    doc = api.get(f"/v1/cases/{alert['case_id']}").json()
    ranges = doc["matches"]
    assert len(ranges) == BOUNDS["review_live_max_ranges"]  # not one row per frame
    assert sum(m["frames"] for m in ranges) == matched
    assert ranges[0]["stream_time"] == 0.0 and ranges[0]["stream_time_end"] == 2.0
    assert ranges[-1]["stream_time_end"] == (LOOPS - 1) * PERIOD + KNOWN_PER_LOOP - 1
    signals = [e for e in doc["timeline"] if e["kind"] in ("alert", "match")]
    assert len(signals) == BOUNDS["review_live_max_ranges"]  # one line per range
    shown = [i for i in doc["items"] if i["matched"]]
    assert len(shown) <= BOUNDS["review_live_max_ranges"] * BOUNDS["review_live_frames_per_range"]
    context = BOUNDS["live_evidence_before"] + BOUNDS["live_evidence_after"]
    assert len(doc["items"]) <= len(shown) + context

    # the same in the reports: the HTML case report and the NCMEC report
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_FIRST_NAME", "Ada")
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_LAST_NAME", "Reviewer")
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_EMAIL", "trust-safety@example.org")
    assert decide(api, alert["case_id"], "confirm", category="vics:1").status_code == 200
    run("report", "html", str(alert["case_id"]), "--out", str(tmp_path / "case.html"))
    html = (tmp_path / "case.html").read_text()
    assert html.count(" frames</span>") == len(ranges)
    run("report", "ncmec", str(alert["case_id"]), "--out", str(tmp_path / "case.xml"))
    info = _xml((tmp_path / "case.xml").read_bytes()).findtext("additionalInfo")
    assert f"Hash matches ({len(ranges)})" in info
    assert info.count("matched frames, all kept in the alert") == len(ranges)
    assert f"Files attached: {len(doc['items'])} preserved item(s)" in info
