"""Context records over the API: import a file of payments, messages, call sessions or
accounts (`vangnet.context.ingest`), and list the imports.

``POST /v1/context/{kind}/import?format=auto`` takes the file as the raw body or as one
multipart file (the upload routes' way: read in memory, never spooled to disk, at most
``max_upload_bytes``). The import is all-or-nothing and idempotent, as on the command line:
200 with the summary (rows, added, duplicates, skipped, import id); 422 ``invalid_records``
with the bad rows (``rows``: the first 1,000 as ``{"line", "reason"}``, ``bad_rows``: how many
in all) when any row is bad, and nothing is stored; 400 for an unknown kind
(``unknown_record_kind``), format (``unknown_record_format``) or time zone. The key needs
the ``review`` permission (analysts, reviewers, admins); the audit entry names the key.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from vangnet.api.uploads import read_body, read_multipart
from vangnet.auth.keys import Permission
from vangnet.context.ingest import (
    BadRecordsError,
    ImportResult,
    import_dict,
    import_records,
    imports,
    record_kind,
)
from vangnet.errors import ValidationError
from vangnet.http.deps import Caller, Services, require, services, writer_session
from vangnet.sources.records.base import ParseOptions
from vangnet.sources.records.fields import FieldError, parse_zone

router = APIRouter(prefix="/v1/context", tags=["context"])

ReviewP = Annotated[Caller, Depends(require(Permission.REVIEW))]
WriterDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]


async def _file(request: Request, svc: Services) -> tuple[bytes, str | None]:
    limit = svc.settings.max_upload_bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        parts = [p for p in await read_multipart(request, limit=limit) if p.filename or p.data]
        if len(parts) != 1:
            raise ValidationError("send exactly one file (multipart field 'file')")
        return bytes(parts[0].data), parts[0].filename
    return await read_body(request, limit=limit), None


@router.post(
    "/{kind}/import",
    responses={
        422: {"description": "Bad rows: nothing imported (`rows`, `bad_rows` in `error`)."},
        400: {"description": "Unknown kind, format or time zone."},
    },
)
async def import_file(
    request: Request,
    svc: Svc,
    session: WriterDb,
    who: ReviewP,
    kind: str,
    format: Annotated[
        str,
        Query(
            max_length=64,
            description="auto (guessed), csv, jsonl, pacs008, pain001, mt103, whatsapp, "
            "telegram or a plug-in's name.",
        ),
    ] = "auto",
    timezone: Annotated[
        str | None,
        Query(max_length=64, description="IANA zone of times without an offset."),
    ] = None,
    conversation: Annotated[
        str | None,
        Query(max_length=255, description="Conversation name of a WhatsApp export."),
    ] = None,
    filename: Annotated[
        str | None, Query(max_length=255, description="The file's name, for a raw body.")
    ] = None,
) -> Any:
    """Import a file of context records: validated, idempotent, all-or-nothing."""
    record = record_kind(kind)
    try:
        zone = parse_zone(timezone) if timezone else None
    except FieldError as error:
        raise ValidationError(f"timezone: {error.reason}") from None
    data, uploaded = await _file(request, svc)
    name = uploaded or filename
    options = ParseOptions(timezone=zone, conversation=conversation, filename=name)

    def run() -> ImportResult:
        result = import_records(
            session,
            kind=record,
            fmt=format,
            stream=io.BytesIO(data),
            filename=name,
            actor=who.actor,
            options=options,
        )
        session.commit()
        return result

    try:
        result = await run_in_threadpool(run)
    except BadRecordsError as error:
        await run_in_threadpool(session.rollback)
        return JSONResponse({"error": error.to_dict()}, status_code=error.status)
    return result.as_dict()


@router.get("/imports")
def list_imports(
    session: WriterDb,
    _: ReviewP,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The latest imports of context records, newest first."""
    return [import_dict(r) for r in imports(session, limit=limit)]
