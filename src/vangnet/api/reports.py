"""Reports over the API, for machines (API keys): the report formats installed, filing a
report of cases in one of them, and a filed report's record.

A report is filed exactly as the CLI's ``vangnet report render`` and the case page's report
form file it (`vangnet.reports.service.file_report`): a `Report` row per case, a timeline
event per case, chain-of-custody entries per item and one audit entry (``report.html``,
``report.pdf``, ``report.vics``, ``report.format.NAME`` for a plug-in), under the key's name.

The answer to a filing is the document itself (201, the format's media type, an attachment
with its file name, never cached) with what was recorded in headers: the report ids, the
document's SHA-256 (``Repr-Digest``, RFC 9530; the same digest is in each report's record
and the audit entry) and ``Location``, the first report's record. The bytes are not kept by
Vangnet (a report may hold clear previews of suspected abuse material): the caller keeps
the document it was given; ``GET /v1/reports/{id}`` answers what was filed, and its digest.

Refusals record nothing: an unknown format (404 ``unknown_report_format``), a case that does
not exist (404), more cases than the format holds or clear previews for a format without
media (400 ``invalid_value``), a malformed body (400 ``invalid_request``), a role without the
report permission (403), clear previews for a role that may not reveal media (403).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.auth.keys import Permission
from vangnet.errors import ForbiddenError, NotFoundError
from vangnet.http.deps import MAX_ID, Caller, RowId, Services, require, services, writer_session
from vangnet.reports import service as reporting
from vangnet.reports.formats import BUILT_IN, failed_report_formats, report_formats
from vangnet.review import cases
from vangnet.review.priority import PriorityWeights
from vangnet.store.models import Report

router = APIRouter(prefix="/v1", tags=["reports"])

ReportP = Annotated[Caller, Depends(require(Permission.REPORT))]
WriterDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]

#: Cases one filing may name (the case in the path and the others): the most any built-in
#: format holds (VICS); a format's own ``max_cases`` refuses fewer.
MAX_CASES = reporting.MAX_VICS_CASES
CaseId = Annotated[int, Field(ge=1, le=MAX_ID)]


class ReportFormatInfo(BaseModel):
    """A report format a report can be filed with."""

    name: str = Field(description="What to send as `format`; the `kind` of its reports.")
    description: str
    media_type: str = Field(description="The Content-Type of its documents.")
    extension: str = Field(description="File-name extension of its documents, without dot.")
    max_cases: int = Field(description="At most this many cases in one document.")
    reads_media: bool = Field(
        description="It shows media (blurred previews; clear ones with `include_clear`)."
    )
    built_in: bool = Field(description="Ships with Vangnet (else a plug-in).")


class FailedFormat(BaseModel):
    """A report-format plug-in that is installed but failed to load."""

    name: str
    error: str


class ReportFormats(BaseModel):
    formats: list[ReportFormatInfo]
    failed: list[FailedFormat]


class ReportRequest(BaseModel):
    format: str = Field(
        min_length=1,
        max_length=64,
        description="A report format (`GET /v1/reports/formats`).",
        examples=["pdf", "html", "vics"],
    )
    cases: list[CaseId] = Field(
        default=[],
        max_length=MAX_CASES - 1,
        description="Further cases in the same document, for a format that holds several "
        "(VICS, some plug-ins).",
    )
    include_clear: bool = Field(
        default=False,
        description="Clear previews instead of blurred greyscale ones (a format with media "
        "only; recorded in the audit entry and each item's custody).",
    )
    profile: Literal["US", "UK", "CUSTOM", "Default"] = Field(
        default="US", description="The VICS profile of a VICS export."
    )


class ReportRecord(BaseModel):
    """A filed report's record (its document is not kept)."""

    id: int
    case_id: int | None
    kind: str = Field(description="`ncmec` or the report format's name.")
    status: str = Field(description="`built`, `submitting`, `submitted`, `failed`, ...")
    remote_id: str | None = Field(description="The CyberTipline report id, once submitted.")
    actor: str
    at: str | None
    details: dict[str, Any] = Field(
        description="What was filed: `sha256` and `size` of the document, `cases`, "
        "`include_clear`, ..."
    )
    body: str | None = Field(description="The NCMEC report XML; null for other kinds.")


@router.get("/reports/formats")
def list_report_formats(_: ReportP) -> ReportFormats:
    """The report formats installed (built-in and plug-in) and what each needs, and the
    plug-ins that failed to load. NCMEC is not a format but its own workflow."""
    return ReportFormats(
        formats=[
            ReportFormatInfo(
                name=name,
                description=cls.description,
                media_type=cls.media_type,
                extension=cls.extension,
                max_cases=cls.max_cases,
                reads_media=cls.reads_media,
                built_in=name in BUILT_IN,
            )
            for name, cls in sorted(report_formats().items())
        ],
        failed=[
            FailedFormat(name=name, error=why)
            for name, why in sorted(failed_report_formats().items())
        ],
    )


_DOCUMENT = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    "/cases/{case_id}/reports",
    status_code=201,
    response_class=Response,
    responses={
        201: {
            "description": "The document, as an attachment in the format's media type (one "
            "of those below or a plug-in's); nothing of it is kept by Vangnet.",
            "content": {
                "application/pdf": _DOCUMENT,
                "text/html": _DOCUMENT,
                "application/json": _DOCUMENT,
                "application/octet-stream": _DOCUMENT,
            },
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="case-12-pdf.pdf"',
                    "schema": {"type": "string"},
                },
                "Location": {
                    "description": "The first report's record (`GET /v1/reports/{id}`).",
                    "schema": {"type": "string"},
                },
                "X-Vangnet-Report-Ids": {
                    "description": "The reports filed, one per case, comma-separated.",
                    "schema": {"type": "string"},
                },
                "Repr-Digest": {
                    "description": "The document's SHA-256 (RFC 9530), as recorded.",
                    "schema": {"type": "string"},
                },
            },
        }
    },
)
def file_report(
    case_id: RowId, body: ReportRequest, svc: Svc, session: WriterDb, who: ReportP
) -> Response:
    """File a report of the case (and of `cases`) in a registered format, recorded and
    audited under the key as `vangnet report render` and the case page do; the answer is the
    document. Refusals record nothing: unknown format or case (404), too many cases or clear
    previews without media (400), a role that may not report or reveal (403)."""
    fmt = reporting.require_format(body.format)  # unknown: 404, nothing read or recorded
    if body.include_clear and not who.can(Permission.REVIEW):
        role = who.key.role if who.key is not None else "none"
        raise ForbiddenError(
            f"role {role} may not reveal media: include_clear needs the review permission"
        )
    filed = reporting.file_report(
        session,
        svc.vault() if fmt.reads_media else None,
        fmt.name,
        [case_id, *body.cases],
        actor=who.actor,
        include_clear=body.include_clear,
        profile=body.profile,
        weights=PriorityWeights.from_settings(svc.settings),
        settings=svc.settings,
    )
    session.commit()
    digest = base64.b64encode(hashlib.sha256(filed.data).digest()).decode("ascii")
    return Response(
        filed.data,
        status_code=201,
        media_type=filed.format.media_type,
        headers={
            "content-disposition": f'attachment; filename="{filed.filename}"',
            "location": f"/v1/reports/{filed.report_ids[0]}",
            "x-vangnet-report-ids": ",".join(str(i) for i in filed.report_ids),
            "repr-digest": f"sha-256=:{digest}:",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        },
    )


@router.get("/reports/{report_id}")
def show_report(report_id: RowId, session: WriterDb, who: ReportP) -> ReportRecord:
    """A filed report's record: its kind, status, who filed it, when, and what (`details`,
    with the document's `sha256`); the NCMEC XML for an NCMEC report. Audited as
    `report.view`, as opening the report page is."""
    row = session.get(Report, report_id)
    if row is None:
        raise NotFoundError(f"no report {report_id}")
    record = ReportRecord(
        id=row.id,
        case_id=row.case_id,
        kind=row.kind,
        status=row.status,
        remote_id=row.remote_id,
        actor=row.actor,
        at=cases.iso(row.at),
        details=dict(row.details or {}),
        body=row.body,
    )
    chain.record(session, actor=who.actor, action="report.view", target=f"report:{row.id}")
    session.commit()
    return record
