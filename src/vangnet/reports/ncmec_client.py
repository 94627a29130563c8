"""Send reports to NCMEC's CyberTipline: `NcmecClient` (one method per endpoint) and
`send_report` (the whole submission, retracted again if any step after the submit fails).

NCMEC's ISP Web Services live under a base URL: ``https://report.cybertip.org/ispws``
(`PRODUCTION_URL`), or ``https://exttest.cybertip.org/ispws`` (`TEST_URL`) to try an
integration. Every call uses HTTP Basic auth with the ESP's CyberTipline credentials:

- ``GET /status``: checks the credentials; ``GET /xsd``: NCMEC's current schema.
- ``POST /submit`` (``text/xml``, a ``<report>``): opens a report; answers ``reportId``.
- ``POST /upload`` (multipart: ``id`` = report id, ``file``): answers ``fileId`` and, optionally,
  ``hash``: the MD5 NCMEC computed, which we compare with our own when it is there (without
  it, ours is recorded as not confirmed by NCMEC).
- ``POST /fileinfo`` (``text/xml``, a ``<fileDetails>``): describes an uploaded file.
- ``POST /finish`` (form ``id``): closes the report; answers ``<reportDoneResponse>``.
- ``POST /retract`` (form ``id``): withdraws a report that is not finished.

Each answer is XML with a ``responseCode``: 0 is success, anything else an error (e.g. 4100
validation failed, 5001 no such report, 5101 already retracted, 5102 already finished).
Failures raise `NcmecSubmitError` naming the step; answers are parsed without entity
expansion, DTDs or network access.

An unclear end (``/finish`` timed out or failed) is settled from NCMEC's own answer: the
report is retracted, and a retract answered 5102 means the finish went through, so the report
stands as submitted with its id (nothing is sent again); 5101 means it is already withdrawn.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Final, Literal

import httpx
from lxml import etree

from vangnet.egress.client import EgressTransport
from vangnet.egress.policy import DestinationRefused, EgressPolicy
from vangnet.errors import ExitCode, ValidationError, VangnetError
from vangnet.net import is_loopback
from vangnet.reports.ncmec import ReportValidationError, safe_xml_parser, validate

log = logging.getLogger(__name__)

PRODUCTION_URL: Final = "https://report.cybertip.org/ispws"
TEST_URL: Final = "https://exttest.cybertip.org/ispws"
XML_CONTENT_TYPE: Final = "text/xml; charset=utf-8"

Step = Literal["status", "xsd", "submit", "upload", "fileinfo", "finish", "retract"]
FileDetailsBuilder = Callable[[Mapping[str, Any], int, str], bytes]

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UPLOAD_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class NcmecSubmitError(VangnetError):
    """A call to NCMEC failed or was refused. ``step`` is the endpoint that failed;
    ``report_id`` and ``retracted`` tell whether a report was opened and withdrawn again."""

    code: ClassVar[str] = "ncmec_submit_failed"
    exit_code: ClassVar[int] = ExitCode.ERROR
    status: ClassVar[int] = 502  # an upstream service failed, not the caller's request

    def __init__(
        self,
        message: str,
        *,
        step: Step,
        response_code: int | None = None,
        http_status: int | None = None,
        report_id: int | None = None,
        retracted: bool = False,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.response_code = response_code
        self.http_status = http_status
        self.report_id = report_id
        self.retracted = retracted


FinishKnown = Literal["finished", "already_finished"]
ALREADY_RETRACTED: Final = 5101
ALREADY_FINISHED: Final = 5102


@dataclass(frozen=True)
class SubmitResult:
    report_id: int
    file_ids: tuple[str, ...]  # in the order of the files given to `send_report`
    #: file ids whose upload answer carried no hash: our MD5 stands unconfirmed by NCMEC
    unconfirmed_md5: tuple[str, ...] = ()
    #: how the end was known: "finished" (the /finish answer) or "already_finished" (the
    #: finish was unclear and a retract was answered 5102: the report is finished)
    finish: FinishKnown = "finished"


class NcmecClient:
    """One method per CyberTipline endpoint; each raises `NcmecSubmitError` on failure.

    ``base_url`` must be https (plain http only to a loopback address, for a local test
    server). Proxies are not read from the environment and redirects are not followed.
    Connections pass the egress policy (``egress``, `EgressPolicy.from_settings`: the host's
    addresses checked and pinned, TLS verified); pass an ``httpx`` ``transport`` instead to
    route or mock the traffic."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        egress: EgressPolicy,
        timeout: float = 30,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._base = _checked_base_url(base_url)
        self._timeout = timeout
        if transport is None:
            transport = EgressTransport(egress)
        self._client = httpx.Client(
            auth=httpx.BasicAuth(username, password),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    def __enter__(self) -> NcmecClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- endpoints -----------------------------------------------------------------------------

    def status(self) -> str:
        """Check the connection and credentials; returns NCMEC's description (user and IP)."""
        return _text(self._call("status", "GET", "/status").findtext("responseDescription"))

    def xsd(self) -> bytes:
        """NCMEC's current report schema."""
        response = self._send("xsd", "GET", "/xsd")
        if response.status_code != 200:
            raise self._refused("xsd", response, None)
        return response.content

    def submit(self, xml: bytes) -> int:
        """Open a report from ``<report>`` XML; returns NCMEC's report id."""
        answer = self._call("submit", "POST", "/submit", content=xml, headers=_XML_HEADERS)
        report_id = _int(answer.findtext("reportId"))
        if report_id is None or report_id <= 0:
            raise NcmecSubmitError("NCMEC accepted the report but sent no reportId", step="submit")
        return report_id

    def upload(self, report_id: int, filename: str, data: bytes) -> tuple[str, str]:
        """Attach a file to an open report; returns (fileId, MD5 hex as computed by NCMEC,
        or "" when NCMEC's answer has no hash: the element is optional in its schema)."""
        files = {"file": (_upload_name(filename), data, "application/octet-stream")}
        answer = self._call("upload", "POST", "/upload", data={"id": str(report_id)}, files=files)
        file_id, md5 = _text(answer.findtext("fileId")), _text(answer.findtext("hash"))
        if not file_id:
            raise NcmecSubmitError(
                "NCMEC accepted the upload but sent no fileId",
                step="upload",
                report_id=report_id,
            )
        return file_id, md5.lower()

    def file_info(self, xml: bytes) -> None:
        """Describe an uploaded file with ``<fileDetails>`` XML."""
        self._call("fileinfo", "POST", "/fileinfo", content=xml, headers=_XML_HEADERS)

    def finish(self, report_id: int) -> list[str]:
        """Close the report; returns the file ids NCMEC says it holds."""
        answer = self._call("finish", "POST", "/finish", data={"id": str(report_id)})
        ids = [
            _text(e.text) for e in (*answer.iterfind("files/fileId"), *answer.iterfind("fileId"))
        ]
        return [file_id for file_id in ids if file_id]

    def retract(self, report_id: int) -> None:
        """Withdraw an open (not finished) report."""
        self._call("retract", "POST", "/retract", data={"id": str(report_id)})

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, step: Step, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return self._client.request(method, self._base + path, **options)
        except DestinationRefused:  # nothing was sent
            message = f"the NCMEC URL is refused by the egress policy ({step} not sent)"
        except httpx.TimeoutException:
            message = f"NCMEC did not answer {step} within {self._timeout:g} s"
        except httpx.HTTPError as exc:
            message = f"could not reach NCMEC for {step}: {type(exc).__name__}: {exc}"
        raise NcmecSubmitError(message, step=step)

    def _call(self, step: Step, method: str, path: str, **options: Any) -> Any:
        """Send, parse the XML answer and return its root if responseCode is 0."""
        response = self._send(step, method, path, **options)
        root = _parse(response.content)
        code = _int(root.findtext("responseCode")) if root is not None else None
        if response.status_code != 200 or code != 0:
            raise self._refused(step, response, root)
        return root

    def _refused(self, step: Step, response: httpx.Response, root: Any) -> NcmecSubmitError:
        status = response.status_code
        code = _int(root.findtext("responseCode")) if root is not None else None
        if status == 401 or code == 2000:
            message = f"NCMEC rejected the username or password at {step} (HTTP {status})"
        else:
            message = f"NCMEC refused {step}"
            if code is not None:
                description = _text(root.findtext("responseDescription"))[:200]
                message += f": responseCode {code}" + (f" ({description})" if description else "")
            if status != 200:
                message += f" (HTTP {status})"
            if root is None and step != "xsd":
                message += ", with an answer that is not CyberTipline XML"
        return NcmecSubmitError(message, step=step, response_code=code, http_status=status)


def send_report(
    client: NcmecClient,
    report_xml: bytes,
    files: Sequence[tuple[Mapping[str, Any], bytes]],
    file_details: FileDetailsBuilder,
) -> SubmitResult:
    """Submit a report with its files: submit, then upload + fileinfo per file, then finish.

    ``files`` are (case item, item bytes); ``file_details(item, report_id, file_id)`` builds
    each ``<fileDetails>`` (e.g. ``functools.partial(build_file_details, case)``). The XML and
    the bytes are checked before anything is sent (schema; the item's recorded MD5). If a step
    after the submit fails, or NCMEC's MD5 of an upload differs from ours, the report is
    retracted and `NcmecSubmitError` names the step; nothing half-sent is left open."""
    validate(report_xml)
    digests = []
    for item, data in files:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        recorded = str(item.get("md5") or "").lower()
        if recorded and recorded != digest:
            raise ReportValidationError(
                f"the bytes of item {item.get('id')} do not match its recorded MD5; "
                "nothing was sent"
            )
        digests.append(digest)
    report_id = client.submit(report_xml)  # on failure no report exists: nothing to retract
    step: Step = "submit"
    where = ""
    file_ids: list[str] = []
    unconfirmed: list[str] = []
    try:
        for index, ((item, data), digest) in enumerate(zip(files, digests, strict=True), 1):
            where = f" of file {index}/{len(files)} (item {item.get('id')})"
            step = "upload"
            file_id, md5 = client.upload(report_id, str(item.get("filename") or ""), data)
            if not md5:  # optional in NCMEC's answer: ours is recorded, unconfirmed
                unconfirmed.append(file_id)
            elif md5 != digest:
                raise NcmecSubmitError(
                    f"NCMEC computed MD5 {md5[:64]} for the upload, ours is {digest}",
                    step="upload",
                )
            step = "fileinfo"
            details = file_details(item, report_id, file_id)
            validate(details)
            client.file_info(details)
            file_ids.append(file_id)
        step, where = "finish", ""
        finished = client.finish(report_id)
    except BaseException as exc:
        retracted, outcome, finished_already = _retract(client, report_id)
        if finished_already and step == "finish" and len(file_ids) == len(files):
            # the finish went through although its answer did not reach us: the report stands
            log.warning(
                "NCMEC report %s: finish was unclear (%s); NCMEC says it is finished",
                report_id,
                exc,
            )
            return SubmitResult(
                report_id=report_id,
                file_ids=tuple(file_ids),
                unconfirmed_md5=tuple(unconfirmed),
                finish="already_finished",
            )
        if not isinstance(exc, VangnetError):
            raise  # a bug or an interrupt: the report is retracted, the traceback kept
        raise NcmecSubmitError(
            f"NCMEC report {report_id} failed at {step}{where}: {exc.message}; {outcome}",
            step=step,
            response_code=getattr(exc, "response_code", None),
            http_status=getattr(exc, "http_status", None),
            report_id=report_id,
            retracted=retracted,
        ) from None
    if sorted(finished) != sorted(file_ids):
        log.warning(
            "NCMEC report %s finished listing files %s, uploaded %s", report_id, finished, file_ids
        )
    log.info("NCMEC report %s finished with %d file(s)", report_id, len(file_ids))
    return SubmitResult(
        report_id=report_id, file_ids=tuple(file_ids), unconfirmed_md5=tuple(unconfirmed)
    )


def _retract(client: NcmecClient, report_id: int) -> tuple[bool, str, bool]:
    """Withdraw a report after a failed step: (retracted, what happened, already finished).

    NCMEC's answer codes settle what state the report is in: 5101 (already retracted) is a
    withdrawn report; 5102 (already finished) is a report NCMEC holds as submitted."""
    try:
        client.retract(report_id)
    except NcmecSubmitError as exc:
        if exc.response_code == ALREADY_RETRACTED:
            log.warning("NCMEC report %s was already retracted", report_id)
            return True, "the report was already retracted at NCMEC", False
        if exc.response_code == ALREADY_FINISHED:
            log.error("NCMEC report %s is finished: it cannot be retracted", report_id)
            return (
                False,
                f"NCMEC says report {report_id} is already finished: it stands as submitted "
                "(do not send it again)",
                True,
            )
        log.error("could not retract NCMEC report %s: %s", report_id, exc.message)
        return (
            False,
            f"retracting it failed too ({exc.message}): its state at NCMEC is unknown; "
            f"ask NCMEC about report {report_id} before any new submission of this case",
            False,
        )
    log.warning("retracted NCMEC report %s after a failed submission", report_id)
    return True, "the report was retracted", False


_XML_HEADERS: Final = {"Content-Type": XML_CONTENT_TYPE}


def _checked_base_url(base_url: str) -> str:
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError):
        raise ValidationError(f"not a valid NCMEC URL: {base_url!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError(
            "the NCMEC URL must be https://host/... (e.g. " + PRODUCTION_URL + ")"
        )
    if url.scheme == "http" and not is_loopback(url.host):
        raise ValidationError(
            "the NCMEC URL must use https; plain http only to a loopback test server"
        )
    if url.userinfo or url.query or url.fragment:
        raise ValidationError("the NCMEC URL must not carry credentials, a query or a fragment")
    return str(url).rstrip("/")


def _parse(body: bytes) -> Any:
    """The root of an XML answer, or None when it is not one (or carries a DOCTYPE)."""
    if not body.strip():
        return None
    try:
        root = etree.fromstring(body, safe_xml_parser())
    except etree.XMLSyntaxError:
        return None
    return None if root.getroottree().docinfo.doctype else root


def _text(value: str | None) -> str:
    return _UNPRINTABLE.sub(" ", value or "").strip()


def _int(value: str | None) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def _upload_name(filename: str) -> str:
    """A plain file name for the multipart header; the original goes in fileDetails."""
    name = _UPLOAD_NAME_UNSAFE.sub("_", posixpath.basename(filename.replace("\\", "/")))
    return name.strip("._")[:200] or "file"
