"""A fake NCMEC CyberTipline (ISP Web Services) on 127.0.0.1, for tests only.

It speaks the documented endpoints under ``/ispws`` and checks what a client sends: HTTP
Basic auth, content types, ``<report>`` and ``<fileDetails>`` against Vangnet's XSD, that an
upload goes to an open report, that file details name a file of that report, and that only
open reports are finished or retracted. Every request is recorded in order (``steps`` gives
the endpoint names), and `FakeNcmec.fail` makes the next call of a step answer HTTP 500 or a
non-zero ``responseCode``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qs

from lxml import etree

from vangnet.reports.ncmec import ReportValidationError, safe_xml_parser, validate

BASE_PATH = "/ispws"
USERNAME = "vangnet-esp"
PASSWORD = "correct horse battery staple"

State = Literal["open", "finished", "retracted"]


@dataclass
class Recorded:
    method: str
    endpoint: str  # e.g. "/submit"
    headers: dict[str, str]
    body: bytes
    fields: dict[str, str] = field(default_factory=dict)  # form or multipart text fields
    file_name: str | None = None
    file_data: bytes | None = None


@dataclass
class FakeFile:
    file_id: str
    name: str
    data: bytes
    details: bytes | None = None


@dataclass
class FakeReport:
    report_id: int
    xml: bytes
    state: State = "open"
    files: dict[str, FakeFile] = field(default_factory=dict)


@dataclass
class Failure:
    http_status: int
    response_code: int
    description: str


@dataclass
class FakeNcmec:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    reports: dict[int, FakeReport] = field(default_factory=dict)
    failures: dict[str, Failure] = field(default_factory=dict)
    wrong_md5: bool = False  # answer uploads with an MD5 that is not the file's
    omit_hash: bool = False  # answer uploads without <hash> (optional in NCMEC's schema)
    lose_finish_answer: bool = False  # finish the report, but answer the finish with HTTP 504
    next_report_id: int = 4_200_001
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(
        self,
        step: str,
        *,
        http_status: int = 500,
        response_code: int = 1000,
        description: str = "Server error",
    ) -> None:
        """Make the next call of ``step`` (e.g. "upload") fail this way. HTTP 200 with a
        non-zero ``response_code`` is a refusal in the body only."""
        self.failures[step] = Failure(http_status, response_code, description)

    @property
    def steps(self) -> list[str]:
        return [r.endpoint.lstrip("/") for r in self.requests]


def _response(root_tag: str, **values: Any) -> bytes:
    root = etree.Element(root_tag)
    for tag, value in values.items():
        if isinstance(value, list):
            files = etree.SubElement(root, tag)
            for file_id in value:
                etree.SubElement(files, "fileId").text = file_id
        elif value is not None:
            etree.SubElement(root, tag).text = str(value)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _answer(code: int, description: str = "", **values: Any) -> bytes:
    return _response(
        "reportResponse",
        responseCode=code,
        responseDescription=description or ("Success" if code == 0 else "Error"),
        **values,
    )


class _Refused(Exception):
    def __init__(self, http_status: int, code: int, description: str) -> None:
        super().__init__(description)
        self.http_status, self.code, self.description = http_status, code, description


@contextmanager
def run_fake_ncmec() -> Iterator[FakeNcmec]:
    state = FakeNcmec()

    def expect_type(request: Recorded, prefix: str) -> None:
        if not request.headers.get("content-type", "").startswith(prefix):
            raise _Refused(400, 4000, f"Invalid request: content type must be {prefix}")

    def expect_valid(body: bytes) -> None:
        try:
            validate(body)
        except ReportValidationError as exc:
            raise _Refused(400, 4100, f"Validation failed: {exc.message}") from None

    def open_report(raw_id: str) -> FakeReport:
        try:
            report = state.reports[int(raw_id)]
        except (KeyError, ValueError):
            raise _Refused(400, 5001, "Report does not exist") from None
        if report.state == "retracted":
            raise _Refused(400, 5101, "Report already retracted")
        if report.state == "finished":
            raise _Refused(400, 5102, "Report already finished")
        return report

    def handle(request: Recorded) -> tuple[int, bytes]:
        endpoint = request.endpoint
        if endpoint == "/status" and request.method == "GET":
            return 200, _answer(0, f"Remote User : {USERNAME}, Remote Ip : 127.0.0.1")
        if endpoint == "/xsd" and request.method == "GET":
            return 200, resources.files("vangnet.reports").joinpath("ncmec_report.xsd").read_bytes()
        if request.method != "POST":
            raise _Refused(405, 4000, "Invalid request")
        if endpoint == "/submit":
            expect_type(request, "text/xml")
            expect_valid(request.body)
            report = FakeReport(state.next_report_id, request.body)
            state.reports[report.report_id] = report
            state.next_report_id += 1
            return 200, _answer(0, reportId=report.report_id)
        if endpoint == "/upload":
            expect_type(request, "multipart/form-data")
            if request.file_data is None or "id" not in request.fields:
                raise _Refused(400, 4200, "Malformed file submittal")
            report = open_report(request.fields["id"])
            file_id = f"{report.report_id}-{len(report.files) + 1:03d}"
            report.files[file_id] = FakeFile(file_id, request.file_name or "", request.file_data)
            md5 = hashlib.md5(request.file_data, usedforsecurity=False).hexdigest()
            md5 = md5[::-1] if state.wrong_md5 else md5
            if state.omit_hash:
                return 200, _answer(0, reportId=report.report_id, fileId=file_id)
            return 200, _answer(0, reportId=report.report_id, fileId=file_id, hash=md5)
        if endpoint == "/fileinfo":
            expect_type(request, "text/xml")
            expect_valid(request.body)
            details = etree.fromstring(request.body, safe_xml_parser())
            report = open_report(details.findtext("reportId") or "")
            file_id = details.findtext("fileId") or ""
            if file_id not in report.files:
                raise _Refused(400, 5002, "File does not exist")
            report.files[file_id].details = request.body
            return 200, _answer(0, reportId=report.report_id)
        if endpoint in ("/finish", "/retract"):
            expect_type(request, "application/x-www-form-urlencoded")
            report = open_report(request.fields.get("id", ""))
            if endpoint == "/retract":
                report.state = "retracted"
                return 200, _answer(0, reportId=report.report_id)
            report.state = "finished"
            if state.lose_finish_answer:  # done at NCMEC; the answer never reaches the client
                state.lose_finish_answer = False
                return 504, b"<html>Gateway Timeout</html>"
            files = list(report.files)
            return 200, _response(
                "reportDoneResponse", responseCode=0, reportId=report.report_id, files=files
            )
        raise _Refused(404, 1210, "Resource not found")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            path = self.path.split("?", 1)[0]
            request = Recorded(method, path.removeprefix(BASE_PATH), headers, body)
            _read_fields(request)
            with state.lock:
                state.requests.append(request)
                status, answer, extra = self._decide(request, path)
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=UTF-8")
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def _decide(self, request: Recorded, path: str) -> tuple[int, bytes, dict[str, str]]:
            if not path.startswith(BASE_PATH + "/"):
                return 404, b"", {}
            if not _authorized(request.headers.get("authorization", "")):
                return (
                    401,
                    b"<html><body>Unauthorized</body></html>",
                    {"WWW-Authenticate": 'Basic realm="ispws"'},
                )
            failure = state.failures.pop(request.endpoint.lstrip("/"), None)
            if failure is not None:
                answer = _answer(failure.response_code, failure.description)
                return failure.http_status, answer, {}
            try:
                status, answer = handle(request)
            except _Refused as refused:
                return refused.http_status, _answer(refused.code, refused.description), {}
            return status, answer, {}

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _authorized(header: str) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return (user, password) == (USERNAME, PASSWORD)


def _read_fields(request: Recorded) -> None:
    """Fill ``fields`` (and the file) from a urlencoded or multipart body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        parsed = parse_qs(request.body.decode("utf-8", "replace"))
        request.fields = {key: values[0] for key, values in parsed.items()}
    elif content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = message_from_bytes(head + request.body, policy=HTTP)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                request.file_name, request.file_data = part.get_filename(), payload
            elif isinstance(name, str):
                request.fields[name] = payload.decode("utf-8", "replace")
