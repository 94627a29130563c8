"""The review flow: dashboard, queue, case page, previews and reveals, decisions, reports.

Previews are made on the server from the decrypted evidence, blurred and greyscale by the
reviewer's settings: the clear picture leaves the server only when a reviewer reveals it
(a POST with the CSRF token, audited, logged in the item's chain of custody), and nothing
is cached by the browser (see `vangnet.web.security`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.auth import keys
from vangnet.auth.roles import Permission, has_permission
from vangnet.banks.bank import list_banks
from vangnet.banks.categories import get_profile
from vangnet.banks.features import FeatureSeal
from vangnet.cases.document import CaseDocument, CaseSummary
from vangnet.cases.found import describe, region_of
from vangnet.errors import ForbiddenError, NotFoundError, VangnetError
from vangnet.evidence import previews
from vangnet.evidence.reading import read_evidence
from vangnet.evidence.reveal import reveal
from vangnet.http.deps import RowId, Services, services
from vangnet.live.alerts import alert_dict, list_alerts
from vangnet.live.streams import list_streams, stream_dict
from vangnet.plugins import PluginError
from vangnet.reports import service as reporting
from vangnet.reports.formats import HtmlReport, PdfReport, ReportFormat, report_formats
from vangnet.review import cases, decisions, outcomes, undo
from vangnet.review.classifier_calibration import calibrated_thresholds
from vangnet.review.priority import PriorityWeights
from vangnet.signals.hashing import hash_bytes
from vangnet.store.db import writer
from vangnet.store.models import EvidenceItem, Report, WebhookDelivery, utcnow
from vangnet.web import sessions
from vangnet.web.context_view import context_view, message_of_case
from vangnet.web.deps import csrf_for, render, signed_in
from vangnet.web.sessions import WebIdentity

router = APIRouter(prefix="/ui", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Anyone = Annotated[WebIdentity, Depends(signed_in())]
log = logging.getLogger(__name__)
Reviewer = Annotated[WebIdentity, Depends(signed_in(Permission.REVIEW))]
RevealP = Annotated[WebIdentity, Depends(csrf_for(Permission.REVIEW))]
DecideP = Annotated[WebIdentity, Depends(csrf_for(Permission.DECIDE))]
ReportP = Annotated[WebIdentity, Depends(csrf_for(Permission.REPORT))]

PREVIEW_SIDE = 480


def _go(path: str, flash: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?flash={quote(flash)}" if flash else ""), status_code=303)


# -- dashboard and queue -------------------------------------------------------------------


def _dashboard(svc: Services, role: str) -> dict[str, Any]:
    """What the dashboard shows a role: only what the API would show the same role (cases
    need review rights, streams stream or alert rights, alerts and webhooks alert rights)."""
    show_cases = has_permission(role, Permission.REVIEW)
    show_alerts = has_permission(role, Permission.ALERTS)
    show_streams = show_alerts or has_permission(role, Permission.STREAMS)
    streams: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    alerts: list[dict[str, Any]] = []
    failing = pending = 0
    with Session(svc.engine) as session:
        if show_streams:
            streams = [stream_dict(s) for s in list_streams(session, active_only=True, limit=50)]
        if show_cases:
            counts = cases.queue_counts(session)
        if show_alerts:
            failing = (
                session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.status == "dead")
                )
                or 0
            )
            pending = (
                session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.status == "pending", WebhookDelivery.attempts > 0)
                )
                or 0
            )

            alerts = [alert_dict(a) for a in list_alerts(session, status="open", limit=20)]
    return {
        "show_cases": show_cases,
        "show_streams": show_streams,
        "show_alerts": show_alerts,
        "streams": streams,
        "counts": counts,
        "open_cases": sum(counts.get(s, 0) for s in cases.OPEN_STATES),
        "dead_webhooks": int(failing),
        "retrying_webhooks": int(pending),
        "alerts": alerts,
    }


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, svc: Svc, who: Anyone) -> Response:
    data = await run_in_threadpool(_dashboard, svc, who.user.role.value)
    return render(request, "dashboard.html", data)


def _queue(
    svc: Services, status: str, order: str, min_score: float | None, likely_new: bool
) -> list[CaseSummary]:
    with Session(svc.engine) as session:
        return cases.list_cases(
            session,
            status=None if status == "all" else status,
            limit=500,
            weights=PriorityWeights.from_settings(
                svc.settings, calibrated_thresholds(session, svc.settings)
            ),
            order=order,
            min_score=min_score,
            likely_new=likely_new,
        )


@router.get("/queue", response_class=HTMLResponse)
async def queue(
    request: Request,
    svc: Svc,
    who: Reviewer,
    status: str = "open",
    order: Literal["priority", "score"] = "priority",
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    view: Literal["all", "likely_new"] = "all",
) -> Response:
    """The queue; ``order=score`` by the classifiers' priority signal, ``min_score`` at
    least that signal, ``view=likely_new`` the "likely new material" tab (likely by the
    classifiers, no match)."""
    likely_new = view == "likely_new"
    rows = await run_in_threadpool(_queue, svc, status, order, min_score, likely_new)
    cap = svc.settings.review_session_items
    return render(
        request,
        "queue.html",
        {
            "cases": rows,
            "status": status,
            "statuses": ["open", *cases.OPEN_STATES[1:], *cases.DECIDED_STATES, "all"],
            "order": order,
            "min_score": min_score,
            "view": view,
            "break_due": bool(cap) and who.items_viewed >= cap,
            "cap": cap,
        },
    )


# -- the case page -------------------------------------------------------------------------


def _case_page(
    svc: Services,
    who: WebIdentity,
    case_id: int,
    rows: str | None = None,
    reveal_message: str | None = None,
) -> dict[str, Any]:
    """The case page's data; ``rows``: a context case's timeline filtered to one record kind;
    ``reveal_message``: the ref of the one message whose text a reviewer asked to see
    (audited ``context.message.reveal``, counted towards the break like a media item)."""
    with Session(writer(svc.engine)) as session:
        doc = cases.case_document(
            session, case_id, weights=PriorityWeights.from_settings(svc.settings)
        )
        profiles = cases.case_profiles(session, case_id)
        viewed = sessions.count_item(session, who.token_hash)
        if reveal_message is not None:
            shown = message_of_case(doc, reveal_message)
            chain.record(
                session,
                actor=who.user.username,
                action="context.message.reveal",
                target=f"case:{case_id}",
                details={"ref": shown["ref"], "items_this_session": viewed},
            )
        else:
            chain.record(
                session,
                actor=who.user.username,
                action="case.view",
                target=f"case:{case_id}",
                details={"items_this_session": viewed},
            )
        context = context_view(
            session,
            doc,
            kind=rows,
            revealed={reveal_message} if reveal_message is not None else (),
            max_nodes=svc.settings.context_picture_max_nodes,
        )
        session.commit()
        queue_ids = [
            c["id"]
            for c in cases.list_cases(
                session,
                status="open",
                limit=500,
                weights=PriorityWeights.from_settings(svc.settings),
            )
        ]
    categories = [
        (f"{p}:{c.code}", f"{p}:{c.code} — {c.label}")
        for p in profiles
        if p != "none"
        for c in get_profile(p).codes
    ]
    later = [i for i in queue_ids if i != case_id]
    outlined: dict[int, list[str]] = {}  # item id -> the matches outlined on it
    for m in doc["matches"]:
        if m["item_id"] is not None and region_of(m["found"]) is not None:
            outlined.setdefault(m["item_id"], []).append(f"{m['bank']} / {m['content_id']}")
    return {
        "case": doc,
        "found_text": {m["id"]: describe(m["found"]) for m in doc["matches"]},
        "outlined": outlined,
        "categories": categories,
        "effects": outcomes.category_effects(profiles, svc.settings),
        "undo_seconds": svc.settings.review_undo_seconds,
        "undo": _undoable(doc, who.user.username),
        "items_viewed": viewed,
        "next_case": later[0] if later else None,
        "context": context,
        **_document_formats(who),
    }


def _document_formats(who: WebIdentity) -> dict[str, Any]:
    """The formats the case page's report form offers (only to who may report): every
    registered one but VICS (its own button), the case report (PDF, HTML) first. When the
    plug-ins cannot be loaded (a duplicate name, say) the page still opens, with the
    built-ins and a note saying why."""
    if not has_permission(who.user.role, Permission.REPORT):
        return {"report_formats": [], "report_formats_note": None}
    order = {"pdf": 0, "html": 1}
    note: str | None = None
    try:
        installed: Mapping[str, type[ReportFormat]] = report_formats()
    except PluginError as error:
        log.warning("report formats could not be loaded: %s", error.message)
        installed = {"pdf": PdfReport, "html": HtmlReport}
        note = f"Plug-in report formats could not be loaded ({error.message}): built-ins only."
    found = sorted(installed.items(), key=lambda kv: (order.get(kv[0], 2), kv[0]))
    return {
        "report_formats_note": note,
        "report_formats": [
            {
                "name": name,
                "label": name.upper() if name in order else f"{name} — {cls.description}",
                "reads_media": cls.reads_media,
            }
            for name, cls in found
            if name != "vics"
        ],
    }


def _kind(svc: Services, case_id: int) -> str:
    with Session(svc.engine) as session:
        return cases.get_case(session, case_id).kind


def _undoable(doc: CaseDocument, username: str) -> dict[str, Any] | None:
    """The reviewer's own latest decision on the case while its undo window is open."""
    if not doc["decisions"]:
        return None
    last = doc["decisions"][-1]
    info = (last.get("details") or {}).get("undo") or {}
    if last["actor"] != username or not info.get("until") or info.get("undone_at"):
        return None
    if info["until"] <= (cases.iso(utcnow()) or ""):
        return None
    return {"decision": last["decision"], "until": info["until"], "webhooks": info["webhooks"]}


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request,
    svc: Svc,
    who: Reviewer,
    case_id: RowId,
    rows: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    if await run_in_threadpool(_kind, svc, case_id) == "investigation":
        return RedirectResponse(f"/ui/investigations/{case_id}", status_code=303)
    data = await run_in_threadpool(_case_page, svc, who, case_id, rows)
    return await _case_response(request, svc, who, data)


@router.post("/cases/{case_id}/context/reveal", response_class=HTMLResponse)
async def context_message_reveal(
    request: Request,
    svc: Svc,
    who: RevealP,
    case_id: RowId,
    ref: Annotated[str, Form(min_length=1, max_length=255)],
) -> Response:
    """The case page with the text of one of its messages shown, for one reviewer's explicit
    reveal (audited ``context.message.reveal``; never cached)."""
    data = await run_in_threadpool(_case_page, svc, who, case_id, None, ref)
    return await _case_response(request, svc, who, data)


async def _case_response(
    request: Request, svc: Services, who: WebIdentity, data: dict[str, Any]
) -> Response:
    cap = svc.settings.review_session_items
    data["break_due"] = bool(cap) and data["items_viewed"] >= cap
    data["cap"] = cap
    data["prefs"] = who.user.preferences
    data["banks"] = await run_in_threadpool(_bank_names, svc)
    return render(request, "case.html", data)


def _bank_names(svc: Services) -> list[str]:
    with Session(svc.engine) as session:
        return [b.name for b in list_banks(session)]


# -- media: blurred previews, audited reveals ---------------------------------------------


def _item(session: Session, item_id: int) -> EvidenceItem:
    item = session.get(EvidenceItem, item_id)
    if item is None or item.case_id is None:
        raise NotFoundError(f"no case item {item_id}")
    return item


def _preview(svc: Services, who: WebIdentity, item_id: int) -> bytes:
    prefs = who.user.preferences
    with Session(writer(svc.engine)) as session:
        regions = cases.item_regions(session, _item(session, item_id))
        data = read_evidence(session, svc.vault(), item_id, actor=who.user.username)
        session.commit()
    return previews.preview(
        data,
        blur=int(prefs.get("blur", 24)),
        greyscale=bool(prefs.get("greyscale", True)),
        max_side=PREVIEW_SIDE,
        outline=regions,
    )


@router.get("/items/{item_id}/preview")
async def item_preview(svc: Svc, who: Reviewer, item_id: RowId) -> Response:
    """The blurred (and by default greyscale) preview of a case item, the regions of it that
    matched outlined."""
    body = await run_in_threadpool(_preview, svc, who, item_id)
    return Response(body, media_type="image/jpeg")


def _reveal(svc: Services, who: WebIdentity, item_id: int) -> tuple[bytes, str]:
    with Session(writer(svc.engine)) as session:
        item = _item(session, item_id)
        kind, regions = item.media_type, cases.item_regions(session, item)
        data = reveal(session, svc.vault(), item_id, actor=who.user.username)
        sessions.count_item(session, who.token_hash)  # reveals count towards the break
        session.commit()
    return previews.clear_media(data, kind, outline=regions)


@router.post("/items/{item_id}/reveal")
async def item_reveal(svc: Svc, who: RevealP, item_id: RowId) -> Response:
    """The clear item, for one reviewer's explicit reveal (audited; never cached), the
    regions of it that matched outlined as on its preview."""
    body, media_type = await run_in_threadpool(_reveal, svc, who, item_id)
    return Response(body, media_type=media_type)


# -- decisions -----------------------------------------------------------------------------


def _decide(
    svc: Services,
    who: WebIdentity,
    case_id: RowId,
    decision: str,
    category: str | None,
    note: str | None,
    disable_entry: bool,
    add_to_bank: str | None,
) -> decisions.Outcome:
    if add_to_bank and not has_permission(who.user.role, Permission.WRITE_BANKS):
        raise ForbiddenError(
            f"role {who.user.role.value} may not add to banks: ask a curator or administrator "
            "(nothing was decided)"
        )
    with Session(writer(svc.engine)) as session:
        outcome = decisions.decide(
            session,
            case_id,
            decision=decision,
            actor=who.user.username,
            person=keys.person_of_user(who.user.id),
            category=category,
            note=note,
            disable_content=disable_entry,
            settings=svc.settings,
        )
        session.commit()
    if add_to_bank and outcome.status == "confirmed":
        vault = svc.vault()
        with Session(writer(svc.engine)) as session:
            decisions.add_to_bank(
                session,
                case_id,
                bank=add_to_bank,
                actor=who.user.username,
                read_item=lambda i: read_evidence(session, vault, i, actor=who.user.username),
                hash_item=lambda data: hash_bytes(data, settings=svc.settings, for_bank=True),
                seal=FeatureSeal.from_settings(svc.settings),
            )
            session.commit()
    if outcome.webhooks:
        svc.monitor.wake_deliverer()
    return outcome


@router.post("/cases/{case_id}/decide")
async def decide(
    svc: Svc,
    who: DecideP,
    case_id: RowId,
    decision: Annotated[str, Form(max_length=32)],
    category: Annotated[str | None, Form(max_length=64)] = None,
    note: Annotated[str | None, Form(max_length=4000)] = None,
    disable_entry: Annotated[str | None, Form()] = None,
    add_to_bank: Annotated[str | None, Form(max_length=255)] = None,
) -> Response:
    outcome = await run_in_threadpool(
        _decide,
        svc,
        who,
        case_id,
        decision,
        category or None,
        note,
        disable_entry == "on",
        add_to_bank or None,
    )
    said = f"case {case_id}: {outcome.decision.replace('_', ' ')} → {outcome.status}"
    said += f"; {outcomes.describe(outcome.to_dict())}"
    if outcome.undo_until:
        said += f"; undo until {outcome.undo_until[11:19]} UTC"
    return _go(f"/ui/cases/{case_id}", said)


def _undo(svc: Services, who: WebIdentity, case_id: int) -> dict[str, Any]:
    with Session(writer(svc.engine)) as session:
        done = undo.undo(session, case_id, actor=who.user.username)
        session.commit()
    return done


@router.post("/cases/{case_id}/undo")
async def undo_decision(svc: Svc, who: DecideP, case_id: RowId) -> Response:
    """Undo the reviewer's own latest decision inside its window (before anything is sent)."""
    try:
        done = await run_in_threadpool(_undo, svc, who, case_id)
    except VangnetError as exc:
        return _go(f"/ui/cases/{case_id}", f"not undone: {exc.message}")
    said = f"case {case_id}: {done['decision'].replace('_', ' ')} undone → {done['status']}"
    if done["cancelled_webhooks"]:
        said += f"; not sent: {', '.join(done['cancelled_webhooks'])}"
    return _go(f"/ui/cases/{case_id}", said)


# -- reports -------------------------------------------------------------------------------


def _build_ncmec(svc: Services, who: WebIdentity, case_id: int) -> int:
    with Session(writer(svc.engine)) as session:
        report_id, _xml = reporting.build_ncmec(
            session, case_id, actor=who.user.username, settings=svc.settings
        )
        session.commit()
    return report_id


@router.post("/cases/{case_id}/ncmec")
async def build_ncmec(svc: Svc, who: ReportP, case_id: RowId) -> Response:
    report_id = await run_in_threadpool(_build_ncmec, svc, who, case_id)
    return _go(f"/ui/reports/{report_id}", "NCMEC report built and validated")


def _report(svc: Services, who: WebIdentity, report_id: int) -> dict[str, Any]:
    with Session(writer(svc.engine)) as session:
        row = session.get(Report, report_id)
        if row is None:
            raise NotFoundError(f"no report {report_id}")
        chain.record(
            session, actor=who.user.username, action="report.view", target=f"report:{row.id}"
        )
        session.commit()
        return {
            "id": row.id,
            "case_id": row.case_id,
            "kind": row.kind,
            "status": row.status,
            "remote_id": row.remote_id,
            "actor": row.actor,
            "at": cases.iso(row.at),
            "body": row.body,
            "details": row.details or {},
        }


@router.get("/reports/{report_id}", response_class=HTMLResponse)
async def report_page(
    request: Request,
    svc: Svc,
    who: Annotated[WebIdentity, Depends(signed_in(Permission.REPORT))],
    report_id: RowId,
) -> Response:
    report = await run_in_threadpool(_report, svc, who, report_id)
    return render(
        request,
        "report.html",
        {"report": report, "ncmec_configured": bool(svc.settings.ncmec_url)},
    )


def _settle(
    svc: Services,
    who: WebIdentity,
    report_id: int,
    outcome: Literal["finished", "retracted"],
    ncmec_id: str,
    note: str,
) -> dict[str, Any]:
    with Session(writer(svc.engine)) as session:
        result = reporting.settle_ncmec(
            session,
            report_id,
            outcome=outcome,
            actor=who.user.username,
            ncmec_report_id=ncmec_id or None,
            note=note,
        )
        session.commit()
    return result


@router.post("/reports/{report_id}/settle")
async def settle_ncmec(
    svc: Svc,
    who: ReportP,
    report_id: RowId,
    outcome: Annotated[Literal["finished", "retracted"], Form()],
    ncmec_id: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=reporting.MAX_SETTLE_NOTE)] = "",
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    """Record how a failed, unretracted CyberTipline report was settled with NCMEC by hand
    (by the signed-in person, audited); only with the confirmation box ticked."""
    back = f"/ui/reports/{report_id}"
    if confirm != "yes":
        return _go(back, "tick the confirmation box to record the settlement")
    try:
        await run_in_threadpool(_settle, svc, who, report_id, outcome, ncmec_id, note)
    except VangnetError as exc:
        return _go(back, f"not recorded: {exc.message}")
    return _go(back, f"recorded: settled with NCMEC by hand ({outcome})")


def _submit(svc: Services, who: WebIdentity, case_id: int) -> dict[str, Any]:
    result: dict[str, Any] = reporting.submit_ncmec(
        svc.engine,
        svc.vault(),
        case_id,
        actor=who.user.username,
        confirmed=True,
        settings=svc.settings,
    )
    return result


@router.post("/cases/{case_id}/ncmec/submit")
async def submit_ncmec(
    svc: Svc,
    who: ReportP,
    case_id: RowId,
    confirm: Annotated[str | None, Form()] = None,
) -> Response:
    """Submit to NCMEC: only with the explicit confirmation box ticked (audited first)."""
    if confirm != "yes":
        return _go(f"/ui/cases/{case_id}", "tick the confirmation box to submit to NCMEC")
    try:
        result = await run_in_threadpool(_submit, svc, who, case_id)
    except VangnetError as exc:
        return _go(f"/ui/cases/{case_id}", f"NCMEC submission failed: {exc.message}")
    return _go(f"/ui/cases/{case_id}", f"submitted to NCMEC: report {result.get('remote_id')}")


def _document(
    svc: Services, who: WebIdentity, case_id: int, kind: str, clear: bool
) -> reporting.FiledReport:
    fmt = reporting.require_format(kind)  # unknown: 404, nothing read or recorded
    with Session(writer(svc.engine)) as session:
        filed = reporting.file_report(
            session,
            svc.vault() if fmt.reads_media else None,
            fmt.name,
            [case_id],
            actor=who.user.username,
            include_clear=clear,  # refused (400, nothing written) for a format without media
            weights=PriorityWeights.from_settings(svc.settings),
            settings=svc.settings,
        )
        session.commit()
    return filed


@router.post("/cases/{case_id}/document")
async def case_document(
    svc: Svc,
    who: ReportP,
    case_id: RowId,
    kind: Annotated[str, Form(max_length=64)] = "pdf",
    include_clear: Annotated[str | None, Form()] = None,
) -> Response:
    """A report of the case in any registered format (PDF, HTML, VICS or a plug-in's),
    filed like the CLI's `vangnet report render`, downloaded as an attachment."""
    filed = await run_in_threadpool(_document, svc, who, case_id, kind, include_clear == "on")
    name = f"case-{case_id}.{filed.format.extension}"
    if filed.format.name not in ("html", "pdf"):
        name = filed.filename
    return Response(
        filed.data,
        media_type=filed.format.media_type,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def _vics(svc: Services, who: WebIdentity, case_id: int) -> bytes:
    with Session(writer(svc.engine)) as session:
        body = reporting.export_vics(
            session,
            [case_id],
            actor=who.user.username,
            weights=PriorityWeights.from_settings(svc.settings),
        )
        session.commit()
    return body


@router.post("/cases/{case_id}/vics")
async def case_vics(svc: Svc, who: ReportP, case_id: RowId) -> Response:
    body = await run_in_threadpool(_vics, svc, who, case_id)
    return Response(
        body,
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="case-{case_id}-vics.json"'},
    )
