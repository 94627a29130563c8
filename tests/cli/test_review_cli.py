"""`vangnet user|case|report|audit` on SQLite and PostgreSQL: users, the queue and decisions
(with webhooks, the two-person rule and add-to-bank), reports (NCMEC against the local fake
CyberTipline, VICS re-imported, HTML, PDF), the audit chain, tampering and its export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from cli.test_cli import Run
from conftest import audited
from reports.fake_ncmec import PASSWORD, USERNAME, FakeNcmec, run_fake_ncmec
from review.factory import PHOTOS, make_case
from vangnet.audit.chain import GENESIS, cli_actor, entry_hash
from vangnet.banks.contents import get_content
from vangnet.banks.records import export_records
from vangnet.config import reset_settings
from vangnet.reports.ncmec import validate
from vangnet.store.db import make_engine
from vangnet.store.models import Case, Report, WebhookDelivery

GOOD_PASSWORD = "a long enough passphrase"


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return db_url


@pytest.fixture
def run() -> Run:
    return Run()  # resets the settings before each command


@pytest.fixture
def engine(cli_db: str) -> Iterator[Engine]:
    engine = audited(make_engine(cli_db))
    yield engine
    engine.dispose()


@pytest.fixture
def reporter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_FIRST_NAME", "Ada")
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_LAST_NAME", "Reviewer")
    monkeypatch.setenv("VANGNET_NCMEC_REPORTER_EMAIL", "trust-safety@example.org")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, reporter_env: None) -> Iterator[FakeNcmec]:
    with run_fake_ncmec() as server:
        monkeypatch.setenv("VANGNET_NCMEC_URL", server.url)
        monkeypatch.setenv("VANGNET_NCMEC_USERNAME", USERNAME)
        monkeypatch.setenv("VANGNET_NCMEC_PASSWORD", PASSWORD)
        yield server


def audit(run: Run, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = run.json("audit", "list", "--limit", "1000", "--json", *args)
    return rows[::-1]  # oldest first


def case_row(engine: Engine, case_id: int) -> Case:
    with Session(engine) as s:
        return s.get_one(Case, case_id)


def confirm(run: Run, case_id: int, who: str = "alice") -> Any:
    return run.json(
        "case", "decide", str(case_id), "--confirm", "--category", "vics:1", "--as", who, "--json"
    )


# -- users ----------------------------------------------------------------------------------------


def test_user_lifecycle(run: Run, cli_db: str) -> None:
    created = json.loads(
        run("user", "create", "alice", "--role", "reviewer", "--password-stdin", "--json",
            stdin=GOOD_PASSWORD + "\n").stdout
    )  # fmt: skip
    assert (created["username"], created["role"], created["disabled"]) == (
        "alice",
        "reviewer",
        False,
    )
    assert "password" not in json.dumps(created)
    run("user", "create", "bob", "--role", "analyst", "--password-stdin", "--as", "root-admin",
        stdin=GOOD_PASSWORD)  # fmt: skip
    listed = run.json("user", "list", "--json")
    assert [(u["username"], u["role"]) for u in listed] == [
        ("alice", "reviewer"),
        ("bob", "analyst"),
    ]
    assert "alice" in run("user", "list").output

    assert run.json("user", "disable", "alice", "--json")["disabled"] is True
    assert [u["disabled"] for u in run.json("user", "list", "--json")] == [True, False]
    assert "enabled" in run("user", "enable", "alice").output
    assert [u["disabled"] for u in run.json("user", "list", "--json")] == [False, False]

    entries = audit(run, "--action", "user.")
    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("user.create", "user:alice", cli_actor()),
        ("user.create", "user:bob", "root-admin"),
        ("user.disable", "user:alice", cli_actor()),
        ("user.enable", "user:alice", cli_actor()),
    ]


def test_user_create_refusals(run: Run, cli_db: str) -> None:
    def create(*args: str, code: int, stdin: str | None = GOOD_PASSWORD + "\n") -> str:
        result = run("user", "create", *args, code=code, stdin=stdin)
        return str(result.output)

    assert "10-1024 characters" in create("alice", "--role", "reviewer", "--password-stdin",
                                          code=6, stdin="short\n")  # fmt: skip
    assert "no password" in create("alice", "--role", "reviewer", "--password-stdin",
                                   code=6, stdin="")  # fmt: skip
    assert "--password-stdin" in create("alice", "--role", "reviewer", code=6)  # no terminal
    assert "unknown user role" in create("alice", "--role", "matcher", "--password-stdin", code=6)
    assert "unknown user role" in create("alice", "--role", "wizard", "--password-stdin", code=6)
    assert "user name" in create("no spaces", "--role", "reviewer", "--password-stdin", code=6)
    assert run.json("user", "list", "--json") == []  # nothing was created
    create("alice", "--role", "reviewer", "--password-stdin", code=0)
    assert "already exists" in create("alice", "--role", "admin", "--password-stdin", code=5)
    assert "no user" in run("user", "disable", "nobody", code=4).output
    assert "--as" in run("user", "disable", "alice", "--as", " ", code=6).output
    assert [u["role"] for u in run.json("user", "list", "--json")] == ["reviewer"]


# -- cases ----------------------------------------------------------------------------------------


def test_case_list_and_show(run: Run, engine: Engine, shared_data: Path) -> None:
    case_id = make_case(engine, shared_data)
    rows = run.json("case", "list", "--json")
    assert [r["id"] for r in rows] == [case_id]
    assert rows[0]["status"] == "open" and rows[0]["priority"]["score"] > 0
    assert any("vics:1" in reason for reason in rows[0]["priority"]["reasons"])
    assert run.json("case", "list", "--status", "confirmed", "--json") == []
    assert [r["id"] for r in run.json("case", "list", "--status", "all", "--json")] == [case_id]
    assert "unknown status" in run("case", "list", "--status", "bogus", code=6).output

    by_key = run.json("case", "show", "account:example-platform:user123", "--json")
    doc = run.json("case", "show", str(case_id), "--json", "--as", "alice")
    assert by_key["id"] == doc["id"] == case_id
    assert doc["subject"]["account"] == "user123"
    (match,) = doc["matches"]
    assert (match["bank"], match["distance"], match["banked"]["series"]) == (
        "DEMO",
        0,
        "test-series",
    )
    assert doc["items"][0]["filename"] == PHOTOS[0].name
    human = run("case", "show", str(case_id)).output
    for expected in ("Upload aaa-orig.jpg (user123)", "Priority", "test-series", "Timeline"):
        assert expected in human
    assert "no case" in run("case", "show", "99", code=4).output
    views = audit(run, "--action", "case.view")
    assert [e["actor"] for e in views] == [cli_actor(), "alice", cli_actor()]


def test_decide_needs_exactly_one_decision(run: Run, engine: Engine, shared_data: Path) -> None:
    case_id = str(make_case(engine, shared_data))
    run("case", "decide", case_id, code=2)
    run("case", "decide", case_id, "--confirm", "--escalate", code=2)
    run("case", "decide", case_id, "--escalate", "--category", "vics:1", code=2)
    run("case", "decide", case_id, "--confirm", "--category", "vics:1", "--disable-entry", code=2)
    run("case", "decide", case_id, "--escalate", "--add-to-bank", "DEMO", code=2)
    assert case_row(engine, int(case_id)).status == "open"


@pytest.mark.parametrize("category", ["vics:9", "uk:A", "", None])
def test_confirm_with_a_wrong_category_changes_nothing(
    run: Run,
    engine: Engine,
    shared_data: Path,
    category: str | None,
) -> None:
    case_id = make_case(engine, shared_data)
    args = ["case", "decide", str(case_id), "--confirm", "--json"]
    if category is not None:
        args += ["--category", category]
    result = run(*args, code=6)
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_value" and "vics" in error["message"]
    row = case_row(engine, case_id)
    assert (row.status, row.category) == ("open", None)
    assert run.json("case", "show", str(case_id), "--json")["decisions"] == []
    assert audit(run, "--action", "case.confirm") == []


def test_confirm_queues_webhooks_and_is_audited(
    run: Run,
    engine: Engine,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGNET_WEBHOOK_URL", "http://127.0.0.1:9/hooks")
    case_id = make_case(engine, shared_data)
    outcome = run.json(
        "case", "decide", str(case_id), "--confirm", "--category", "1", "--note", "known series",
        "--as", "alice", "--json",
    )  # fmt: skip
    assert (outcome["status_before"], outcome["status"], outcome["category"]) == (
        "open",
        "confirmed",
        "vics:1",
    )
    assert outcome["webhooks"] == ["case.confirmed", "content.remove", "account.suspend"]
    with Session(engine) as s:
        queued = {d.event: json.loads(d.body) for d in s.scalars(select(WebhookDelivery))}
    assert set(queued) == {"case.confirmed", "content.remove", "account.suspend"}
    assert queued["account.suspend"]["data"]["subject"]["account"] == "user123"
    assert queued["case.confirmed"]["data"]["case"]["decided_by"] == "alice"
    (entry,) = audit(run, "--action", "case.confirm")
    assert (entry["actor"], entry["target"]) == ("alice", f"case:{case_id}")
    assert entry["before"]["status"] == "open" and entry["after"]["status"] == "confirmed"
    assert entry["details"]["note"] == "known series"
    assert "already confirmed" in run("case", "decide", str(case_id), "--false-positive",
                                      code=5).output  # fmt: skip


def test_two_person_rule(
    run: Run,
    engine: Engine,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGNET_REVIEW_TWO_PERSON", "true")
    case_id = make_case(engine, shared_data)
    first = confirm(run, case_id, "alice")
    assert first["status"] == "pending_confirmation"
    again = run("case", "decide", str(case_id), "--confirm", "--category", "vics:1",
                "--as", "alice", code=5)  # fmt: skip
    assert "second reviewer" in again.output
    assert case_row(engine, case_id).status == "pending_confirmation"
    second = confirm(run, case_id, "bob")
    assert second["status"] == "confirmed"
    assert [e["actor"] for e in audit(run, "--action", "case.confirm")] == ["alice", "bob"]


def test_false_positive_disables_the_bank_entry(
    run: Run,
    engine: Engine,
    shared_data: Path,
) -> None:
    case_id = make_case(engine, shared_data)
    doc = run.json("case", "show", str(case_id), "--json")
    content_id = doc["matches"][0]["content_id"]
    outcome = run.json(
        "case", "decide", str(case_id), "--false-positive", "--disable-entry",
        "--note", "stock photo", "--as", "carol", "--json",
    )  # fmt: skip
    assert outcome["status"] == "false_positive" and outcome["disabled_content"] == [content_id]
    with Session(engine) as s:
        assert get_content(s, content_id).enabled is False
    (entry,) = audit(run, "--action", "content.disable")
    assert (entry["actor"], entry["target"]) == ("carol", f"content:{content_id}")


def test_escalate_and_second_opinion(run: Run, engine: Engine, shared_data: Path) -> None:
    case_id = str(make_case(engine, shared_data))
    assert run.json("case", "decide", case_id, "--escalate", "--json")["status"] == "escalated"
    assert "second_opinion" in run("case", "decide", case_id, "--second-opinion").output
    assert [r["status"] for r in run.json("case", "list", "--json")] == ["second_opinion"]


def test_confirm_and_add_to_bank(run: Run, engine: Engine, shared_data: Path) -> None:
    case_id = make_case(engine, shared_data)
    run("bank", "create", "CONFIRMED", "--profile", "vics")
    outcome = run.json(
        "case", "decide", str(case_id), "--confirm", "--category", "vics:2",
        "--add-to-bank", "CONFIRMED", "--as", "alice", "--json",
    )  # fmt: skip
    (content_id,) = outcome["added_to_bank"]
    sha256 = run.json("case", "show", str(case_id), "--json")["items"][0]["sha256"]
    with Session(engine) as s:
        content = get_content(s, content_id, bank="CONFIRMED")
        records = list(export_records(s, bank="CONFIRMED"))
    assert str(content.category) == "vics:2"
    assert ("sha256", sha256) in {(r.signal_type, r.value) for r in records}
    assert {"pdq", "md5"} <= {r.signal_type for r in records}
    # banked from its pixels: its local features are kept for the wider net
    assert run.json("bank", "show", "CONFIRMED", "--json")["local_features"] == {"sift512-v1": 1}
    trail = run.json("case", "show", str(case_id), "--json")["custody"]
    assert [(c["action"], c["actor"]) for c in trail][-1] == ("accessed", "alice")
    decided = [e["action"] for e in audit(run, "--action", "case.") if e["action"] != "case.view"]
    assert decided == ["case.confirm", "case.add_to_bank"]


def test_add_to_bank_waits_for_the_second_reviewer(
    run: Run,
    engine: Engine,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGNET_REVIEW_TWO_PERSON", "true")
    case_id = make_case(engine, shared_data)
    result = run("case", "decide", str(case_id), "--confirm", "--category", "vics:1",
                 "--add-to-bank", "DEMO", "--as", "alice")  # fmt: skip
    assert "not added to bank DEMO" in result.output
    assert audit(run, "--action", "case.add_to_bank") == []
    assert "no bank" in run("case", "decide", str(case_id), "--confirm", "--category", "vics:1",
                            "--add-to-bank", "NOPE", "--as", "bob", code=4).output  # fmt: skip
    assert case_row(engine, case_id).status == "pending_confirmation"  # rolled back together


# -- reports --------------------------------------------------------------------------------------


def test_report_ncmec_prints_valid_xml(
    run: Run,
    engine: Engine,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = make_case(engine, shared_data)
    assert "case_not_confirmed" in run("report", "ncmec", str(case_id), code=5).output
    confirm(run, case_id)
    missing = run("report", "ncmec", str(case_id), code=6).output
    assert "VANGNET_NCMEC_REPORTER_FIRST_NAME" in missing
    for key, value in (("FIRST_NAME", "Ada"), ("LAST_NAME", "R"), ("EMAIL", "ada@example.org")):
        monkeypatch.setenv(f"VANGNET_NCMEC_REPORTER_{key}", value)
    xml = run("report", "ncmec", str(case_id)).stdout_bytes
    validate(xml)
    assert xml.startswith(b"<?xml") and b"<incidentSummary>" in xml
    out = tmp_path / "out" / "case.xml"
    out.parent.mkdir()
    run("report", "ncmec", str(case_id), "--out", str(out), "--as", "bob")
    validate(out.read_bytes())
    assert sorted(p.name for p in out.parent.iterdir()) == ["case.xml"]
    with Session(engine) as s:
        rows = list(s.scalars(select(Report).order_by(Report.id)))
    assert [(r.kind, r.status, r.actor) for r in rows] == [
        ("ncmec", "built", cli_actor()),
        ("ncmec", "built", "bob"),
    ]
    assert [e["action"] for e in audit(run, "--action", "report.")] == ["report.ncmec.build"] * 2


def test_report_ncmec_submit_with_yes(
    run: Run,
    engine: Engine,
    shared_data: Path,
    fake: FakeNcmec,
    tmp_path: Path,
) -> None:
    case_id = make_case(engine, shared_data)
    confirm(run, case_id)
    out = tmp_path / "sent.xml"
    result = run.json(
        "report", "ncmec", str(case_id), "--submit", "--yes", "--as", "bob", "--json",
        "--out", str(out),
    )  # fmt: skip
    assert fake.steps == ["submit", "upload", "fileinfo", "finish"]
    (sent,) = fake.reports.values()
    assert result["status"] == "submitted" and result["remote_id"] == str(sent.report_id)
    assert out.read_bytes() == sent.xml
    with Session(engine) as s:
        row = s.get_one(Report, result["report_id"])
    assert (row.status, row.remote_id, row.actor) == ("submitted", str(sent.report_id), "bob")
    entries = audit(run, "--action", "report.ncmec")
    actions = [e["action"] for e in entries]
    assert actions == ["report.ncmec.confirm", "report.ncmec.build", "report.ncmec.submit"]
    seqs = {e["action"]: e["seq"] for e in entries}
    assert seqs["report.ncmec.confirm"] < seqs["report.ncmec.submit"]
    assert entries[0]["actor"] == "bob"
    human = run("case", "show", str(case_id)).output
    assert str(sent.report_id) in human


@pytest.mark.parametrize("answer", ["n\n", "\n", ""])
def test_report_ncmec_submit_declined_sends_nothing(
    run: Run,
    engine: Engine,
    shared_data: Path,
    fake: FakeNcmec,
    answer: str,
) -> None:
    case_id = make_case(engine, shared_data)
    confirm(run, case_id)
    result = run("report", "ncmec", str(case_id), "--submit", code=1, stdin=answer)
    assert f"Submit case {case_id} to NCMEC? [y/N]" in result.output
    assert fake.requests == []
    assert audit(run, "--action", "report.") == []
    with Session(engine) as s:
        assert list(s.scalars(select(Report))) == []


def test_report_ncmec_submit_refusals_before_asking(
    run: Run,
    engine: Engine,
    shared_data: Path,
    fake: FakeNcmec,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case_id = make_case(engine, shared_data)
    refused = run("report", "ncmec", str(case_id), "--submit", code=5, stdin="y\n")
    assert "Submit case" not in refused.output and "confirmed" in refused.output
    confirm(run, case_id)
    monkeypatch.delenv("VANGNET_NCMEC_URL")
    missing = run("report", "ncmec", str(case_id), "--submit", code=6, stdin="y\n")
    assert "VANGNET_NCMEC_URL" in missing.output and "Submit case" not in missing.output
    assert fake.requests == [] and audit(run, "--action", "report.") == []


def test_report_ncmec_submit_failure(
    run: Run,
    engine: Engine,
    shared_data: Path,
    fake: FakeNcmec,
) -> None:
    case_id = make_case(engine, shared_data)
    confirm(run, case_id)
    fake.fail("upload")
    result = run("report", "ncmec", str(case_id), "--submit", code=1, stdin="y\n")
    assert "ncmec_submit_failed" in result.output and "retracted" in result.output
    assert [r.state for r in fake.reports.values()] == ["retracted"]
    with Session(engine) as s:
        (row,) = s.scalars(select(Report))
    assert row.status == "failed"
    assert [e["action"] for e in audit(run, "--action", "report.ncmec")][-1] == (
        "report.ncmec.failed"
    )


def test_report_vics_reimports_into_a_bank(
    run: Run,
    engine: Engine,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    first = make_case(engine, shared_data)
    second = make_case(engine, shared_data, photo=PHOTOS[2], account="someone-else")
    confirm(run, first)
    out = tmp_path / "cases.json"
    run("report", "vics", str(first), str(second), "--out", str(out))
    printed = run("report", "vics", str(first), str(second)).stdout_bytes
    assert json.loads(printed)["value"] == json.loads(out.read_bytes())["value"]
    imported = run.json("bank", "import", "REIMPORT", str(out), "--format", "vics2",
                        "--create", "--json")  # fmt: skip
    assert imported["added"] == imported["total"] == 8  # md5, sha1, sha256, pdq of 2 items
    with Session(engine) as s:
        records = list(export_records(s, bank="REIMPORT"))
    got = {(r.signal_type, r.value) for r in records}
    for case_id in (first, second):
        for item in run.json("case", "show", str(case_id), "--json")["items"]:
            for kind in ("md5", "sha1", "sha256", "pdq"):
                assert (kind, item[kind]) in got, kind
    categories = {str(r.category) for r in records if r.category is not None}
    assert categories == {"vics:1"}  # only the confirmed case carries a category
    assert [e["details"]["cases"] for e in audit(run, "--action", "report.vics")] == [
        [first, second]
    ] * 2
    assert "no case" in run("report", "vics", str(first), "77", code=4).output


def test_report_html_and_pdf(
    run: Run,
    engine: Engine,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    case_id = make_case(engine, shared_data)
    confirm(run, case_id)
    tmp_path = tmp_path / "reports"
    tmp_path.mkdir()
    html = run("report", "html", str(case_id)).stdout
    assert "Upload aaa-orig.jpg (user123)" in html and "<html" in html
    pdf = tmp_path / "case.pdf"
    run("report", "pdf", str(case_id), "--out", str(pdf), "--include-clear", "--as", "dave")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.pdf"]
    run("report", "pdf", str(case_id), code=2)  # a PDF is not written to a terminal
    entries = audit(run, "--action", "report.")
    assert [(e["action"], e["details"]["include_clear"], e["actor"]) for e in entries] == [
        ("report.html", False, cli_actor()),
        ("report.pdf", True, "dave"),
    ]
    bad = run("report", "html", str(case_id), "--out", str(tmp_path / "nope" / "x.html"), code=6)
    assert "cannot write" in bad.output
    assert len(audit(run, "--action", "report.")) == 2  # the failed write was not recorded


# -- audit ----------------------------------------------------------------------------------------


def make_entries(run: Run) -> None:
    for name in ("alice", "bob", "carol"):
        run("user", "create", name, "--role", "reviewer", "--password-stdin", stdin=GOOD_PASSWORD)
    run("key", "create", "svc", "--role", "matcher")
    run("user", "disable", "bob")


def test_audit_verify_intact(run: Run, cli_db: str) -> None:
    assert "audit chain intact: 0 entries" in run("audit", "verify").output
    make_entries(run)
    assert "audit chain intact: 5 entries" in run("audit", "verify").output
    verdict = run.json("audit", "verify", "--json")
    assert {k: verdict[k] for k in ("ok", "entries", "broken_seq", "reason")} == {
        "ok": True,
        "entries": 5,
        "broken_seq": None,
        "reason": None,
    }
    assert verdict["checkpoints"] >= 1 and verdict["legacy_entries"] == 0


_COLUMNS = ("at", "actor", "action", "target", "before", "after", "details", "prev_hash", "hash")


def _swap(engine: Engine, a: int, b: int) -> None:
    with engine.begin() as conn:
        rows = {
            r.seq: r
            for r in conn.execute(
                text(f"SELECT seq, {', '.join(_COLUMNS)} FROM audit_log WHERE seq IN (:a, :b)"),
                {"a": a, "b": b},
            )
        }
        assignments = ", ".join(f"{c} = :{c}" for c in _COLUMNS)
        statement = text(f"UPDATE audit_log SET {assignments} WHERE seq = :seq")
        for target, source in ((a, b), (b, a)):
            values = {c: getattr(rows[source], c) for c in _COLUMNS}
            for c in ("before", "after", "details"):  # PostgreSQL decodes JSON, SQLite not
                if not isinstance(values[c], str) and values[c] is not None:
                    values[c] = json.dumps(values[c])
            conn.execute(statement, {**values, "seq": target})


@pytest.mark.parametrize(
    ("tamper", "broken", "reason"),
    [
        ("edit", 3, "entry 3 was edited"),
        ("edit-json", 2, "entry 2 was edited"),
        ("delete", 3, "entry 3 is missing"),
        ("swap", 2, "entry 2 does not follow entry 1"),
        ("delete-last", 5, "missing from the end"),
    ],
)
def test_audit_verify_detects_tampering(
    run: Run,
    engine: Engine,
    tamper: str,
    broken: int,
    reason: str,
) -> None:
    make_entries(run)
    with engine.begin() as conn:
        if tamper == "edit":
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
        elif tamper == "edit-json":
            after = json.dumps({"role": "admin", "disabled": False})
            conn.execute(text("UPDATE audit_log SET after = :a WHERE seq = 2"), {"a": after})
        elif tamper == "delete":
            conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
        elif tamper == "delete-last":
            conn.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    if tamper == "swap":
        _swap(engine, 2, 3)
    result = run("audit", "verify", code=6)
    assert f"audit chain broken at entry {broken}" in result.output
    assert reason in result.output
    verdict = run.json("audit", "verify", "--json", code=6)
    assert verdict["ok"] is False and verdict["broken_seq"] == broken


def test_audit_export_recomputes_from_the_file_alone(
    run: Run,
    cli_db: str,
    tmp_path: Path,
) -> None:
    make_entries(run)
    tmp_path = tmp_path / "export"
    tmp_path.mkdir()
    out = tmp_path / "audit.jsonl"
    result = run("audit", "export", "--out", str(out), "--as", "auditor")
    assert "exported 6 audit entries" in result.output
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4, 5, 6]
    assert (lines[-1]["action"], lines[-1]["actor"]) == ("audit.export", "auditor")
    prev = GENESIS
    for entry in lines:
        assert entry["prev_hash"] == prev
        digest = entry_hash(
            seq=entry["seq"],
            at=datetime.fromisoformat(entry["at"]),
            actor=entry["actor"],
            action=entry["action"],
            target=entry["target"],
            before=entry["before"],
            after=entry["after"],
            details=entry["details"],
            prev_hash=entry["prev_hash"],
        )
        assert digest == entry["hash"], entry["seq"]
        prev = digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl"]
    to_stdout = run("audit", "export").stdout.splitlines()
    assert len(to_stdout) == 7 and json.loads(to_stdout[-1])["action"] == "audit.export"
    lines[2]["actor"] = "mallory"  # an edited export no longer recomputes
    edited = lines[2]
    assert (
        entry_hash(
            seq=edited["seq"],
            at=datetime.fromisoformat(edited["at"]),
            actor=edited["actor"],
            action=edited["action"],
            target=edited["target"],
            before=edited["before"],
            after=edited["after"],
            details=edited["details"],
            prev_hash=edited["prev_hash"],
        )
        != edited["hash"]
    )


def test_audit_list_filters(run: Run, cli_db: str) -> None:
    make_entries(run)
    newest = run.json("audit", "list", "--limit", "2", "--json")
    assert [e["action"] for e in newest] == ["user.disable", "key.create"]
    assert [e["target"] for e in audit(run, "--action", "user.create")] == [
        "user:alice",
        "user:bob",
        "user:carol",
    ]
    assert len(audit(run, "--target", "user:bob")) == 2
    assert audit(run, "--actor", "nobody") == []
    assert "user.disable" in run("audit", "list").output


def test_key_and_bank_commands_are_audited(
    run: Run,
    cli_db: str,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    key = run.json("key", "create", "svc", "--role", "matcher", "--json")
    run("key", "revoke", str(key["id"]))
    run("bank", "create", "AUDITED", "--profile", "vics")
    run("bank", "update", "AUDITED", "--pdq-threshold", "20")
    run("bank", "disable", "AUDITED")
    run("bank", "enable", "AUDITED")
    run("bank", "add", "AUDITED", str(shared_data / PHOTOS[1]), "--category", "vics:2")
    plain = tmp_path / "list.txt"
    plain.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    run("bank", "import", "AUDITED", str(plain), "--format", "plain")
    run("bank", "delete", "AUDITED", "--yes")
    entries = audit(run)
    assert [e["action"] for e in entries] == [
        "key.create",
        "key.revoke",
        "bank.create",
        "bank.update",
        "bank.disable",
        "bank.enable",
        "bank.add",
        "bank.import",
        "bank.delete",
    ]
    assert {e["actor"] for e in entries} == {cli_actor()}
    update = entries[3]
    assert update["before"]["thresholds"]["pdq"]["threshold"] != 20
    assert update["after"]["thresholds"]["pdq"]["threshold"] == 20
    assert entries[6]["after"] == {"added": 1, "unreadable": 0}
    assert entries[7]["after"]["added"] == 1
    assert "audit chain intact: 9 entries" in run("audit", "verify").output
