"""The investigation workbench: triaged cases, their items, timeline, map and series.

Same rules as the review pages (`vangnet.web.routes_review`): previews are made on the server,
blurred and greyscale by each person's settings; the clear picture (or the video) leaves the
server only on an explicit reveal (a POST with the CSRF token); every page view, reveal and
categorisation is written to the audit log in the transaction that reads or changes the data,
a reveal also to the chain of custody (`vangnet.evidence.reveal`), and nothing is cached by
the browser (`vangnet.web.security`). Viewing needs ``Permission.REVIEW`` (reviewers and
analysts), categorising ``Permission.DECIDE``.

The bytes of an item are read again from its source through its container chain
(`vangnet.triage.locate.read_chain`), checked against the SHA-256 triage recorded.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.auth.roles import Permission
from vangnet.cases.found import region_of
from vangnet.errors import NotFoundError, VangnetError
from vangnet.evidence import previews
from vangnet.evidence.reveal import reveal_triage_item
from vangnet.http.deps import MAX_ID, RowId, Services, services
from vangnet.store.db import writer
from vangnet.triage import facts as case_facts
from vangnet.triage import queries
from vangnet.triage.filters import FLAGS, KINDS, UNCATEGORISED, Filters, parse_category
from vangnet.triage.locate import read_chain
from vangnet.web import investigation_pages as pages
from vangnet.web import sessions
from vangnet.web.deps import csrf_for, render, signed_in
from vangnet.web.sessions import WebIdentity

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ui/investigations", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Viewer = Annotated[WebIdentity, Depends(signed_in(Permission.REVIEW))]
RevealP = Annotated[WebIdentity, Depends(csrf_for(Permission.REVIEW))]
DecideP = Annotated[WebIdentity, Depends(csrf_for(Permission.DECIDE))]

#: Longest side of a grid preview and of the item page's preview, in pixels.
SIDES = {"grid": 320, "page": 720}
PageNo = Annotated[int, Query(ge=1, le=queries.MAX_PAGE)]


def _filters(request: Request) -> Filters:
    return Filters.parse(request.query_params)


Filtered = Annotated[Filters, Depends(_filters)]


def _break(svc: Services, viewed: int) -> dict[str, Any]:
    cap = svc.settings.review_session_items
    return {"break_due": bool(cap) and viewed >= cap, "cap": cap, "items_viewed": viewed}


def _viewed(
    session: Session,
    who: WebIdentity,
    case_id: int,
    page: str,
    filters: Filters | None = None,
    **details: Any,
) -> None:
    """Audit one view of a case page (what was asked and which items were shown)."""
    chain.record(
        session,
        actor=who.user.username,
        action="investigation.view",
        target=f"case:{case_id}",
        details={"page": page, "filters": filters.params() if filters else {}, **details},
    )


def _prefs(who: WebIdentity) -> dict[str, Any]:
    prefs = who.user.preferences or {}
    return {"blur": int(prefs.get("blur", 24)), "greyscale": bool(prefs.get("greyscale", True))}


# -- the list of investigations --------------------------------------------------------------


def _list(svc: Services) -> list[dict[str, Any]]:
    with Session(svc.engine) as session:
        return queries.list_investigations(session)


@router.get("", response_class=HTMLResponse)
async def investigations(request: Request, svc: Svc, who: Viewer) -> Response:
    rows = await run_in_threadpool(_list, svc)
    return render(request, "investigations.html", {"cases": rows})


# -- one item (registered before the case routes: /items/... is not a case id) --------------


def _item_page(svc: Services, who: WebIdentity, item_id: int) -> dict[str, Any]:
    with Session(writer(svc.engine)) as session:
        item = queries.get_item(session, item_id)
        data = pages.item_page(session, item, likely=svc.settings.triage_call_likely)
        viewed = sessions.count_item(session, who.token_hash)
        chain.record(
            session,
            actor=who.user.username,
            action="triage_item.view",
            target=f"triage_item:{item_id}",
            details={"case": item.case_id, "items_this_session": viewed},
        )
        session.commit()
    return {**data, "viewed": viewed}


@router.get("/items/{item_id}", response_class=HTMLResponse)
async def item_page(request: Request, svc: Svc, who: Viewer, item_id: RowId) -> Response:
    data = await run_in_threadpool(_item_page, svc, who, item_id)
    data.update(_break(svc, data.pop("viewed")))
    data["prefs"] = _prefs(who)
    data["categories"] = pages.category_choices()
    return render(request, "investigation_item.html", data)


def _placeholder(status: int, reason: str) -> Response:
    """A grey picture saying why there is no preview (for <img> tags), with the status."""
    text = html.escape(reason[:60])
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="200" '
        'viewBox="0 0 320 200"><rect width="320" height="200" fill="#3a3f4b"/>'
        '<text x="160" y="96" fill="#cfd5df" font-family="sans-serif" font-size="15" '
        'text-anchor="middle">no preview</text>'
        f'<text x="160" y="120" fill="#aab3c2" font-family="sans-serif" font-size="11" '
        f'text-anchor="middle">{text}</text></svg>'
    )
    return Response(svg, status_code=status, media_type="image/svg+xml")


@dataclass(frozen=True)
class _Source:
    """Where a previewable item is and what it is."""

    case_id: int
    chain: list[str]
    locations: list[int | None] | None
    sha256: str | None
    kind: str
    media_type: str
    #: the regions of it that matched a bank (outlined on its preview and reveal)
    regions: tuple[tuple[int, int, int, int], ...] = ()

    def read(self, svc: Services) -> bytes:
        """The item's bytes, reading only its own member of any archive (bounded)."""
        return read_chain(
            self.chain,
            sha256=self.sha256,
            locations=self.locations,
            max_bytes=svc.settings.media_preview_max_bytes,
        )


def _source_of(svc: Services, item_id: int) -> _Source:
    """Where a previewable item is (its chain and container locations) and what it is."""
    with Session(svc.engine) as session:
        item = queries.get_item(session, item_id)
        queries.investigation(session, item.case_id)
        if not queries.previewable(item.kind, item.status):
            raise NotFoundError(f"item {item_id} is not a picture or video ({item.kind})")
        media = item.content_type or ("video/mp4" if item.kind == "video" else "image/jpeg")
        regions: list[tuple[int, int, int, int]] = []
        for match in item.matches or []:
            region = region_of(match) if isinstance(match, Mapping) else None
            if region is not None and region not in regions:
                regions.append(region)
        return _Source(
            item.case_id,
            list(item.chain),
            item.locations,
            item.sha256,
            item.kind,
            media,
            tuple(regions),
        )


def _preview(svc: Services, who: WebIdentity, item_id: int, side: int) -> bytes:
    source = _source_of(svc, item_id)
    data = source.read(svc)
    prefs = _prefs(who)
    return previews.preview(
        data,
        blur=prefs["blur"],
        greyscale=prefs["greyscale"],
        max_side=side,
        outline=source.regions,
    )


@router.get("/items/{item_id}/preview")
async def item_preview(
    svc: Svc, who: Viewer, item_id: RowId, size: Literal["grid", "page"] = "grid"
) -> Response:
    """The blurred (and by default greyscale) preview of an item; a placeholder picture with
    the error's status when the item has none or its source cannot be read."""
    try:
        body = await run_in_threadpool(_preview, svc, who, item_id, SIDES[size])
    except VangnetError as exc:
        return _placeholder(exc.status, exc.message)
    except Exception:  # a decoder or container reader failing on odd input
        log.exception("preview of investigation item %s failed", item_id)
        return _placeholder(500, "could not be decoded")
    return Response(body, media_type="image/jpeg")


def _reveal(svc: Services, who: WebIdentity, item_id: int) -> tuple[bytes, str]:
    """The clear bytes of an item, read from its source; the reveal is audited and logged
    in the chain of custody of the evidence item it is sealed as (`reveal_triage_item`)."""
    source = _source_of(svc, item_id)
    data = source.read(svc)
    vault = svc.vault()
    revealed = None
    try:
        with Session(writer(svc.engine)) as session:
            sessions.count_item(session, who.token_hash)  # reveals count towards the break
            revealed = reveal_triage_item(
                session, vault, item_id, data, media_type=source.media_type, actor=who.user.username
            )
            session.commit()
    except BaseException:
        if revealed is not None and revealed.sealed is not None:
            vault.delete(revealed.sealed.name)  # the commit failed: no row points at it
        raise
    return previews.clear_media(data, source.media_type, outline=source.regions)


@router.post("/items/{item_id}/reveal")
async def item_reveal(svc: Svc, who: RevealP, item_id: RowId) -> Response:
    """The clear item for one person's explicit reveal (audited; never cached)."""
    body, media_type = await run_in_threadpool(_reveal, svc, who, item_id)
    return Response(body, media_type=media_type)


# -- a case: overview and grid ---------------------------------------------------------------


def _overview(
    svc: Services, who: WebIdentity, case_id: int, filters: Filters, page: int
) -> dict[str, Any]:
    with Session(writer(svc.engine)) as session:
        case = queries.investigation(session, case_id)
        likely = svc.settings.triage_call_likely
        counts = case_facts.overview(session, case_id, likely=likely)
        shown = queries.grid(session, case_id, filters, page=page, likely=likely)
        _viewed(
            session,
            who,
            case_id,
            "overview",
            filters,
            page_number=shown.page,
            items=[i["id"] for i in shown.items],
        )
        session.commit()
        return {"case": {"id": case.id, "title": case.title}, "counts": counts, "grid": shown}


@router.get("/{case_id}", response_class=HTMLResponse)
async def overview(
    request: Request, svc: Svc, who: Viewer, case_id: RowId, filters: Filtered, page: PageNo = 1
) -> Response:
    data = await run_in_threadpool(_overview, svc, who, case_id, filters, page)
    data.update(_break(svc, who.items_viewed))
    data.update(_common(filters, data["counts"]))
    data["prefs"] = _prefs(who)
    data["here"] = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # items to select after a categorisation: the one worked on, else its neighbours
    focus = request.query_params.get("focus", "").split(",")[:3]
    data["focus"] = [int(f) for f in focus if f.isdigit()]
    return render(request, "investigation.html", data)


def _common(filters: Filters, counts: case_facts.Overview | None) -> dict[str, Any]:
    """What the filter form and tabs need on every case page."""
    return {
        "filters": filters,
        "categories": pages.category_choices(),
        "flags": FLAGS,
        "kinds": KINDS,
        "devices": counts.devices if counts else [],
        "places": counts.places if counts else [],
    }


def _safe_next(next_url: str | None, case_id: int) -> str:
    """Where to go after a form: a page of this case (never another site)."""
    fallback = f"/ui/investigations/{case_id}"
    if not next_url:
        return fallback
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/investigations/"):
        return fallback
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _with_params(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    query += list(params.items())
    return parts.path + "?" + urlencode(query)


def _categorise(
    svc: Services, who: WebIdentity, case_id: int, ids: list[int], category: str | None
) -> list[dict[str, Any]]:
    with Session(writer(svc.engine)) as session:
        changes = queries.categorise(session, case_id, ids, category, actor=who.user.username)
        session.commit()
    return changes


@router.post("/{case_id}/categorise")
async def categorise(
    svc: Svc,
    who: DecideP,
    case_id: RowId,
    category: Annotated[str, Form(max_length=64)],
    ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None, Form()] = None,
    next_url: Annotated[str | None, Form(alias="next", max_length=2000)] = None,
    focus: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    """Set the category of the selected items (audited per item, before and after)."""
    chosen = parse_category(category)
    changes = await run_in_threadpool(_categorise, svc, who, case_id, ids or [], chosen)
    label = chosen or UNCATEGORISED
    said = f"{len(changes)} item{'s' if len(changes) != 1 else ''} set to {label}"
    unchanged = len(set(ids or [])) - len(changes)
    if unchanged:
        said += f" ({unchanged} already were)"
    params = {"flash": said}
    chosen_focus = [f for f in (focus or "").split(",") if f.isdigit()][:3]
    if chosen_focus:
        params["focus"] = ",".join(chosen_focus)
    return RedirectResponse(_with_params(_safe_next(next_url, case_id), **params), status_code=303)


# -- a case: timeline, map, series ------------------------------------------------------------


def _case_view(
    svc: Services, who: WebIdentity, case_id: int, filters: Filters, page: str
) -> dict[str, Any]:
    with Session(writer(svc.engine)) as session:
        case = queries.investigation(session, case_id)
        data: dict[str, Any] = {"case": {"id": case.id, "title": case.title}, "counts": None}
        if page in ("timeline", "map"):
            # the filter form lists all the case's devices and places: one read of all the
            # items serves both when no filter is set
            likely = svc.settings.triage_call_likely
            everything = case_facts.facts(session, case_id, likely=likely)
            data["counts"] = case_facts.summarise(everything)
            if filters.active:
                rows = case_facts.facts(session, case_id, filters, likely=likely)
            else:
                rows = everything
            if page == "timeline":
                data["timeline"] = pages.timeline(session, case_id, filters, rows=rows)
            else:
                data["map"] = pages.map_view(session, case_id, filters, rows=rows)
        else:
            data["series"] = queries.series_groups(session, case_id)
            data["bank_series"] = queries.bank_series(session, case_id)
        _viewed(session, who, case_id, page, filters)
        session.commit()
    return data


async def _view(
    request: Request, svc: Services, who: WebIdentity, case_id: int, filters: Filters, page: str
) -> Response:
    data = await run_in_threadpool(_case_view, svc, who, case_id, filters, page)
    data.update(_common(filters, data["counts"]))
    data["prefs"] = _prefs(who)
    return render(request, f"investigation_{page}.html", data)


@router.get("/{case_id}/timeline", response_class=HTMLResponse)
async def timeline(
    request: Request, svc: Svc, who: Viewer, case_id: RowId, filters: Filtered
) -> Response:
    return await _view(request, svc, who, case_id, filters, "timeline")


@router.get("/{case_id}/map", response_class=HTMLResponse)
async def map_page(
    request: Request, svc: Svc, who: Viewer, case_id: RowId, filters: Filtered
) -> Response:
    return await _view(request, svc, who, case_id, filters, "map")


@router.get("/{case_id}/series", response_class=HTMLResponse)
async def series(request: Request, svc: Svc, who: Viewer, case_id: RowId) -> Response:
    return await _view(request, svc, who, case_id, Filters(), "series")
