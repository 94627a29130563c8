"""The report service (`vangnet.reports.service`) on SQLite and PostgreSQL: what each report
records (report row, timeline, audit, custody), and NCMEC submission against the local fake
CyberTipline, including the human confirmation, failures and no transaction held over HTTP."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from reports.fake_ncmec import PASSWORD, USERNAME, FakeNcmec, run_fake_ncmec
from review.factory import PHOTOS, make_case
from vangnet.audit import chain
from vangnet.banks.formats.vics import read_vics
from vangnet.config import Settings, get_settings
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.reports import service as reporting
from vangnet.reports.ncmec import CaseNotConfirmedError, validate
from vangnet.reports.ncmec_client import NcmecSubmitError
from vangnet.review import cases, decisions
from vangnet.review.priority import PriorityWeights
from vangnet.store.db import writer
from vangnet.store.models import AuditEntry, CaseEvent, CustodyEvent, Report
from vangnet.store.vault import Vault

REPORTER = {
    "ncmec_reporter_first_name": "Ada",
    "ncmec_reporter_last_name": "Reviewer",
    "ncmec_reporter_email": "trust-safety@example.org",
    "ncmec_company": "Example BV",
}


@pytest.fixture
def engine(db_engine: Engine) -> Engine:
    return db_engine


@pytest.fixture
def fake() -> Iterator[FakeNcmec]:
    with run_fake_ncmec() as server:
        yield server


def settings_for(fake: FakeNcmec | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = dict(REPORTER)
    if fake is not None:
        values |= {"ncmec_url": fake.url, "ncmec_username": USERNAME, "ncmec_password": PASSWORD}
    return Settings(**(values | extra))


def confirmed_case(engine: Engine, shared_data: Path, **kwargs: Any) -> int:
    case_id = make_case(engine, shared_data, **kwargs)
    with Session(writer(engine)) as s:
        decisions.decide(
            s,
            case_id,
            decision="confirm",
            actor="alice",
            category="vics:1",
            settings=get_settings(),
        )
        s.commit()
    return case_id


def audit_actions(engine: Engine, prefix: str = "") -> list[str]:
    with Session(engine) as s:
        return [
            e.action
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))
            if e.action.startswith(prefix)
        ]


def custody(engine: Engine, case_id: int) -> list[tuple[str, str, str | None]]:
    with Session(engine) as s:
        doc = cases.case_document(s, case_id, weights=PriorityWeights.from_settings(get_settings()))
    return [(c["action"], c["actor"], c["detail"]) for c in doc["custody"]]


def reports_of(engine: Engine, case_id: int) -> list[Report]:
    with Session(engine) as s:
        return list(s.scalars(select(Report).where(Report.case_id == case_id).order_by(Report.id)))


# -- reporter and NCMEC build ----------------------------------------------------------------------


def test_reporter_needs_a_contact_person() -> None:
    with pytest.raises(ValidationError, match="VANGNET_NCMEC_REPORTER_EMAIL"):
        reporting.reporter_from(
            Settings(ncmec_reporter_first_name="A", ncmec_reporter_last_name="B")
        )
    reporter = reporting.reporter_from(settings_for())
    assert (reporter.first_name, reporter.email, reporter.company) == (
        "Ada",
        "trust-safety@example.org",
        "Example BV",
    )


def test_build_ncmec_records_a_built_report(engine: Engine, shared_data: Path) -> None:
    case_id = confirmed_case(engine, shared_data)
    with Session(writer(engine)) as s:
        report_id, xml = reporting.build_ncmec(s, case_id, actor="bob", settings=settings_for())
        s.commit()
    validate(xml)
    assert b"<report" in xml and b"user123" in xml
    (row,) = reports_of(engine, case_id)
    assert (row.id, row.kind, row.status, row.actor, row.remote_id) == (
        report_id,
        "ncmec",
        "built",
        "bob",
        None,
    )
    assert row.body is not None and row.body.encode() == xml
    with Session(engine) as s:
        events = list(s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)))
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.ncmec.build")).one()
    assert any(e.kind == "report" and "not sent" in e.summary for e in events)
    assert (entry.actor, entry.target) == ("bob", f"case:{case_id}")
    assert entry.details["sha256"] == hashlib.sha256(xml).hexdigest()


def test_build_ncmec_refuses_an_unconfirmed_case(engine: Engine, shared_data: Path) -> None:
    case_id = make_case(engine, shared_data)
    with Session(writer(engine)) as s, pytest.raises(CaseNotConfirmedError):
        reporting.build_ncmec(s, case_id, actor="bob", settings=settings_for())
    with Session(writer(engine)) as s, pytest.raises(NotFoundError):
        reporting.build_ncmec(s, 999, actor="bob", settings=settings_for())


# -- NCMEC submission ------------------------------------------------------------------------------


def test_submit_needs_a_human_confirmation(
    engine: Engine, shared_data: Path, fake: FakeNcmec
) -> None:
    case_id = confirmed_case(engine, shared_data)
    for confirmed in (False, "yes", 1):
        with pytest.raises(reporting.ConfirmationRequiredError):
            reporting.submit_ncmec(
                engine,
                Vault.from_settings(get_settings()),
                case_id,
                actor="bob",
                confirmed=confirmed,  # type: ignore[arg-type]
                settings=settings_for(fake),
            )
    assert fake.requests == []
    assert audit_actions(engine, "report.") == []
    assert reports_of(engine, case_id) == []


def test_submit_needs_the_ncmec_settings(engine: Engine, shared_data: Path) -> None:
    case_id = confirmed_case(engine, shared_data)
    vault = Vault.from_settings(get_settings())
    with pytest.raises(ValidationError, match="VANGNET_NCMEC_URL is not set"):
        reporting.submit_ncmec(
            engine, vault, case_id, actor="bob", confirmed=True, settings=settings_for()
        )
    no_password = settings_for(ncmec_url="http://127.0.0.1:9/ispws", ncmec_username="u")
    with pytest.raises(ValidationError, match="VANGNET_NCMEC_PASSWORD"):
        reporting.submit_ncmec(
            engine, vault, case_id, actor="bob", confirmed=True, settings=no_password
        )
    plain_http = settings_for(
        ncmec_url="http://ncmec.example.org/ispws", ncmec_username="u", ncmec_password="p"
    )
    with pytest.raises(ValidationError, match="https"):
        reporting.submit_ncmec(
            engine, vault, case_id, actor="bob", confirmed=True, settings=plain_http
        )
    assert audit_actions(engine, "report.") == []
    assert reports_of(engine, case_id) == []


def test_submit_refuses_an_unconfirmed_case_before_recording_anything(
    engine: Engine, shared_data: Path, fake: FakeNcmec
) -> None:
    case_id = make_case(engine, shared_data)
    with pytest.raises(CaseNotConfirmedError):
        reporting.submit_ncmec(
            engine,
            Vault.from_settings(get_settings()),
            case_id,
            actor="bob",
            confirmed=True,
            settings=settings_for(fake),
        )
    assert fake.requests == []
    assert audit_actions(engine, "report.") == []


class WatchingTransport(httpx.HTTPTransport):
    """The real HTTP transport, noting how many database connections are checked out (a
    session holding a transaction) whenever a request goes to NCMEC."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.checked_out: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.checked_out.append(self.engine.pool.checkedout())  # type: ignore[attr-defined]
        return super().handle_request(request)


def test_submit_sends_the_case_and_records_everything(
    engine: Engine, shared_data: Path, fake: FakeNcmec
) -> None:
    case_id = confirmed_case(engine, shared_data)
    transport = WatchingTransport(engine)
    result = reporting.submit_ncmec(
        engine,
        Vault.from_settings(get_settings()),
        case_id,
        actor="bob",
        confirmed=True,
        settings=settings_for(fake),
        transport=transport,
    )
    assert fake.steps == ["submit", "upload", "fileinfo", "finish"]
    assert transport.checked_out == [0, 0, 0, 0]  # no transaction open during HTTP
    (sent,) = fake.reports.values()
    assert sent.state == "finished"
    (file,) = sent.files.values()
    photo = (shared_data / PHOTOS[0]).read_bytes()
    assert file.data == photo  # the decrypted item, byte for byte
    assert result == {
        "case_id": case_id,
        "report_id": result["report_id"],
        "remote_id": str(sent.report_id),
        "file_ids": [file.file_id],
        "status": "submitted",
    }
    (row,) = reports_of(engine, case_id)
    assert (row.id, row.status, row.remote_id) == (
        result["report_id"],
        "submitted",
        result["remote_id"],
    )
    assert row.details["file_ids"] == [file.file_id]
    assert row.body is not None and row.body.encode() == sent.xml
    actions = audit_actions(engine, "report.")
    assert actions == ["report.ncmec.confirm", "report.ncmec.build", "report.ncmec.submit"]
    trail = custody(engine, case_id)
    assert [a for a, _who, _d in trail] == ["captured", "accessed", "exported"]
    assert trail[2][1] == "bob" and str(sent.report_id) in (trail[2][2] or "")
    with Session(engine) as s:
        doc = cases.case_document(s, case_id, weights=PriorityWeights.from_settings(get_settings()))
        assert chain.verify(s).ok
    assert doc["reports"][0]["remote_id"] == str(sent.report_id)
    assert any("submitted to NCMEC" in e["summary"] for e in doc["timeline"])


def test_a_case_is_submitted_once_per_confirmation(
    engine: Engine, shared_data: Path, fake: FakeNcmec
) -> None:
    case_id = confirmed_case(engine, shared_data)
    vault = Vault.from_settings(get_settings())
    settings = settings_for(fake)
    first = reporting.submit_ncmec(
        engine, vault, case_id, actor="bob", confirmed=True, settings=settings
    )
    with pytest.raises(ConflictError, match="already submitted"):
        reporting.submit_ncmec(
            engine, vault, case_id, actor="carol", confirmed=True, settings=settings
        )
    assert len(fake.reports) == 1
    assert audit_actions(engine, "report.ncmec.confirm") == ["report.ncmec.confirm"]
    # new material reopens the case; once confirmed again it may be reported again
    make_case(engine, shared_data, photo=PHOTOS[1])  # same account: the same case
    with Session(writer(engine)) as s:
        assert cases.get_case(s, case_id).status == "open"
        decisions.decide(
            s,
            case_id,
            decision="confirm",
            actor="alice",
            category="vics:1",
            settings=get_settings(),
        )
        s.commit()
    second = reporting.submit_ncmec(
        engine, vault, case_id, actor="carol", confirmed=True, settings=settings
    )
    assert second["remote_id"] != first["remote_id"] and len(second["file_ids"]) == 2


def test_a_submission_in_progress_blocks_another(
    engine: Engine, shared_data: Path, fake: FakeNcmec
) -> None:
    case_id = confirmed_case(engine, shared_data)
    with Session(writer(engine)) as s:
        s.add(Report(case_id=case_id, kind="ncmec", status="submitting", actor="bob"))
        s.commit()
    with pytest.raises(ConflictError, match="right now"):
        reporting.submit_ncmec(
            engine,
            Vault.from_settings(get_settings()),
            case_id,
            actor="carol",
            confirmed=True,
            settings=settings_for(fake),
        )
    assert fake.requests == []
    with Session(writer(engine)) as s:  # one that died long ago does not block a retry
        stuck = s.scalars(select(Report).where(Report.status == "submitting")).one()
        stuck.at = stuck.at - reporting.SUBMITTING_FOR - timedelta(seconds=1)
        s.commit()
    done = reporting.submit_ncmec(
        engine,
        Vault.from_settings(get_settings()),
        case_id,
        actor="carol",
        confirmed=True,
        settings=settings_for(fake),
    )
    assert done["status"] == "submitted"


@pytest.mark.parametrize(
    ("step", "uploaded"),
    [("submit", 0), ("fileinfo", 1), ("finish", 1)],
)
def test_failed_submission_is_recorded_and_raised(
    engine: Engine, shared_data: Path, fake: FakeNcmec, step: str, uploaded: int
) -> None:
    case_id = confirmed_case(engine, shared_data)
    fake.fail(step, http_status=500, response_code=1000, description="Server error")
    with pytest.raises(NcmecSubmitError) as raised:
        reporting.submit_ncmec(
            engine,
            Vault.from_settings(get_settings()),
            case_id,
            actor="bob",
            confirmed=True,
            settings=settings_for(fake),
        )
    assert raised.value.step == step
    (row,) = reports_of(engine, case_id)
    assert row.status == "failed"
    assert row.details["step"] == step and row.details["error"]
    if step == "submit":  # NCMEC opened nothing: nothing to retract
        assert row.remote_id is None and not fake.reports
    else:
        (opened,) = fake.reports.values()
        assert opened.state == "retracted" and row.details["retracted"] is True
        assert row.remote_id == str(opened.report_id)
    trail = [a for a, _who, _d in custody(engine, case_id)]
    assert trail == ["captured", "accessed"] + ["exported"] * uploaded
    assert audit_actions(engine, "report.") == [
        "report.ncmec.confirm",
        "report.ncmec.build",
        "report.ncmec.failed",
    ]
    with Session(engine) as s:
        assert chain.verify(s).ok


class BrokenUpload(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/upload"):
            raise RuntimeError("disk on fire")
        return super().handle_request(request)


def test_an_unexpected_error_is_recorded_too(
    engine: Engine, shared_data: Path, fake: FakeNcmec
) -> None:
    case_id = confirmed_case(engine, shared_data)
    with pytest.raises(RuntimeError, match="disk on fire"):
        reporting.submit_ncmec(
            engine,
            Vault.from_settings(get_settings()),
            case_id,
            actor="bob",
            confirmed=True,
            settings=settings_for(fake),
            transport=BrokenUpload(),
        )
    assert fake.steps == ["submit", "retract"]
    (row,) = reports_of(engine, case_id)
    assert row.status == "failed" and row.details["code"] == "internal_error"
    assert audit_actions(engine, "report.")[-1] == "report.ncmec.failed"


def test_wrong_credentials_fail_cleanly(engine: Engine, shared_data: Path, fake: FakeNcmec) -> None:
    case_id = confirmed_case(engine, shared_data)
    with pytest.raises(NcmecSubmitError, match="username or password"):
        reporting.submit_ncmec(
            engine,
            Vault.from_settings(get_settings()),
            case_id,
            actor="bob",
            confirmed=True,
            settings=settings_for(fake, ncmec_password="wrong"),
        )
    (row,) = reports_of(engine, case_id)
    assert row.status == "failed" and row.remote_id is None


# -- VICS ------------------------------------------------------------------------------------------


def test_export_vics_of_two_cases(engine: Engine, shared_data: Path) -> None:
    first = confirmed_case(engine, shared_data)
    second = make_case(engine, shared_data, photo=PHOTOS[1], account="other")
    with Session(writer(engine)) as s:
        data = reporting.export_vics(
            s,
            [first, second, first],
            actor="carol",
            weights=PriorityWeights.from_settings(get_settings()),
        )
        s.commit()
        items = {i.id: i for c in (first, second) for i in cases.case_items(s, c)}
    document = json.loads(data)
    assert [c["CaseID"] for c in document["value"]] == [str(first), str(second)]
    records = list(read_vics(io.BytesIO(data)))
    got = {(r.signal_type, r.value) for r in records}
    for item in items.values():
        assert ("md5", item.md5) in got and ("sha256", item.sha256) in got
    assert [r.kind for r in reports_of(engine, first)] == ["vics"]
    assert [r.kind for r in reports_of(engine, second)] == ["vics"]
    for case_id in (first, second):
        trail = custody(engine, case_id)
        assert trail[-1][0] == "exported" and "no media" in (trail[-1][2] or "")
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.vics")).one()
    assert entry.actor == "carol" and entry.details["cases"] == [first, second]
    assert entry.details["sha256"] == hashlib.sha256(data).hexdigest()


def test_export_vics_needs_cases(engine: Engine, shared_data: Path) -> None:
    with Session(writer(engine)) as s:
        with pytest.raises(ValidationError, match="at least one case"):
            reporting.export_vics(
                s, [], actor="carol", weights=PriorityWeights.from_settings(get_settings())
            )
        with pytest.raises(NotFoundError):
            reporting.export_vics(
                s, [404], actor="carol", weights=PriorityWeights.from_settings(get_settings())
            )


# -- HTML / PDF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("include_clear", [False, True])
def test_render_html_reads_evidence_and_audits_the_choice(
    engine: Engine, shared_data: Path, include_clear: bool
) -> None:
    case_id = confirmed_case(engine, shared_data)
    with Session(writer(engine)) as s:
        data = reporting.render_case(
            s,
            Vault.from_settings(get_settings()),
            case_id,
            kind="html",
            actor="dave",
            include_clear=include_clear,
            weights=PriorityWeights.from_settings(get_settings()),
        )
        s.commit()
    html = data.decode("utf-8")
    assert "Upload aaa-orig.jpg (user123)" in html and "data:image/jpeg;base64," in html
    look = "clear" if include_clear else "blurred"
    trail = custody(engine, case_id)
    assert trail[-2][:2] == ("accessed", "dave")
    assert trail[-1][:2] == ("exported", "dave") and look in (trail[-1][2] or "")
    (row,) = reports_of(engine, case_id)
    assert (row.kind, row.details["include_clear"]) == ("html", include_clear)
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "report.html")).one()
    assert entry.details["include_clear"] is include_clear
    assert entry.details["sha256"] == hashlib.sha256(data).hexdigest()


def test_render_pdf_and_bad_kind(engine: Engine, shared_data: Path) -> None:
    case_id = confirmed_case(engine, shared_data)
    with Session(writer(engine)) as s:
        pdf = reporting.render_case(
            s,
            Vault.from_settings(get_settings()),
            case_id,
            kind="pdf",
            actor="dave",
            weights=PriorityWeights.from_settings(get_settings()),
        )
        with pytest.raises(ValidationError):
            reporting.render_case(
                s,
                Vault.from_settings(get_settings()),
                case_id,
                kind="docx",  # type: ignore[arg-type]
                actor="dave",
                weights=PriorityWeights.from_settings(get_settings()),
            )
        s.commit()
    assert pdf.startswith(b"%PDF-")
    assert [r.kind for r in reports_of(engine, case_id)] == ["pdf"]
    assert audit_actions(engine, "report.") == ["report.pdf"]


def test_add_event_needs_a_case(engine: Engine, shared_data: Path) -> None:
    case_id = make_case(engine, shared_data)
    with Session(writer(engine)) as s:
        reporting.add_event(s, case_id, "note", "called the platform", actor="erin")
        with pytest.raises(NotFoundError):
            reporting.add_event(s, 999, "note", "nothing", actor="erin")
        s.commit()
    with Session(engine) as s:
        events = list(s.scalars(select(CaseEvent).where(CaseEvent.actor == "erin")))
        custody_rows = list(s.scalars(select(CustodyEvent)))
    assert [e.summary for e in events] == ["called the platform"]
    assert len(custody_rows) == 1  # only "captured": an event reads no evidence
