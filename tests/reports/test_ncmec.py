"""NCMEC CyberTipline reports: the XML builders against the schema, and the client's whole
submission against a fake NCMEC on 127.0.0.1 (no other network)."""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from vangnet.config import get_settings
from vangnet.egress.policy import EgressPolicy
from vangnet.errors import ConflictError, ValidationError, VangnetError
from vangnet.reports.ncmec import (
    CaseNotConfirmedError,
    Reporter,
    ReportValidationError,
    build_file_details,
    build_report,
    safe_xml_parser,
    validate,
)
from vangnet.reports.ncmec_client import NcmecClient, NcmecSubmitError, SubmitResult, send_report

from .fake_ncmec import PASSWORD, USERNAME, FakeNcmec, run_fake_ncmec

REPORTER = Reporter("Ada", "Reviewer", "trust-safety@example.org", "+31 20 555 0100", "Example BV")

# Benign stand-ins for preserved media: the builders and the client only ever see bytes.
FRAME_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4 + b"\r\n--boundary\r\n\x00"
CONTEXT_BYTES = b"\x89PNG\r\n\x1a\nsecond frame, not itself matched"
UPLOAD_BYTES = b"\xff\xd8\xff\xe0 benign jpeg stand-in"


def _hashes(data: bytes) -> dict[str, str]:
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def make_case(kind: str = "live", **changes: Any) -> dict[str, Any]:
    """A case document of the documented shape (`vangnet.review.cases.case_document`)."""
    live = kind == "live"
    items = (
        [
            {
                "id": 5,
                "kind": "frame",
                "media_type": "image/png",
                "filename": "frame-00012.400.png",
                "size": len(FRAME_BYTES),
                **_hashes(FRAME_BYTES),
                "pdq": "f" * 64,
                "captured_at": "2026-11-29T17:40:01.123+00:00",
                "stream_time": 12.4,
                "matched": True,
                "width": 1280,
                "height": 720,
                "viewed_by": ["alice"],  # a recorded reveal
            },
            {
                "id": 6,
                "kind": "frame",
                "media_type": "image/png",
                "filename": "frame-00014.000.png",
                "size": len(CONTEXT_BYTES),
                **_hashes(CONTEXT_BYTES),
                "pdq": None,
                "captured_at": "2026-11-29T17:40:02.700+00:00",
                "stream_time": 14.0,
                "matched": False,
                "width": 1280,
                "height": 720,
                "viewed_by": [],  # nobody saw it in the clear
            },
        ]
        if live
        else [
            {
                "id": 7,
                "kind": "upload",
                "media_type": "image/jpeg",
                "filename": "upload.jpg",
                "size": len(UPLOAD_BYTES),
                **_hashes(UPLOAD_BYTES),
                "pdq": "a" * 64,
                "captured_at": "2026-11-29T09:00:00+01:00",
                "stream_time": None,
                "matched": True,
                "width": 640,
                "height": 480,
                "ip": "192.0.2.10",  # given with this upload
                "viewed_by": ["alice"],
            },
        ]
    )
    first_item = items[0]["id"]
    case: dict[str, Any] = {
        "id": 12,
        "key": "account:example-platform:user123",
        "kind": kind,
        "title": "Stream cam-7 (user123)" if live else "Upload upload-991 (user123)",
        "status": "confirmed",
        "category": "vics:1",
        "priority": {"score": 73, "reasons": ["bank 'demo' category vics:1 (+40)", "live (+20)"]},
        "subject": {
            "platform": "example-platform",
            "account": "user123",
            "uploader": "user123",
            "content_id": None if live else "upload-991",
            "ip": "192.0.2.10",
            # when the IP was given: with the stream's registration, or with the upload
            "ip_at": "2026-11-29T17:39:00+00:00" if live else "2026-11-29T09:00:00+01:00",
            "email": "x@example.org",
            "stream_id": 3 if live else None,
            "stream_external_id": "cam-7" if live else None,
            "stream_url_display": "rtmp://127.0.0.1/live/<redacted>" if live else None,
            "viewers": 14 if live else None,
            "live": live,
        },
        "created_at": "2026-11-29T17:40:03+00:00",
        "updated_at": "2026-11-29T17:45:00+00:00",
        "decided_at": "2026-11-29T17:45:00+00:00",
        "items": items,
        "matches": [  # deliberately not in time order: the incident time is the earliest
            {
                "id": 10,
                "item_id": first_item,
                "alert_id": 2,
                "bank": "demo",
                "content_id": 44,
                "signal_type": "pdq",
                "distance": 9,
                "category": "vics:1",
                "at": "2026-11-29T17:40:05+00:00",
                "stream_time": 16.0 if live else None,
                "banked": {"series": "series-x", "source": "hotline", "category": "vics:1"},
            },
            {
                "id": 9,
                "item_id": first_item,
                "alert_id": 2,
                "bank": "demo",
                "content_id": 44,
                "signal_type": "pdq",
                "distance": 6,
                "category": "vics:1",
                "at": "2026-11-29T18:40:01.123+01:00",
                "stream_time": 12.4 if live else None,
                "banked": {
                    "note": "n",
                    "series": "series-x",
                    "source": "hotline",
                    "external_id": "E-1",
                    "category": "vics:1",
                },
            },
        ],
        "timeline": [
            {
                "at": "2026-11-29T17:40:01.200+00:00",
                "kind": "alert",
                "actor": "vangnet-monitor@host",
                "summary": "alert",
                "details": {},
            },
        ],
        "decisions": [
            {
                "id": 1,
                "at": "2026-11-29T17:44:00+00:00",
                "actor": "bob",
                "decision": "escalate",
                "category": None,
                "note": None,
            },
            {
                "id": 2,
                "at": "2026-11-29T17:45:00+00:00",
                "actor": "alice",
                "decision": "confirm",
                "category": "vics:1",
                "note": "clear match",
            },
        ],
        "custody": [],
        "reports": [],
    }
    case.update(changes)
    return case


def parse(xml: bytes) -> Any:
    return etree.fromstring(xml, safe_xml_parser())


def item_bytes(item: dict[str, Any]) -> bytes:
    return {5: FRAME_BYTES, 6: CONTEXT_BYTES, 7: UPLOAD_BYTES}[item["id"]]


@pytest.fixture
def fake() -> Iterator[FakeNcmec]:
    with run_fake_ncmec() as server:
        yield server


@pytest.fixture
def client(fake: FakeNcmec) -> Iterator[NcmecClient]:
    with NcmecClient(
        fake.url, USERNAME, PASSWORD, timeout=5, egress=EgressPolicy.from_settings(get_settings())
    ) as ncmec:
        yield ncmec


def submit_case(client: NcmecClient, case: dict[str, Any]) -> SubmitResult:
    """What a caller does: build everything, then send."""
    report = build_report(case, REPORTER)
    files = [(item, item_bytes(item)) for item in case["items"]]
    return send_report(client, report, files, functools.partial(build_file_details, case))


# -- the report XML ----------------------------------------------------------------------------


def test_live_report_has_the_documented_elements() -> None:
    xml = build_report(make_case("live"), REPORTER)
    validate(xml)
    root = parse(xml)
    assert root.tag == "report"
    assert [child.tag for child in root] == [
        "incidentSummary",
        "internetDetails",
        "reporter",
        "personOrUserReported",
        "additionalInfo",
    ]
    summary = root.find("incidentSummary")
    assert [child.tag for child in summary] == [
        "incidentType",
        "platform",
        "escalateToHighPriority",
        "incidentDateTime",
        "incidentDateTimeDescription",
    ]
    assert summary.findtext("incidentType") == (
        "Child Pornography (possession, manufacture, and distribution)"
    )
    assert summary.findtext("platform") == "example-platform"
    assert summary.findtext("incidentDateTime") == "2026-11-29T17:40:01Z"  # earliest match, UTC
    assert "cam-7, 12.4 s into the stream" in summary.findtext("incidentDateTimeDescription")
    assert root.find(".//reportAnnotations") is None  # no live-streaming tag exists there
    chat = root.find("internetDetails/chatImIncident")
    assert chat.findtext("chatClient") == "example-platform"
    assert chat.findtext("chatRoomName") == "cam-7"
    assert "Viewers when detected: 14" in chat.findtext("additionalInfo")
    person = root.find("reporter/reportingPerson")
    assert [person.findtext(t) for t in ("firstName", "lastName", "phone", "email")] == [
        "Ada",
        "Reviewer",
        "+31 20 555 0100",
        "trust-safety@example.org",
    ]
    assert root.findtext("reporter/companyTemplate") == "Example BV"
    reported = root.find("personOrUserReported")
    assert reported.findtext("personOrUserReportedPerson/email") == "x@example.org"
    assert reported.findtext("espIdentifier") == "user123"
    assert reported.findtext("espService") == "example-platform"
    assert reported.findtext("screenName") == "user123"
    capture = reported.find("ipCaptureEvent")
    assert [capture.findtext(t) for t in ("ipAddress", "eventName", "dateTime")] == [
        "192.0.2.10",
        "Other",
        "2026-11-29T17:39:00Z",  # when the IP was recorded, not the first match
    ]
    info = root.findtext("additionalInfo")
    assert "Vangnet case 12: Stream cam-7 (user123)" in info
    assert "alice: confirm, category vics:1; note: clear match" in info
    assert "bank 'demo' category vics:1 (+40)" in info
    assert "bank demo, pdq distance 6, category vics:1, series series-x" in info


def test_upload_report_is_a_web_page_incident_without_escalation() -> None:
    root = parse(build_report(make_case("upload"), REPORTER))
    assert root.find("incidentSummary/escalateToHighPriority") is None
    assert root.find("internetDetails/chatImIncident") is None
    page_info = root.findtext("internetDetails/webPageIncident/additionalInfo")
    assert (
        page_info == "Content uploaded to example-platform with content id upload-991 by user123."
    )
    assert root.findtext("personOrUserReported/ipCaptureEvent/eventName") == "Upload"


def test_ended_stream_is_not_escalated() -> None:
    case = make_case("live")
    case["subject"]["live"] = False
    root = parse(build_report(case, REPORTER))
    assert root.find("incidentSummary/escalateToHighPriority") is None
    assert "Stream still live when reported: no." in root.findtext(
        "internetDetails/chatImIncident/additionalInfo"
    )


def test_optional_reporter_fields_and_bad_subject_values_are_left_out() -> None:
    case = make_case("live")
    case["subject"].update(email="not an email", ip="999.1.1.1", account=None, uploader=None)
    root = parse(build_report(case, Reporter("Ada", "Reviewer", "ada@example.org")))
    assert root.find("reporter/reportingPerson/phone") is None
    assert root.find("reporter/companyTemplate") is None
    reported = root.find("personOrUserReported")
    assert reported.find("personOrUserReportedPerson") is None
    assert reported.find("ipCaptureEvent") is None
    assert reported.find("screenName") is None
    assert "not a valid address): not an email" in reported.findtext("additionalInfo")
    assert "(not valid): 999.1.1.1" in reported.findtext("additionalInfo")


def test_a_bad_reporter_email_fails_validation() -> None:
    with pytest.raises(ReportValidationError, match="email"):
        build_report(make_case(), Reporter("Ada", "Reviewer", "nobody"))


def test_case_without_a_detection_time_or_offset_is_refused() -> None:
    with pytest.raises(ReportValidationError, match="no UTC offset"):
        build_report(make_case(matches=[{"at": "2026-11-29T17:40:01", "item_id": 5}]), REPORTER)
    empty = make_case(matches=[], timeline=[], created_at=None)
    with pytest.raises(ReportValidationError, match="no match, alert or creation time"):
        build_report(empty, REPORTER)


def test_incident_time_falls_back_to_the_first_alert() -> None:
    root = parse(build_report(make_case(matches=[]), REPORTER))
    assert root.findtext("incidentSummary/incidentDateTime") == "2026-11-29T17:40:01Z"


@pytest.mark.parametrize(
    "status",
    ["open", "escalated", "second_opinion", "pending_confirmation", "false_positive", None],
)
def test_only_confirmed_cases_are_built(status: str | None) -> None:
    case = make_case(status=status)
    with pytest.raises(CaseNotConfirmedError, match="only confirmed cases") as caught:
        build_report(case, REPORTER)
    assert isinstance(caught.value, ConflictError)
    assert caught.value.code == "case_not_confirmed"
    with pytest.raises(CaseNotConfirmedError):
        build_file_details(case, case["items"][0], 1, "f")


def test_unconfirmed_case_is_refused_before_any_request(
    fake: FakeNcmec, client: NcmecClient
) -> None:
    with pytest.raises(CaseNotConfirmedError):
        submit_case(client, make_case(status="pending_confirmation"))
    assert fake.requests == []


# -- file details --------------------------------------------------------------------------------


def test_frame_file_details() -> None:
    case = make_case("live")
    root = parse(build_file_details(case, case["items"][0], 4200001, "4200001-001"))
    assert [child.tag for child in root] == [
        "reportId",
        "fileId",
        "originalFileName",
        "fileViewedByEsp",
        "fileRelevance",
        "fileAnnotations",
        "details",
        "additionalInfo",
    ]
    assert root.findtext("reportId") == "4200001"
    assert root.findtext("fileId") == "4200001-001"
    assert root.findtext("originalFileName") == "frame-00012.400.png"
    assert root.findtext("fileViewedByEsp") == "true"
    assert root.findtext("fileRelevance") == "Reported"
    assert [a.tag for a in root.find("fileAnnotations")] == ["liveStreaming"]
    assert root.find("originalFileHash") is None  # we made the frame; it was never uploaded
    details = root.find("details")
    assert details.get("type") == "HASH"
    pairs = {p.findtext("name"): p.findtext("value") for p in details.iter("nameValuePair")}
    assert pairs == {**{k.upper(): v for k, v in _hashes(FRAME_BYTES).items()}, "PDQ": "f" * 64}
    info = root.findtext("additionalInfo")
    assert "Vangnet item 5: frame of live stream cam-7 at 12.4 s." in info
    assert "Matched: 2026-11-29T17:40:01Z bank demo, pdq distance 6" in info
    context = parse(build_file_details(case, case["items"][1], 4200001, "4200001-002"))
    assert context.findtext("fileRelevance") == "Supplemental Reported"
    assert context.findtext("fileViewedByEsp") == "false"  # nobody revealed it
    assert "Not itself matched" in context.findtext("additionalInfo")


def test_upload_file_details_carry_original_hashes_and_upload_ip() -> None:
    case = make_case("upload")
    case["subject"]["public"] = True
    root = parse(build_file_details(case, case["items"][0], 7, "7-001"))
    assert root.findtext("uploadedToEspTimestamp") == "2026-11-29T08:00:00Z"
    assert root.findtext("publiclyAvailable") == "true"
    assert root.find("fileAnnotations") is None
    hashes = {h.get("hashType"): h.text for h in root.iter("originalFileHash")}
    assert hashes == {k.upper(): v for k, v in _hashes(UPLOAD_BYTES).items()}
    capture = root.find("ipCaptureEvent")
    assert [capture.findtext(t) for t in ("ipAddress", "eventName", "dateTime")] == [
        "192.0.2.10",
        "Upload",
        "2026-11-29T08:00:00Z",
    ]
    pairs = {p.findtext("name"): p.findtext("value") for p in root.iter("nameValuePair")}
    assert pairs == {"PDQ": "a" * 64}


def test_file_not_viewed_without_a_recorded_reveal() -> None:
    case = make_case()  # confirmed by alice, but
    case["items"][0]["viewed_by"] = []  # nobody revealed the file
    root = parse(build_file_details(case, case["items"][0], 1, "f"))
    assert root.findtext("fileViewedByEsp") == "false"


def test_file_details_refuse_an_item_of_another_case() -> None:
    case = make_case()
    with pytest.raises(ReportValidationError, match="not part of case 12"):
        build_file_details(case, {**case["items"][0], "id": 99}, 1, "f")


# -- the schema ----------------------------------------------------------------------------------


def _mutated(change: Callable[[Any], None]) -> bytes:
    root = parse(build_report(make_case(), REPORTER))
    change(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _remove(path: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        element = root.find(path)
        element.getparent().remove(element)

    return change


def _swap_reporter_and_internet_details(root: Any) -> None:
    reporter = root.find("reporter")
    root.remove(reporter)
    root.insert(1, reporter)


def _set(path: str, text: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        root.find(path).text = text

    return change


def _append(path: str, tag: str) -> Callable[[Any], None]:
    def change(root: Any) -> None:
        etree.SubElement(root.find(path), tag)

    return change


def _live_report_annotation(root: Any) -> None:
    annotations = etree.Element("reportAnnotations")
    etree.SubElement(annotations, "liveStreaming")
    root.find("incidentSummary/incidentDateTime").addprevious(annotations)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_remove("incidentSummary/incidentDateTime"), "incidentDateTime"),
        (_remove("reporter"), "reporter"),
        (_swap_reporter_and_internet_details, "internetDetails"),
        (_set("incidentSummary/incidentDateTime", "yesterday"), "incidentDateTime"),
        (_set("incidentSummary/incidentDateTime", "2026-11-29T17:40:01"), "incidentDateTime"),
        (_set("incidentSummary/incidentType", "Something Else"), "incidentType"),
        (_set("personOrUserReported/ipCaptureEvent/eventName", "Stream"), "eventName"),
        (_append("personOrUserReported", "x"), "'x'"),
        (_append(".", "lawEnforcement"), "lawEnforcement"),
        (_live_report_annotation, "liveStreaming"),
    ],
    ids=[
        "missing-element",
        "missing-section",
        "wrong-order",
        "bad-datetime",
        "datetime-without-offset",
        "unknown-incident-type",
        "unknown-event",
        "unknown-element",
        "element-not-emitted",
        "live-streaming-is-no-report-annotation",
    ],
)
def test_mutated_reports_fail_validation(change: Callable[[Any], None], expected: str) -> None:
    with pytest.raises(ReportValidationError) as caught:
        validate(_mutated(change))
    message = caught.value.message
    assert message.startswith("NCMEC XML does not match the schema: line ")
    assert expected in message
    assert caught.value.code == "invalid_ncmec_report"
    assert isinstance(caught.value, ValidationError)


def test_not_well_formed_xml_fails_validation() -> None:
    with pytest.raises(ReportValidationError, match="not well-formed"):
        validate(b"<report><incidentSummary></report>")


def test_validation_does_not_expand_entities() -> None:
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE report [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<report><additionalInfo>&x;</additionalInfo></report>"
    )
    with pytest.raises(ReportValidationError):
        validate(hostile)


HOSTILE = "</report><x>&amp;]]><!-- \x00\x07\x1b\x7f\ud800 \U0001f600"


def test_hostile_strings_are_escaped_into_valid_xml() -> None:
    case = make_case()
    case["subject"].update(account=HOSTILE, uploader=HOSTILE, platform=HOSTILE)
    case["title"] = HOSTILE
    case["decisions"][-1]["note"] = HOSTILE
    case["items"][0]["filename"] = "../../" + HOSTILE
    xml = build_report(case, Reporter("Ada", HOSTILE, "ada@example.org", company=HOSTILE))
    root = parse(xml)
    assert root.find(".//x") is None
    cleaned = "</report><x>&amp;]]><!-- \ufffd\ufffd\ufffd\ufffd\ufffd \U0001f600"
    assert root.findtext("personOrUserReported/screenName") == cleaned
    assert root.findtext("personOrUserReported/espIdentifier") == cleaned
    assert root.findtext("incidentSummary/platform") == cleaned
    assert root.findtext("reporter/reportingPerson/lastName") == cleaned
    assert f"note: {cleaned}" in root.findtext("additionalInfo")
    details = parse(build_file_details(case, case["items"][0], 1, "f"))
    assert details.findtext("originalFileName") == cleaned.rsplit("/", 1)[1]  # base name only
    assert b"<x>" not in xml


def test_overlong_text_is_truncated_to_each_fields_documented_length() -> None:
    case = make_case()
    case["subject"]["account"] = "a" * 5000
    case["subject"]["uploader"] = "u" * 5000
    case["subject"]["platform"] = "p" * 5000
    case["subject"]["stream_external_id"] = "s" * 5000
    root = parse(build_report(case, Reporter("F" * 500, "L" * 500, "ada@example.org")))
    lengths = {
        "personOrUserReported/espIdentifier": 255,
        "personOrUserReported/screenName": 256,
        "personOrUserReported/espService": 100,
        "incidentSummary/platform": 256,
        "internetDetails/chatImIncident/chatClient": 255,
        "internetDetails/chatImIncident/chatRoomName": 255,
        "reporter/reportingPerson/firstName": 100,
        "reporter/reportingPerson/lastName": 100,
    }
    assert {path: len(root.findtext(path)) for path in lengths} == lengths
    assert root.findtext("incidentSummary/platform").endswith("p\u2026")


# -- the client against the fake NCMEC ---------------------------------------------------------


def test_full_submission(fake: FakeNcmec, client: NcmecClient) -> None:
    case = make_case("live")
    result = submit_case(client, case)
    assert fake.steps == ["submit", "upload", "fileinfo", "upload", "fileinfo", "finish"]
    report = fake.reports[result.report_id]
    assert result == SubmitResult(
        report.report_id, (f"{report.report_id}-001", f"{report.report_id}-002")
    )
    assert report.state == "finished"
    assert report.xml == build_report(case, REPORTER)
    for file_id, data in zip(result.file_ids, (FRAME_BYTES, CONTEXT_BYTES), strict=True):
        stored = report.files[file_id]
        assert stored.data == data
        assert parse(stored.details).findtext("fileId") == file_id
    assert [f.name for f in report.files.values()] == ["frame-00012.400.png", "frame-00014.000.png"]
    submit, upload, fileinfo, *_, finish = fake.requests
    assert submit.headers["content-type"] == "text/xml; charset=utf-8"
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert upload.fields == {"id": str(result.report_id)}
    assert fileinfo.headers["content-type"] == "text/xml; charset=utf-8"
    assert finish.headers["content-type"] == "application/x-www-form-urlencoded"
    assert finish.fields == {"id": str(result.report_id)}
    assert all(r.headers["authorization"].startswith("Basic ") for r in fake.requests)


def test_status_and_xsd(fake: FakeNcmec, client: NcmecClient) -> None:
    assert client.status() == f"Remote User : {USERNAME}, Remote Ip : 127.0.0.1"
    assert b'<xs:element name="report">' in client.xsd()
    assert fake.steps == ["status", "xsd"]


@pytest.mark.parametrize(
    ("step", "failure", "expected"),
    [
        (
            "upload",
            {"http_status": 500},
            "NCMEC refused upload: responseCode 1000 (Server error) (HTTP 500)",
        ),
        (
            "upload",
            {"http_status": 200, "response_code": 1110, "description": "Upload failed"},
            "NCMEC refused upload: responseCode 1110 (Upload failed)",
        ),
        (
            "fileinfo",
            {"http_status": 200, "response_code": 4100, "description": "Validation failed"},
            "NCMEC refused fileinfo: responseCode 4100 (Validation failed)",
        ),
        ("finish", {"http_status": 503}, "NCMEC refused finish: responseCode 1000"),
    ],
)
def test_failure_after_submit_retracts(
    fake: FakeNcmec, client: NcmecClient, step: str, failure: dict[str, Any], expected: str
) -> None:
    fake.fail(step, **failure)
    with pytest.raises(NcmecSubmitError) as caught:
        submit_case(client, make_case("live"))
    error = caught.value
    steps_before = {
        "upload": ["submit", "upload"],
        "fileinfo": ["submit", "upload", "fileinfo"],
        "finish": ["submit", "upload", "fileinfo", "upload", "fileinfo", "finish"],
    }
    assert fake.steps == [*steps_before[step], "retract"]
    (report,) = fake.reports.values()
    assert report.state == "retracted"
    assert error.step == step
    assert error.report_id == report.report_id and error.retracted
    assert error.message.startswith(f"NCMEC report {report.report_id} failed at {step}")
    assert expected in error.message
    assert error.message.endswith("the report was retracted")
    assert error.code == "ncmec_submit_failed" and error.status == 502


def test_md5_mismatch_retracts(fake: FakeNcmec, client: NcmecClient) -> None:
    fake.wrong_md5 = True
    with pytest.raises(
        NcmecSubmitError, match=r"NCMEC computed MD5 \w+ for the upload, ours is"
    ) as caught:
        submit_case(client, make_case("live"))
    assert caught.value.step == "upload"
    assert fake.steps == ["submit", "upload", "retract"]


def test_failed_retract_is_reported(fake: FakeNcmec, client: NcmecClient) -> None:
    fake.fail("upload")
    fake.fail("retract")
    with pytest.raises(NcmecSubmitError, match="ask NCMEC about report 4200001") as caught:
        submit_case(client, make_case("live"))
    assert not caught.value.retracted
    assert fake.reports[4200001].state == "open"


def test_failed_submit_opens_nothing_to_retract(fake: FakeNcmec, client: NcmecClient) -> None:
    fake.fail("submit", http_status=400, response_code=4100, description="Validation failed")
    with pytest.raises(NcmecSubmitError, match="refused submit: responseCode 4100") as caught:
        submit_case(client, make_case("live"))
    assert caught.value.step == "submit" and caught.value.report_id is None
    assert fake.steps == ["submit"]


def test_bad_credentials(fake: FakeNcmec) -> None:
    with NcmecClient(
        fake.url, USERNAME, "wrong", timeout=5, egress=EgressPolicy.from_settings(get_settings())
    ) as wrong:
        with pytest.raises(NcmecSubmitError) as caught:
            wrong.status()
        assert (
            caught.value.message == "NCMEC rejected the username or password at status (HTTP 401)"
        )
        with pytest.raises(NcmecSubmitError, match="rejected the username or password at submit"):
            submit_case(wrong, make_case("live"))
    assert "wrong" not in caught.value.message
    assert fake.steps == ["status", "submit"]
    assert fake.reports == {}


def test_item_bytes_not_matching_their_md5_are_refused_before_sending(
    fake: FakeNcmec, client: NcmecClient
) -> None:
    case = make_case("live")
    files = [(case["items"][0], b"other bytes")]
    with pytest.raises(ReportValidationError, match="item 5 do not match its recorded MD5"):
        send_report(
            client, build_report(case, REPORTER), files, functools.partial(build_file_details, case)
        )
    assert fake.requests == []


def test_invalid_report_xml_is_refused_before_sending(fake: FakeNcmec, client: NcmecClient) -> None:
    with pytest.raises(ReportValidationError):
        send_report(client, b"<report/>", [], functools.partial(build_file_details, make_case()))
    assert fake.requests == []


def test_fake_checks_what_it_is_sent(fake: FakeNcmec, client: NcmecClient) -> None:
    with pytest.raises(NcmecSubmitError, match="responseCode 4100"):
        client.submit(b"<report/>")
    report_id = client.submit(build_report(make_case(), REPORTER))
    with pytest.raises(NcmecSubmitError, match="responseCode 5001"):
        client.upload(report_id + 1, "a.png", b"x")
    with pytest.raises(NcmecSubmitError, match="responseCode 5002"):
        client.file_info(
            build_file_details(make_case(), make_case()["items"][0], report_id, "nope")
        )
    assert client.finish(report_id) == []
    with pytest.raises(NcmecSubmitError, match=r"responseCode 5102 \(Report already finished\)"):
        client.retract(report_id)


def test_upload_file_name_is_made_plain(fake: FakeNcmec, client: NcmecClient) -> None:
    report_id = client.submit(build_report(make_case(), REPORTER))
    client.upload(report_id, '../evil"\r\nX-Injected: 1.png', b"data")
    (stored,) = fake.reports[report_id].files.values()
    assert stored.name == "evil___X-Injected__1.png"


# -- the client without a server ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://report.cybertip.org/ispws",
        "file:///etc/passwd",
        "report.cybertip.org/ispws",
        "http://report.cybertip.org/ispws",
        "https://user:secret@report.cybertip.org/ispws",
        "https://report.cybertip.org/ispws?x=1",
    ],
)
def test_client_refuses_unsafe_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        NcmecClient(url, "u", "p", egress=EgressPolicy.from_settings(get_settings()))


def test_client_accepts_https_and_loopback_http() -> None:
    for url in (
        "https://exttest.cybertip.org/ispws/",
        "http://127.0.0.1:9/ispws",
        "http://[::1]:9/x",
    ):
        NcmecClient(url, "u", "p", egress=EgressPolicy.from_settings(get_settings())).close()


def _error(
    handler: Callable[[httpx.Request], httpx.Response], call: Callable[[NcmecClient], object]
) -> NcmecSubmitError:
    """The error ``call`` raises on a client whose every answer comes from ``handler``."""
    transport = httpx.MockTransport(handler)
    client = NcmecClient(
        "https://ncmec.test/ispws",
        "u",
        "p",
        transport=transport,
        egress=EgressPolicy.from_settings(get_settings()),
    )
    with client, pytest.raises(NcmecSubmitError) as caught:
        call(client)
    return caught.value


def _answer(status: int, body: bytes) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body)


def test_answers_with_entities_are_not_trusted() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<reportResponse><responseCode>0</responseCode><reportId>&x;</reportId></reportResponse>"
    )
    error = _error(_answer(200, body), lambda c: c.submit(build_report(make_case(), REPORTER)))
    assert error.message == "NCMEC refused submit, with an answer that is not CyberTipline XML"


def test_non_xml_and_incomplete_answers() -> None:
    error = _error(_answer(502, b"<html>Bad gateway"), lambda c: c.status())
    assert error.message == (
        "NCMEC refused status (HTTP 502), with an answer that is not CyberTipline XML"
    )
    assert error.http_status == 502
    ok = _answer(200, b"<reportResponse><responseCode>0</responseCode></reportResponse>")
    error = _error(ok, lambda c: c.submit(build_report(make_case(), REPORTER)))
    assert error.message == "NCMEC accepted the report but sent no reportId"
    error = _error(ok, lambda c: c.upload(1, "a.png", b"x"))
    assert error.message == "NCMEC accepted the upload but sent no fileId"


def test_timeouts_and_unreachable_servers_are_clear_errors() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    error = _error(timeout, lambda c: c.submit(b"<report/>"))
    assert (error.message, error.step) == ("NCMEC did not answer submit within 30 s", "submit")
    error = _error(refused, lambda c: c.finish(1))
    assert error.message == "could not reach NCMEC for finish: ConnectError: connection refused"


def test_a_bug_in_the_file_details_builder_still_retracts(
    fake: FakeNcmec, client: NcmecClient
) -> None:
    def broken(item: Any, report_id: int, file_id: str) -> bytes:
        raise RuntimeError("bug")

    case = make_case("upload")
    with pytest.raises(RuntimeError, match="bug"):
        send_report(
            client, build_report(case, REPORTER), [(case["items"][0], UPLOAD_BYTES)], broken
        )
    assert fake.steps == ["submit", "upload", "retract"]


def test_error_codes_are_distinct() -> None:
    codes = {cls.code for cls in (NcmecSubmitError, ReportValidationError, CaseNotConfirmedError)}
    assert codes == {"ncmec_submit_failed", "invalid_ncmec_report", "case_not_confirmed"}
    assert all(issubclass(cls, VangnetError) for cls in (NcmecSubmitError, ReportValidationError))


def test_case_documents_are_not_modified() -> None:
    case = make_case()
    before = copy.deepcopy(case)
    build_report(case, REPORTER)
    build_file_details(case, case["items"][0], 1, "f")
    assert case == before


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("incidentSummary/platform", 256),
        ("internetDetails/chatImIncident/chatRoomName", 255),
        ("reporter/reportingPerson/firstName", 100),
        ("personOrUserReported/espService", 100),
    ],
)
def test_our_schema_holds_the_documented_field_lengths(path: str, limit: int) -> None:
    root = parse(build_report(make_case("live"), REPORTER))
    root.find(path).text = "x" * limit
    validate(etree.tostring(root))
    root.find(path).text = "x" * (limit + 1)
    with pytest.raises(ReportValidationError, match="length"):
        validate(etree.tostring(root))


def test_a_match_found_in_a_region_says_how() -> None:
    """How a match was found (``matches[].found``) goes into the free text of the report and
    of the file (no field of the schema holds it); a whole-picture match says nothing more."""
    case = make_case("upload")
    case["matches"][1]["found"] = {"region": [696, 456, 240, 160], "transform": "identity"}
    case["matches"][0]["found"] = {}
    root = parse(build_file_details(case, case["items"][0], 7, "7-001"))
    lines = root.findtext("additionalInfo").splitlines()
    (distance_6,) = [line for line in lines if "distance 6" in line]
    (distance_9,) = [line for line in lines if "distance 9" in line]
    assert "how found: region 240x160 at (696, 456), transform identity" in distance_6
    assert "how found" not in distance_9
