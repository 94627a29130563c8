"""Settling by hand a CyberTipline report that failed after it was opened and could not be
retracted: `vangnet report settle` records what NCMEC said (finished with its report id, or
retracted) by a named person, audited; bad input changes nothing and exits with its own code.

Through the CLI and the web UI's report page, on SQLite and PostgreSQL; NCMEC is the fake on
127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cli.test_cli import Run
from reports.fake_ncmec import PASSWORD as NCMEC_PASSWORD
from reports.fake_ncmec import USERNAME as NCMEC_USERNAME
from reports.fake_ncmec import FakeNcmec, run_fake_ncmec
from review.factory import make_case
from vangnet.config import reset_settings
from vangnet.errors import ExitCode
from vangnet.store.models import AuditEntry, Report
from web.conftest import WebFactory, login

from ._decide import reports


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


def _unretracted(run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec) -> Report:
    """A confirmed case whose submission failed at upload and whose retract failed too."""
    case_id = make_case(db_engine, shared_data)
    run("case", "decide", str(case_id), "--confirm", "--category", "vics:1")
    ncmec.fail("upload")
    ncmec.fail("retract")  # the report stays open at NCMEC
    run("report", "ncmec", str(case_id), "--submit", "--yes", code=1)
    (row,) = [r for r in reports(db_engine, case_id) if r.kind == "ncmec"]
    assert (row.status, row.details["retracted"]) == ("failed", False) and row.remote_id
    return row


def _settlements(db_engine: Engine) -> list[AuditEntry]:
    with Session(db_engine) as session:
        query = select(AuditEntry).where(AuditEntry.action == "report.ncmec.settle")
        return list(session.scalars(query))


def _row(db_engine: Engine, report_id: int) -> Report:
    with Session(db_engine) as session:
        return session.get_one(Report, report_id)


def test_bad_settlements_change_nothing_and_exit_with_their_code(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    row = _unretracted(run, db_engine, shared_data, ncmec)
    rid, remote = str(row.id), str(row.remote_id)
    bad = {
        ("report", "settle", rid, "--finished", remote): ExitCode.INVALID_DATA,  # no --as
        ("report", "settle", rid, "--as", "Ada"): ExitCode.INVALID_DATA,  # no outcome
        ("report", "settle", rid, "--finished", remote, "--retracted", "--as", "Ada"): (
            ExitCode.INVALID_DATA
        ),
        ("report", "settle", rid, "--finished", str(int(remote) + 1), "--as", "Ada"): (
            ExitCode.INVALID_DATA
        ),
        ("report", "settle", rid, "--finished", "12x", "--as", "Ada"): ExitCode.INVALID_DATA,
        ("report", "settle", rid, "--retracted", "--as", " "): ExitCode.INVALID_DATA,
        ("report", "settle", rid, "--retracted", "--as", "Ada", "--note", "x" * 2001): (
            ExitCode.INVALID_DATA
        ),
        ("report", "settle", "999999", "--retracted", "--as", "Ada"): ExitCode.NOT_FOUND,
        ("report", "settle", "abc", "--retracted", "--as", "Ada"): ExitCode.USAGE,
    }
    for args, code in bad.items():
        out = run(*args, code=code).output
        assert "Error" in out or "error" in out, (args, out)
    wrong = run("report", "settle", rid, "--finished", "1", "--as", "Ada", code=6).output
    assert remote in wrong and "nothing was changed" in wrong
    after = _row(db_engine, row.id)
    assert (after.status, after.details) == (row.status, row.details)
    assert _settlements(db_engine) == []


def test_settled_as_finished_stands_and_blocks_a_second_filing(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    row = _unretracted(run, db_engine, shared_data, ncmec)
    result = run.json(
        "report", "settle", str(row.id), "--finished", str(row.remote_id),
        "--as", "Ada Reviewer", "--note", "NCMEC support ticket 42", "--json",
    )  # fmt: skip
    assert result["status"] == "submitted" and result["remote_id"] == row.remote_id
    after = _row(db_engine, row.id)
    assert after.status == "submitted"
    assert after.details["settled"]["by"] == "Ada Reviewer"
    assert after.details["settled"]["note"] == "NCMEC support ticket 42"
    assert after.details["finish"] == "settled_by_hand"
    (entry,) = _settlements(db_engine)
    assert entry.actor == "Ada Reviewer" and entry.target == f"case:{row.case_id}"
    shown = run.json("case", "show", str(row.case_id), "--json")
    assert any("settled with NCMEC by hand" in e["summary"] for e in shown["timeline"])
    run("audit", "verify")
    # settled once: again is a conflict, and the case is not filed a second time
    again = run("report", "settle", str(row.id), "--retracted", "--as", "Ada", code=5).output
    assert "only a failed report" in again
    out = run("report", "ncmec", str(row.case_id), "--submit", "--yes", code=5).output
    assert "already submitted" in out
    assert len(ncmec.reports) == 1


def test_settled_as_retracted_lets_the_case_be_submitted_again(
    run: Run, db_engine: Engine, shared_data: Path, ncmec: FakeNcmec
) -> None:
    row = _unretracted(run, db_engine, shared_data, ncmec)
    blocked = run("report", "ncmec", str(row.case_id), "--submit", "--yes", code=5).output
    assert "report settle" in blocked  # the refusal names the command that settles it
    out = run("report", "settle", str(row.id), "--retracted", "--as", "Ada Reviewer").output
    assert "retracted" in out
    assert _row(db_engine, row.id).status == "retracted"
    result = run.json("report", "ncmec", str(row.case_id), "--submit", "--yes", "--json")
    assert result["status"] == "submitted"
    assert len(ncmec.reports) == 2


def test_settled_from_the_report_page_by_the_signed_in_person(
    run: Run,
    db_engine: Engine,
    shared_data: Path,
    ncmec: FakeNcmec,
    web_factory: WebFactory,
    role_users: dict[str, str],
) -> None:
    row = _unretracted(run, db_engine, shared_data, ncmec)
    web = web_factory()
    token = login(web, "reviewer")
    page = web.get(f"/ui/reports/{row.id}")
    assert page.status_code == 200 and 'id="settle-form"' in page.text
    path = f"/ui/reports/{row.id}/settle"
    for form in (
        {"outcome": "finished", "ncmec_id": "1", "confirm": "yes"},  # not NCMEC's id
        {"outcome": "finished", "ncmec_id": str(row.remote_id)},  # not confirmed
        {"outcome": "finished", "confirm": "yes"},  # no id
    ):
        r = web.post(path, data={"csrf": token, **form})
        assert r.status_code == 303 and "flash=recorded" not in r.headers["location"], form
    assert web.post(path, data={"csrf": token, "outcome": "maybe"}).status_code == 400
    assert _row(db_engine, row.id).status == "failed" and _settlements(db_engine) == []
    r = web.post(
        path,
        data={
            "csrf": token,
            "outcome": "finished",
            "ncmec_id": str(row.remote_id),
            "confirm": "yes",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith(
        f"/ui/reports/{row.id}?flash=recorded"
    )
    after = _row(db_engine, row.id)
    assert after.status == "submitted" and after.details["settled"]["by"] == "reviewer"
    (entry,) = _settlements(db_engine)
    assert entry.actor == "reviewer"
    assert 'id="settle-form"' not in web.get(f"/ui/reports/{row.id}").text
