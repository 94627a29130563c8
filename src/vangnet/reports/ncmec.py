"""NCMEC CyberTipline report XML, built from a confirmed case document.

`build_report` gives the ``<report>`` for ``POST /submit``; `build_file_details` gives the
``<fileDetails>`` for ``POST /fileinfo`` of one uploaded case item. Both take the plain case
document (`vangnet.review.cases.case_document`), refuse a case that is not confirmed, build
every element through lxml (user data is never pasted into markup; characters XML cannot
carry become U+FFFD) and check the result against ``ncmec_report.xsd`` (`validate`), the
subset of NCMEC's schema that Vangnet emits. Sending is `vangnet.reports.ncmec_client`.

Element names, order and meaning follow NCMEC's ISP Web Services documentation as public
clients implement it. Two choices worth knowing:

- Live streaming is not a report-level tag: ``reportAnnotations`` only knows sextortion,
  csamSolicitation, minorToMinorInteraction, spam and sadisticOnlineExploitation. NCMEC's
  tag is the file annotation ``<fileAnnotations><liveStreaming/></fileAnnotations>``
  ("the file depicts content that was streamed live"), set on every frame of a live case.
- A live case is described as a ``chatImIncident`` (the documented type for "IM or a chat
  session": chatClient = the platform, chatRoomName = the stream's external id), because
  what we know is a session on an app, not a web page URL (the stream URL we hold is a
  redacted ingest URL). An upload case is a ``webPageIncident`` without URL: the platform
  and content id go in its additionalInfo. A stream still running when the report is built
  is escalated (``escalateToHighPriority``): a child may be being abused right now.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Final

from lxml import etree

from vangnet.banks.categories import Category
from vangnet.cases.document import CaseDocument
from vangnet.cases.found import describe
from vangnet.errors import ConflictError, ValidationError
from vangnet.reports.context_summary import context_lines

DEFAULT_INCIDENT_TYPE: Final = "Child Pornography (possession, manufacture, and distribution)"
XSD_NAME: Final = "ncmec_report.xsd"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION: Final = "https://report.cybertip.org/ispws/xsd"
LONG: Final = 60000  # our own cap on the free-text fields NCMEC sets no length for
#: Documented lengths of the text fields Vangnet fills (``parent/element``), as NCMEC's report
#: schema sets them; longer text is cut there (with an ellipsis). ``ncmec_report.xsd`` holds
#: the same limits. Identifiers, times, addresses and enumerations are never cut: a value that
#: does not fit fails validation instead.
FIELD_LENGTHS: Final[dict[str, int]] = {
    "incidentSummary/platform": 256,
    "incidentSummary/escalateToHighPriority": 3000,
    "incidentSummary/incidentDateTimeDescription": 3000,
    "chatImIncident/chatClient": 255,
    "chatImIncident/chatRoomName": 255,
    "reportingPerson/firstName": 100,
    "reportingPerson/lastName": 100,
    "personOrUserReported/espIdentifier": 255,
    "personOrUserReported/espService": 100,
    "personOrUserReported/screenName": 256,
    "fileDetails/originalFileName": 2056,
    "nameValuePair/name": 64,
    "*/additionalInfo": LONG,
    "*/companyTemplate": LONG,
    "*/content": LONG,
}
MAX_LISTED_MATCHES: Final = 50

Case = CaseDocument

# Characters XML 1.0 cannot carry (C0 controls but tab/LF/CR, surrogates, U+FFFE/U+FFFF),
# plus DEL and C1 controls, which it can but which only ever hide things in a report.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_HEX = re.compile(r"[0-9A-Fa-f]{16,128}")
_schema_lock = threading.Lock()


class ReportValidationError(ValidationError):
    """A report or file-details document (or the case it is built from) is not valid."""

    code = "invalid_ncmec_report"


class CaseNotConfirmedError(ConflictError):
    """Only confirmed cases are reported to NCMEC."""

    code = "case_not_confirmed"


class CaseNotReportableError(ConflictError):
    """The case was decided "not illegal" (or is an investigation): nothing to report."""

    code = "case_not_reportable"


@dataclass(frozen=True)
class Reporter:
    """The person at the reporting company whom NCMEC and police may contact."""

    first_name: str
    last_name: str
    email: str
    phone: str = ""
    company: str = ""  # sent as companyTemplate: company name, legal-process contact, ...


def safe_xml_parser() -> Any:
    """A new lxml parser that neither expands entities nor touches the network or DTDs."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@cache
def _schema() -> Any:
    data = resources.files(__package__).joinpath(XSD_NAME).read_bytes()
    return etree.XMLSchema(etree.fromstring(data, safe_xml_parser()))


def validate(xml: bytes) -> None:
    """Check a ``<report>`` or ``<fileDetails>`` document against ``ncmec_report.xsd``;
    raises `ReportValidationError` naming the first failing lines."""
    try:
        document = etree.fromstring(xml, safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        raise ReportValidationError(f"NCMEC XML is not well-formed: {exc}") from None
    with _schema_lock:
        schema = _schema()
        if schema.validate(document):
            return
        problems = [f"line {entry.line}: {entry.message}" for entry in schema.error_log]
    shown = "; ".join(problems[:5]) + (
        f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    )
    raise ReportValidationError(f"NCMEC XML does not match the schema: {shown}")


# -- public builders ---------------------------------------------------------------------------


def build_report(
    case: Case, reporter: Reporter, *, incident_type: str = DEFAULT_INCIDENT_TYPE
) -> bytes:
    """The validated ``<report>`` XML (UTF-8, with declaration) for a confirmed case."""
    _require_confirmed(case)
    root = _root("report")
    _incident_summary(root, case, incident_type)
    _internet_details(root, case)
    _reporter(root, reporter)
    _person_or_user_reported(root, case)
    _add(root, "additionalInfo", _case_summary(case))
    return _finish(root)


def build_file_details(case: Case, item: Mapping[str, Any], report_id: int, file_id: str) -> bytes:
    """The validated ``<fileDetails>`` XML for one case item uploaded as ``file_id``."""
    _require_confirmed(case)
    if item.get("id") not in {other.get("id") for other in _list(case, "items")}:
        raise ReportValidationError(f"item {item.get('id')} is not part of case {case.get('id')}")
    subject = _subject(case)
    frame = item.get("kind") == "frame" or case.get("kind") == "live"
    matched = bool(item.get("matched")) or any(
        m.get("item_id") == item.get("id") for m in _list(case, "matches")
    )
    root = _root("fileDetails")
    _add(root, "reportId", str(int(report_id)))
    _add(root, "fileId", file_id)
    _add(root, "originalFileName", posixpath.basename(str(item.get("filename") or "")))
    if not frame and item.get("captured_at"):
        _add(root, "uploadedToEspTimestamp", _when(item["captured_at"], "item captured_at"))
    # only what the records show: a person at the ESP saw this file in the clear (a recorded
    # reveal, or a case report with clear previews); a decision alone is no such record
    _add(root, "fileViewedByEsp", _xml_bool(bool(item.get("viewed_by"))))
    if isinstance(subject.get("public"), bool):
        _add(root, "publiclyAvailable", _xml_bool(subject["public"]))
    _add(root, "fileRelevance", "Reported" if matched else "Supplemental Reported")
    if frame:
        etree.SubElement(etree.SubElement(root, "fileAnnotations"), "liveStreaming")
    hashes = [(name, _hex(item.get(key))) for name, key in _EXACT_HASHES]
    if not frame:  # the bytes the user uploaded: NCMEC's "original file hash"
        for name, value in hashes:
            if value:
                etree.SubElement(root, "originalFileHash", hashType=name).text = value
        # the IP the platform sent with this very upload, at the time the upload arrived
        ip = _ip(item.get("ip"))
        if ip and item.get("captured_at"):
            _ip_capture_event(root, ip, "Upload", _when(item["captured_at"], "item captured_at"))
    pairs = [] if not frame else [(name, value) for name, value in hashes if value]
    if _hex(item.get("pdq")):
        pairs.append(("PDQ", str(item["pdq"]).lower()))
    if pairs:  # a frame was made by us, not uploaded: its hashes are details, not "original"
        details = etree.SubElement(root, "details", type="HASH")
        for name, value in pairs:
            pair = etree.SubElement(details, "nameValuePair")
            _add(pair, "name", name)
            _add(pair, "value", value)
    _add(root, "additionalInfo", _item_summary(case, item))
    return _finish(root)


# -- report sections ---------------------------------------------------------------------------

_EXACT_HASHES: Final = (("MD5", "md5"), ("SHA1", "sha1"), ("SHA256", "sha256"))


def _incident_summary(root: Any, case: Case, incident_type: str) -> None:
    subject = _subject(case)
    live = case.get("kind") == "live"
    summary = etree.SubElement(root, "incidentSummary")
    _add(summary, "incidentType", incident_type)
    _add(summary, "platform", subject.get("platform"))
    if live and subject.get("live") is True:
        _add(
            summary,
            "escalateToHighPriority",
            "The live stream was still running when this report was made: "
            "a child may be being abused now.",
        )
    first_at, first_match = _first_detection(case)
    _add(summary, "incidentDateTime", first_at)
    if live:
        where = (
            f" of live stream {subject['stream_external_id']}"
            if subject.get("stream_external_id")
            else " of a live stream"
        )
        offset = ""
        if first_match and isinstance(first_match.get("stream_time"), int | float):
            offset = f", {float(first_match['stream_time']):.1f} s into the stream"
        text = f"Time (UTC) Vangnet first matched a frame{where}{offset}."
    else:
        text = "Time (UTC) Vangnet first matched the uploaded content."
    _add(summary, "incidentDateTimeDescription", text)


def _internet_details(root: Any, case: Case) -> None:
    subject = _subject(case)
    details = etree.SubElement(root, "internetDetails")
    if case.get("kind") == "live":
        chat = etree.SubElement(details, "chatImIncident")
        _add(chat, "chatClient", subject.get("platform"))
        _add(chat, "chatRoomName", subject.get("stream_external_id"))
        lines = ["Live video stream watched by Vangnet (frames sampled and hash-matched)."]
        if subject.get("viewers") is not None:
            lines.append(f"Viewers when detected: {subject['viewers']}.")
        if isinstance(subject.get("live"), bool):
            lines.append(f"Stream still live when reported: {'yes' if subject['live'] else 'no'}.")
        if subject.get("stream_url_display"):
            lines.append(f"Stream URL (secret parts redacted): {subject['stream_url_display']}")
        _add(chat, "additionalInfo", "\n".join(lines))
    else:
        page = etree.SubElement(details, "webPageIncident")
        parts = [f"Content uploaded to {subject.get('platform') or 'the platform'}"]
        if subject.get("content_id"):
            parts.append(f"with content id {subject['content_id']}")
        if subject.get("uploader"):
            parts.append(f"by {subject['uploader']}")
        _add(page, "additionalInfo", " ".join(parts) + ".")


def _reporter(root: Any, reporter: Reporter) -> None:
    section = etree.SubElement(root, "reporter")
    person = etree.SubElement(section, "reportingPerson")
    _add(person, "firstName", reporter.first_name)
    _add(person, "lastName", reporter.last_name)
    _add(person, "phone", reporter.phone)
    _add(person, "email", reporter.email)
    _add(section, "companyTemplate", reporter.company)


def _person_or_user_reported(root: Any, case: Case) -> None:
    subject = _subject(case)
    section = etree.Element("personOrUserReported")
    notes: list[str] = []
    email = _text(subject.get("email"), None)
    if email and _EMAIL.fullmatch(email) and len(email) <= 254:
        person = etree.SubElement(section, "personOrUserReportedPerson")
        _add(person, "email", email)
    elif email:
        notes.append(f"Email as given by the platform (not a valid address): {email}")
    account, uploader = subject.get("account"), subject.get("uploader")
    _add(section, "espIdentifier", account or uploader)
    _add(section, "espService", subject.get("platform"))
    _add(section, "screenName", uploader or account)
    ip = _ip(subject.get("ip"))
    if ip:
        live = case.get("kind") == "live"
        recorded = subject.get("ip_at")
        at = _when(recorded, "subject ip_at") if recorded else None
        _ip_capture_event(section, ip, "Other" if live else "Upload", at)
        notes.append(
            "The IP address is the one the platform gave with the "
            + ("stream" if live else "upload")
            + (
                "; its time is when Vangnet received it with the "
                + ("stream's registration." if live else "upload.")
                if at
                else "; the time it was recorded is not known."
            )
        )
    elif subject.get("ip"):
        notes.append(f"IP address as given by the platform (not valid): {subject['ip']}")
    if subject.get("content_id"):
        notes.append(f"Platform content id: {subject['content_id']}")
    if subject.get("stream_external_id"):
        notes.append(f"Platform stream id: {subject['stream_external_id']}")
    _add(section, "additionalInfo", "\n".join(notes))
    if len(section):
        root.append(section)


def _ip_capture_event(parent: Any, ip: str, event: str, at: str | None) -> None:
    capture = etree.SubElement(parent, "ipCaptureEvent")
    _add(capture, "ipAddress", ip)
    _add(capture, "eventName", event)
    _add(capture, "dateTime", at)


def _case_summary(case: Case) -> str:
    kind = "live stream" if case.get("kind") == "live" else "upload"
    title = f": {case['title']}" if case.get("title") else ""
    lines = [f"Vangnet case {case.get('id')}{title}"]
    lines.append(f"Case key: {case.get('key')}; kind: {kind}; category: {case.get('category')}")
    lines.append("Review decisions:")
    for decision in _list(case, "decisions"):
        line = f"- {_when_or_raw(decision.get('at'))} {decision.get('actor')}: "
        line += str(decision.get("decision"))
        if decision.get("category"):
            line += f", category {decision['category']}"
        if decision.get("note"):
            line += f"; note: {decision['note']}"
        lines.append(line)
    priority = case.get("priority") or {}
    if priority:
        lines.append(f"Priority score {priority.get('score')}:")
        lines.extend(f"- {reason}" for reason in priority.get("reasons") or [])
    matches = sorted(_list(case, "matches"), key=lambda m: _when_or_raw(m.get("at")))
    lines.append(f"Hash matches ({len(matches)}):")
    lines.extend(f"- {_match_line(m)}" for m in matches[:MAX_LISTED_MATCHES])
    if len(matches) > MAX_LISTED_MATCHES:
        lines.append(f"- ... and {len(matches) - MAX_LISTED_MATCHES} more")
    lines.append(f"Files attached: {len(_list(case, 'items'))} preserved item(s) of this case.")
    lines.extend(context_lines(case.get("context") or {}))
    return "\n".join(lines)


def _item_summary(case: Case, item: Mapping[str, Any]) -> str:
    subject = _subject(case)
    if item.get("kind") == "frame":
        where = f"frame of live stream {subject.get('stream_external_id') or ''}".rstrip()
        if isinstance(item.get("stream_time"), int | float):
            where += f" at {float(item['stream_time']):.1f} s"
    else:
        where = "uploaded file"
    lines = [f"Vangnet item {item.get('id')}: {where}."]
    if item.get("captured_at"):
        lines.append(f"Captured by Vangnet: {_when_or_raw(item['captured_at'])}.")
    shape = f"{item.get('media_type') or 'unknown type'}, {item.get('size')} bytes"
    if item.get("width") and item.get("height"):
        shape += f", {item['width']}x{item['height']}"
    lines.append(f"Media: {shape}.")
    own = [m for m in _list(case, "matches") if m.get("item_id") == item.get("id")]
    lines.extend(f"Matched: {_match_line(m)}" for m in own[:MAX_LISTED_MATCHES])
    if not own and not item.get("matched"):
        lines.append("Not itself matched; supplied as context for the reported files.")
    return "\n".join(lines)


def _match_line(match: Mapping[str, Any]) -> str:
    line = f"{_when_or_raw(match.get('at'))} bank {match.get('bank')}, {match.get('signal_type')}"
    if match.get("distance") is not None:
        line += f" distance {match['distance']}"
    if match.get("category"):
        line += f", category {match['category']}"
    banked = match.get("banked") or {}
    for key in ("series", "source", "external_id"):
        if banked.get(key):
            line += f", {key.replace('_', ' ')} {banked[key]}"
    if isinstance(match.get("stream_time"), int | float):
        start, end = float(match["stream_time"]), match.get("stream_time_end")
        if isinstance(end, int | float) and float(end) > start:
            line += f", stream time {start:.1f}-{float(end):.1f} s"
        else:
            line += f", stream time {start:.1f} s"
        if isinstance(match.get("frames"), int) and match["frames"] > 1:
            line += f" ({match['frames']} matched frames, all kept in the alert)"
    found = match.get("found")
    if isinstance(found, Mapping) and found:
        line += f", how found: {describe(found)}"
    if match.get("item_id") is not None:
        line += f", item {match['item_id']}"
    return line


# -- helpers -----------------------------------------------------------------------------------


def require_reportable(case: Mapping[str, Any]) -> None:
    """Refuse a case that is not confirmed, was decided "not illegal", or is an
    investigation (`CaseNotConfirmedError`, `CaseNotReportableError`)."""
    _require_confirmed(case)


def _require_confirmed(case: Mapping[str, Any]) -> None:
    status = case.get("status")
    if case.get("kind") == "investigation":
        raise CaseNotReportableError(
            f"case {case.get('id')} is an investigation: it is not reported from the review queue"
        )
    if status != "confirmed":
        raise CaseNotConfirmedError(
            f"case {case.get('id')} is {status}, not confirmed: "
            "only confirmed cases are reported to NCMEC"
        )
    category = case.get("category")
    if category and not _reportable(str(category)):
        raise CaseNotReportableError(
            f"case {case.get('id')} was confirmed as {category}, which is not illegal material: "
            "it is not reported to NCMEC"
        )


def _reportable(category: str) -> bool:
    try:
        return Category.parse(category).reportable
    except ValidationError:
        return False


def _first_detection(case: Case) -> tuple[str, Mapping[str, Any] | None]:
    """The first match (else alert, else case creation) time, and that match if any."""
    matches = [m for m in _list(case, "matches") if m.get("at")]
    if matches:
        first = min(matches, key=lambda m: _parse_time(m["at"], "match at"))
        return _when(first["at"], "match at"), first
    events = [e["at"] for e in _list(case, "timeline") if e.get("kind") in ("match", "alert")]
    events = [at for at in events if at]
    if events:
        return _when(min(events, key=lambda at: _parse_time(at, "timeline at")), "at"), None
    if case.get("created_at"):
        return _when(case["created_at"], "case created_at"), None
    raise ReportValidationError(f"case {case.get('id')} has no match, alert or creation time")


def _parse_time(value: Any, what: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value))
        except ValueError:
            raise ReportValidationError(f"{what} is not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ReportValidationError(f"{what} has no UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def _when(value: Any, what: str) -> str:
    return _parse_time(value, what).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when_or_raw(value: Any) -> str:
    """For free text: the normalized time if it parses, else the value as given."""
    try:
        return _when(value, "time")
    except ReportValidationError:
        return str(value)


def _subject(case: Case) -> Mapping[str, Any]:
    subject = case.get("subject")
    return subject if isinstance(subject, Mapping) else {}


def _list(case: Case, key: str) -> list[Mapping[str, Any]]:
    value = case.get(key)
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | Mapping):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def _ip(value: Any) -> str | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        return None


def _hex(value: Any) -> str | None:
    text = str(value or "")
    return text.lower() if _HEX.fullmatch(text) else None


def _xml_bool(value: bool) -> str:
    return "true" if value else "false"


def field_length(parent: str, tag: str) -> int | None:
    """The documented length of text element ``tag`` under ``parent`` (None: not cut)."""
    return FIELD_LENGTHS.get(f"{parent}/{tag}", FIELD_LENGTHS.get(f"*/{tag}"))


def _text(value: Any, limit: int | None) -> str | None:
    """``value`` as XML-safe text of at most ``limit`` characters; None when empty."""
    if value is None:
        return None
    text = _UNSAFE_CHARS.sub("\ufffd", str(value))
    if not text.strip():
        return None
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "\u2026"


def _add(parent: Any, tag: str, value: Any) -> None:
    """Append ``<tag>value</tag>`` unless the value is empty; free text is cut at the
    field's documented length (`FIELD_LENGTHS`)."""
    text = _text(value, field_length(str(parent.tag), tag))
    if text is not None:
        etree.SubElement(parent, tag).text = text


def _root(tag: str) -> Any:
    root = etree.Element(tag, nsmap={"xsi": XSI})
    root.set(f"{{{XSI}}}noNamespaceSchemaLocation", SCHEMA_LOCATION)
    return root


def _finish(root: Any) -> bytes:
    # pretty-printed (whitespace between elements only) so error line numbers mean something
    xml = bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    validate(xml)
    return xml
