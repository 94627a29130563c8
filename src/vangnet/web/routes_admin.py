"""Operator pages: the bank browser, streams and webhooks, the audit log, users and API keys.

Each page needs the permission of its kind (see `vangnet.auth.roles`); every change is a POST
carrying the session's CSRF token and is written to the audit log in the same transaction as
the change itself (the `vangnet.auth.users` functions record their own entries).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vangnet.actions import webhooks
from vangnet.audit import chain
from vangnet.auth import keys, users
from vangnet.auth.roles import USER_ROLES, Permission, Role
from vangnet.banks import contents as bank_contents
from vangnet.banks.bank import bank_stats, get_bank, list_banks
from vangnet.banks.views import BankView, ContentView
from vangnet.errors import ConflictError, NotFoundError, ValidationError, VangnetError
from vangnet.http.deps import MAX_ID, RowId, SeqNo, Services, services
from vangnet.live.alerts import alert_dict, list_alerts
from vangnet.live.streams import list_streams, stream_dict
from vangnet.net import display_url
from vangnet.signals.registry import signal_types
from vangnet.store.db import writer
from vangnet.store.models import ApiKey, Bank, BankContent, ContentSignal, WebhookDelivery
from vangnet.store.visibility import visible
from vangnet.web.deps import csrf_for, render, signed_in
from vangnet.web.sessions import WebIdentity

router = APIRouter(prefix="/ui", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
BankReader = Annotated[WebIdentity, Depends(signed_in(Permission.READ_BANKS))]
BankWriter = Annotated[WebIdentity, Depends(csrf_for(Permission.WRITE_BANKS))]
AlertReader = Annotated[WebIdentity, Depends(signed_in(Permission.ALERTS))]
AlertWriter = Annotated[WebIdentity, Depends(csrf_for(Permission.ALERTS))]
Auditor = Annotated[WebIdentity, Depends(signed_in(Permission.AUDIT))]
AuditPost = Annotated[WebIdentity, Depends(csrf_for(Permission.AUDIT))]
PeopleReader = Annotated[
    WebIdentity, Depends(signed_in(Permission.MANAGE_USERS, Permission.MANAGE_KEYS))
]
UserAdmin = Annotated[WebIdentity, Depends(csrf_for(Permission.MANAGE_USERS))]
KeyAdmin = Annotated[WebIdentity, Depends(csrf_for(Permission.MANAGE_KEYS))]
UserName = Annotated[str, Path(min_length=1, max_length=64)]

CONTENT_PAGE = 100  # bank entries per page
SEARCH_LIMIT = 200  # search results shown
AUDIT_PAGE = 100  # audit entries per page
IMPORT_ACTIONS = ("bank.import", "bank.add")


def _go(path: str, flash: str | None = None) -> RedirectResponse:
    """303 to ``path`` (a UI path), with a message shown once at the top of the page."""
    if flash:
        path += ("&" if "?" in path else "?") + "flash=" + quote(flash)
    return RedirectResponse(path, status_code=303)


def _writer(svc: Services) -> Session:
    return Session(writer(svc.engine))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


# -- bank browser ----------------------------------------------------------------------------


def _content_dict(view: ContentView) -> dict[str, Any]:
    return {
        "id": view.id,
        "bank": view.bank_name,
        "category": str(view.category) if view.category else None,
        "source": view.source,
        "series": view.series,
        "note": view.note,
        "external_id": view.external_id,
        "enabled": view.enabled,
        "signals": list(view.signals),
        "updated_at": _iso(view.updated_at),
    }


def _search_text(session: Session, text: str) -> list[dict[str, Any]]:
    """Bank entries whose note or series contains ``text`` (any case; % and _ are literal)."""
    rows = session.execute(
        select(BankContent, Bank.name)
        .join(Bank, Bank.id == BankContent.bank_id)
        .where(
            or_(
                BankContent.note.icontains(text, autoescape=True),
                BankContent.series.icontains(text, autoescape=True),
            ),
            visible(BankContent.import_id),  # nothing of an import still being written
        )
        .order_by(BankContent.id)
        .limit(SEARCH_LIMIT)
    ).all()
    signals: dict[int, list[tuple[str, str]]] = {content.id: [] for content, _ in rows}
    if signals:
        for content_id, signal_type, value in session.execute(
            select(ContentSignal.content_id, ContentSignal.signal_type, ContentSignal.value)
            .where(ContentSignal.content_id.in_(list(signals)), visible(ContentSignal.import_id))
            .order_by(ContentSignal.id)
        ):
            signals[content_id].append((signal_type, value))
    return [
        {
            "id": content.id,
            "bank": bank_name,
            "category": (
                f"{content.category_profile}:{content.category_code}"
                if content.category_code
                else None
            ),
            "source": content.source,
            "series": content.series,
            "note": content.note,
            "external_id": content.external_id,
            "enabled": content.enabled,
            "signals": signals[content.id],
            "updated_at": _iso(content.updated_at),
        }
        for content, bank_name in rows
    ]


def _import_history(session: Session, bank: str, limit: int) -> list[dict[str, Any]]:
    """The latest imports and additions to ``bank``, from the audit log, newest first."""
    found = [
        entry
        for action in IMPORT_ACTIONS
        for entry in chain.list_entries(session, action=action, target=f"bank:{bank}", limit=limit)
    ]
    found.sort(key=lambda e: e["seq"], reverse=True)
    return found[:limit]


def _bank_dict(session: Session, bank: BankView, history: int) -> dict[str, Any]:
    return {
        "name": bank.name,
        "note": bank.note,
        "profile": bank.category_profile,
        "high_confidence": bank.high_confidence,
        "enabled": bank.enabled,
        "ratio": bank.matching_enabled_ratio,
        "policy": bank.policy,
        "thresholds": bank.thresholds,
        "stats": bank_stats(session, bank.name),
        "imports": _import_history(session, bank.name, history),
    }


def _banks_page(
    svc: Services, signal_type: str, value: str, text: str
) -> tuple[dict[str, Any], int]:
    status = 200
    results: list[dict[str, Any]] | None = None
    error: str | None = None
    with Session(svc.engine) as session:
        rows = [_bank_dict(session, b, 3) for b in list_banks(session)]
        if value:
            try:
                found = bank_contents.find_content_by_signal(session, signal_type, value)
            except VangnetError as exc:  # unknown signal type, malformed hash
                error, status = exc.message, 400
            else:
                results = [_content_dict(v) for v in found[:SEARCH_LIMIT]]
        elif text:
            results = _search_text(session, text)
    data = {
        "banks": rows,
        "signal_types": sorted(signal_types()),
        "signal_type": signal_type,
        "value": value,
        "text": text,
        "results": results,
        "search_error": error,
        "limit": SEARCH_LIMIT,
    }
    return data, status


@router.get("/banks", response_class=HTMLResponse)
async def banks_page(
    request: Request,
    svc: Svc,
    who: BankReader,
    signal_type: Annotated[str, Query(max_length=32)] = "pdq",
    value: Annotated[str, Query(max_length=1024)] = "",
    text: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Every bank with its counts and settings; search entries by hash or by note / series."""
    data, status = await run_in_threadpool(
        _banks_page, svc, signal_type.strip(), value.strip(), text.strip()
    )
    return render(request, "banks.html", data, status=status)


def _bank_page(svc: Services, name: str, after_id: int) -> dict[str, Any]:
    with Session(svc.engine) as session:
        bank = _bank_dict(session, get_bank(session, name), 10)
        entries = bank_contents.list_content(
            session, bank=name, after_id=after_id, limit=CONTENT_PAGE + 1
        )
    more = len(entries) > CONTENT_PAGE
    entries = entries[:CONTENT_PAGE]
    return {
        "bank": bank,
        "entries": [_content_dict(e) for e in entries],
        "after_id": after_id,
        "next_after": entries[-1].id if more else None,
    }


@router.get("/banks/{name}", response_class=HTMLResponse)
async def bank_page(
    request: Request,
    svc: Svc,
    who: BankReader,
    name: Annotated[str, Path(max_length=255)],
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """One bank's entries, 100 a page by id, each with an enable / disable button."""
    data = await run_in_threadpool(_bank_page, svc, name, after_id)
    return render(request, "bank.html", data)


def _set_content_enabled(
    svc: Services, who: WebIdentity, content_id: int, enabled: bool
) -> tuple[str, bool]:
    with _writer(svc) as session:
        before = bank_contents.get_content(session, content_id)
        after = bank_contents.set_content_enabled(session, content_id, enabled=enabled)
        changed = before.enabled != after.enabled
        if changed:
            chain.record(
                session,
                actor=who.user.username,
                action="content.enable" if enabled else "content.disable",
                target=f"content:{content_id}",
                before={"enabled": before.enabled},
                after={"enabled": after.enabled},
                details={"bank": after.bank_name},
            )
        session.commit()
    if changed:  # this server matches with the change at once (others poll the change log)
        svc.indexes.refresh()
    return after.bank_name, changed


def _bank_back(back: str | None, bank: str) -> str:
    """Where to go after a toggle: the bank page or search it came from (never elsewhere),
    without its old message."""
    if back and back.startswith("/ui/banks") and "//" not in back and "\\" not in back:
        parts = urlsplit(back)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "flash"]
        return parts.path + ("?" + urlencode(query) if query else "")
    return f"/ui/banks/{quote(bank)}"


@router.post("/banks/content/{content_id}/enabled")
async def set_content_enabled(
    svc: Svc,
    who: BankWriter,
    content_id: RowId,
    enabled: Annotated[Literal["true", "false"], Form()],
    back: Annotated[str | None, Form(max_length=512)] = None,
) -> Response:
    """Enable or disable one bank entry (a disabled entry is not matched; audited)."""
    on = enabled == "true"
    bank, changed = await run_in_threadpool(_set_content_enabled, svc, who, content_id, on)
    state = "enabled" if on else "disabled"
    said = f"entry {content_id} {state}" if changed else f"entry {content_id} was already {state}"
    return _go(_bank_back(back, bank), said)


# -- streams, alerts and dead-lettered webhooks ----------------------------------------------


def _delivery_dict(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "event": row.event,
        "url": display_url(row.url),
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": (row.last_error or "")[:300],
        "alert_id": row.alert_id,
        "created_at": _iso(row.created_at),
    }


def _streams_page(svc: Services) -> dict[str, Any]:
    with Session(svc.engine) as session:
        return {
            "streams": [stream_dict(s) for s in list_streams(session, limit=500)],
            "alerts": [alert_dict(a) for a in list_alerts(session, status="open", limit=500)],
            "dead": [_delivery_dict(d) for d in webhooks.dead_letters(session, limit=200)],
        }


@router.get("/streams", response_class=HTMLResponse)
async def streams_page(request: Request, svc: Svc, who: AlertReader) -> Response:
    """All streams with their state, the open alerts, and webhooks that gave up."""
    data = await run_in_threadpool(_streams_page, svc)
    return render(request, "streams.html", data)


def _retry_webhook(svc: Services, who: WebIdentity, delivery_id: int) -> None:
    with _writer(svc) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            raise NotFoundError(f"webhook delivery {delivery_id} not found")
        before = {"status": row.status, "attempts": row.attempts, "last_status": row.last_status}
        webhooks.retry(session, delivery_id)
        chain.record(
            session,
            actor=who.user.username,
            action="webhook.retry",
            target=f"webhook:{delivery_id}",
            before=before,
            after={"status": row.status, "attempts": row.attempts},
            details={"event": row.event, "alert": row.alert_id},
        )
        session.commit()
    svc.monitor.wake_deliverer()


@router.post("/webhooks/{delivery_id}/retry")
async def retry_webhook(svc: Svc, who: AlertWriter, delivery_id: RowId) -> Response:
    """Send a dead-lettered webhook again (attempts start over; audited)."""
    await run_in_threadpool(_retry_webhook, svc, who, delivery_id)
    return _go("/ui/streams", f"webhook {delivery_id} queued again")


# -- the audit log ---------------------------------------------------------------------------


def _filters(actor: str, action: str, target: str) -> dict[str, str]:
    given = {"actor": actor.strip(), "action": action.strip(), "target": target.strip()}
    return {k: v for k, v in given.items() if v}


def _listing(session: Session, filters: dict[str, str], before_seq: int | None) -> dict[str, Any]:
    entries = chain.list_entries(session, limit=AUDIT_PAGE + 1, before_seq=before_seq, **filters)
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    older = {**filters, "before_seq": str(entries[-1]["seq"])} if more else None
    return {
        "entries": entries,
        "filters": filters,
        "before_seq": before_seq,
        "older": urlencode(older) if older else None,
        "newest": urlencode(filters),
        "total": chain.count_entries(session),
    }


def _audit_page(
    svc: Services, who: WebIdentity, filters: dict[str, str], before_seq: int | None
) -> dict[str, Any]:
    with _writer(svc) as session:
        chain.record(
            session,
            actor=who.user.username,
            action="audit.view",
            target="audit",
            details={"filters": filters, "before_seq": before_seq},
        )
        session.commit()
        return _listing(session, filters, before_seq)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    svc: Svc,
    who: Auditor,
    actor: Annotated[str, Query(max_length=255)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target: Annotated[str, Query(max_length=255)] = "",
    before_seq: SeqNo = None,
) -> Response:
    """The audit log, newest first, 100 a page (viewing it is itself recorded)."""
    filters = _filters(actor, action, target)
    data = await run_in_threadpool(_audit_page, svc, who, filters, before_seq)
    return render(request, "audit.html", {**data, "verdict": None})


def _verify(svc: Services, who: WebIdentity) -> dict[str, Any]:
    with _writer(svc) as session:
        verdict = chain.verify(session)
        chain.record(
            session,
            actor=who.user.username,
            action="audit.verify",
            target="audit",
            details=verdict.to_dict(),
        )
        session.commit()
        return {**_listing(session, {}, None), "verdict": verdict.to_dict()}


@router.post("/audit/verify", response_class=HTMLResponse)
async def audit_verify(request: Request, svc: Svc, who: AuditPost) -> Response:
    """Recompute the hash chain: intact, or the first entry that was changed and how."""
    data = await run_in_threadpool(_verify, svc, who)
    return render(request, "audit.html", data)


def _export(svc: Services, who: WebIdentity) -> tuple[bytes, int]:
    out = io.BytesIO()
    with _writer(svc) as session:
        chain.record(session, actor=who.user.username, action="audit.export", target="audit")
        count = chain.export(session, out)  # includes the entry just recorded
        session.commit()
    return out.getvalue(), count


@router.post("/audit/export")
async def audit_export(svc: Svc, who: AuditPost) -> Response:
    """The whole log as JSON Lines, oldest first, with each entry's hashes (audited)."""
    body, count = await run_in_threadpool(_export, svc, who)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={
            "content-disposition": f'attachment; filename="vangnet-audit-{stamp}.jsonl"',
            "x-audit-entries": str(count),
        },
    )


# -- users and API keys ----------------------------------------------------------------------


def _key_dict(view: keys.ApiKeyView) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "prefix": view.prefix,
        "role": view.role.value,
        "user": view.owner,
        "created_at": _iso(view.created_at),
        "last_used_at": _iso(view.last_used_at),
        "revoked_at": _iso(view.revoked_at),
    }


def _people(svc: Services, who: WebIdentity) -> dict[str, Any]:
    with Session(svc.engine) as session:
        people = [
            {**u.to_dict(), "last_login_at": _iso(u.last_login_at), "me": u.id == who.user.id}
            for u in users.list_users(session)
        ]
        api_keys = [_key_dict(k) for k in keys.list_keys(session)]
    return {
        "users": people,
        "keys": api_keys,
        "user_roles": [r.value for r in USER_ROLES],
        "key_roles": [r.value for r in Role],
        "min_password": users.MIN_PASSWORD,
        "new_key": None,
    }


async def _people_page(
    request: Request, svc: Services, who: WebIdentity, **extra: Any
) -> HTMLResponse:
    data = await run_in_threadpool(_people, svc, who)
    data.update(extra)
    return render(request, "users.html", data, status=201 if extra.get("new_key") else 200)


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, svc: Svc, who: PeopleReader) -> Response:
    """People who sign in (role, disabled, last sign-in) and the API keys of machines."""
    return await _people_page(request, svc, who)


def _same(password: str, again: str) -> str:
    if password != again:
        raise ValidationError("the two passwords differ")
    return password


def _create_user(svc: Services, who: WebIdentity, username: str, role: str, password: str) -> None:
    with _writer(svc) as session:
        users.create_user(
            session, username=username, password=password, role=role, actor=who.user.username
        )
        session.commit()


@router.post("/users")
async def create_user(
    svc: Svc,
    who: UserAdmin,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
    password2: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
) -> Response:
    name = username.strip()
    await run_in_threadpool(_create_user, svc, who, name, role, _same(password, password2))
    return _go("/ui/users", f"user {name} created ({role})")


def _not_self(who: WebIdentity, username: str, doing: str) -> None:
    if username == who.user.username:
        raise ConflictError(
            f"you cannot {doing} your own account; ask another administrator to do it"
        )


def _set_disabled(svc: Services, who: WebIdentity, username: str, disabled: bool) -> None:
    with _writer(svc) as session:
        users.set_disabled(session, username, disabled=disabled, actor=who.user.username)
        session.commit()


@router.post("/users/{username}/disabled")
async def set_user_disabled(
    svc: Svc,
    who: UserAdmin,
    username: UserName,
    disabled: Annotated[Literal["true", "false"], Form()],
) -> Response:
    """Disable (ending their sessions at once) or enable a user; never yourself."""
    off = disabled == "true"
    if off:
        _not_self(who, username, "disable")
    await run_in_threadpool(_set_disabled, svc, who, username, off)
    return _go("/ui/users", f"user {username} {'disabled' if off else 'enabled'}")


def _set_role(svc: Services, who: WebIdentity, username: str, role: str) -> None:
    with _writer(svc) as session:
        users.set_role(session, username, role=role, actor=who.user.username)
        session.commit()


@router.post("/users/{username}/role")
async def set_user_role(
    svc: Svc,
    who: UserAdmin,
    username: UserName,
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    """Change a user's role; an administrator cannot demote themself."""
    if role != who.user.role.value:
        _not_self(who, username, "change the role of")
    await run_in_threadpool(_set_role, svc, who, username, role)
    return _go("/ui/users", f"user {username} is now {role}")


def _set_password(svc: Services, who: WebIdentity, username: str, password: str) -> None:
    with _writer(svc) as session:
        users.set_password(session, username, password=password, actor=who.user.username)
        session.commit()


@router.post("/users/{username}/password")
async def set_user_password(
    svc: Svc,
    who: UserAdmin,
    username: UserName,
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
    password2: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
) -> Response:
    """Set a new password (the user's open sessions end)."""
    await run_in_threadpool(_set_password, svc, who, username, _same(password, password2))
    return _go("/ui/users", f"password of {username} reset; their sessions were ended")


def _create_key(
    svc: Services, who: WebIdentity, name: str, role: str, user: str | None
) -> tuple[int, str]:
    with _writer(svc) as session:
        view, secret = keys.create_key(session, name=name, role=role, user=user)
        chain.record(
            session,
            actor=who.user.username,
            action="key.create",
            target=f"key:{view.id}",
            after={
                "name": view.name,
                "role": view.role.value,
                "prefix": view.prefix,
                **({"user": view.owner} if view.owner else {}),
            },
        )
        session.commit()
    return view.id, secret


@router.post("/keys", response_class=HTMLResponse)
async def create_key(
    request: Request,
    svc: Svc,
    who: KeyAdmin,
    name: Annotated[str, Form(max_length=255)],
    role: Annotated[str, Form(max_length=16)],
    user: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Create an API key, optionally belonging to a person (a user: keys that decide cases
    need one); its secret is on this answer only (never stored, never shown again)."""
    key_id, secret = await run_in_threadpool(_create_key, svc, who, name, role, user or None)
    new_key = {"id": key_id, "name": name.strip(), "role": role, "secret": secret}
    return await _people_page(request, svc, who, new_key=new_key)


def _revoke_key(svc: Services, who: WebIdentity, key_id: int) -> tuple[str, bool]:
    with _writer(svc) as session:
        row = session.get(ApiKey, key_id)
        was_revoked = row is not None and row.revoked_at is not None
        view = keys.revoke_key(session, key_id)  # NotFoundError for an unknown id
        if not was_revoked:
            chain.record(
                session,
                actor=who.user.username,
                action="key.revoke",
                target=f"key:{view.id}",
                before={"revoked": False},
                after={"revoked": True},
                details={"name": view.name, "prefix": view.prefix, "role": view.role.value},
            )
        session.commit()
    return view.name, not was_revoked


@router.post("/keys/{key_id}/revoke")
async def revoke_key(svc: Svc, who: KeyAdmin, key_id: RowId) -> Response:
    """Revoke an API key at once (every server stops accepting it within a second)."""
    name, changed = await run_in_threadpool(_revoke_key, svc, who, key_id)
    said = "revoked" if changed else "was already revoked"
    return _go("/ui/users", f"key {key_id} ({name}) {said}")
