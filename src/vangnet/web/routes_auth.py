"""Signing in and out, and each person's wellness settings.

Signing in: the password (the form carries a signed CSRF token, `vangnet.web.login_csrf`),
then, for users with a second factor, a TOTP or recovery code (``/ui/login/code``); users
whose role requires one and who have none set it up first (``/ui/totp``). Failures are
throttled per name and address (`vangnet.web.throttle`) and audited (``login.failed``, and
``login.locked`` when a failure makes the next attempt wait).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.auth import qr, totp, users
from vangnet.errors import ConflictError, ValidationError
from vangnet.http.deps import Services, services
from vangnet.store.db import writer
from vangnet.web import login_csrf, sessions, throttle
from vangnet.web.deps import client_of, csrf_for, render, signed_in
from vangnet.web.sessions import Stage, WebIdentity
from vangnet.web.throttle import TooManyAttempts

router = APIRouter(prefix="/ui", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Me = Annotated[WebIdentity, Depends(signed_in())]
MePost = Annotated[WebIdentity, Depends(csrf_for())]
FORM_EXPIRED = "the form has expired or did not come from this site; reload the page"
WRONG_CODE = "wrong or already used code: type the 6 digits your authenticator app shows now"


def _safe_next(target: str | None) -> str:
    """Only paths inside the UI (no open redirects)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _login_form(
    request: Request,
    svc: Services,
    next_page: str,
    *,
    error: str | None = None,
    status: int = 200,
    retry_after: float | None = None,
) -> Response:
    """The sign-in page with a fresh signed CSRF token (its nonce in a cookie)."""
    nonce, token = login_csrf.issue(svc.settings, request.cookies.get(login_csrf.COOKIE))
    response = render(
        request,
        "login.html",
        {"next": _safe_next(next_page), "error": error, "login_csrf": token},
        status=status,
    )
    response.set_cookie(
        login_csrf.COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=svc.settings.cookie_secure,
        path=login_csrf.COOKIE_PATH,
        max_age=login_csrf.MAX_AGE,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


def _set_session_cookie(response: Response, svc: Services, token: str, stage: Stage) -> None:
    hours = svc.settings.review_session_hours
    minutes = sessions.PENDING_MINUTES
    response.set_cookie(
        sessions.COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=svc.settings.cookie_secure,
        path="/ui",
        max_age=int(hours * 3600) if stage is Stage.FULL else minutes * 60,
    )


def _pending(svc: Services, token: str | None) -> WebIdentity | None:
    with Session(writer(svc.engine)) as session:
        found = sessions.lookup_any(session, token, settings=svc.settings)
        session.commit()
    return found


def _step_url(stage: Stage, next_page: str) -> str:
    path = "/ui/login/code" if stage is Stage.TOTP else "/ui/totp"
    return f"{path}?next={quote(_safe_next(next_page))}"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, svc: Svc, next: str | None = None) -> Response:
    who = await run_in_threadpool(_pending, svc, request.cookies.get(sessions.COOKIE))
    if who is not None and who.stage is not Stage.FULL:
        # half-way through signing in: nothing else until the step is done
        return RedirectResponse(_step_url(who.stage, next or "/ui/"), status_code=303)
    return _login_form(request, svc, next or "/ui/")


class Outcome(StrEnum):
    SIGNED_IN = "signed_in"  # a full session
    NEEDS_CODE = "needs_code"  # password right; the TOTP code is next
    NEEDS_ENROL = "needs_enrol"  # password right; a second factor must be set up first
    WRONG = "wrong"


def _fail(svc: Services, session: Session, username: str, client: str, step: str) -> None:
    wait = throttle.record_failure(session, username=username, client=client, settings=svc.settings)
    details: dict[str, object] = {"client": client, "step": step}
    if wait > 0:
        details["wait_seconds"] = round(wait, 1)
    chain.record(
        session,
        actor=f"web:{username[:64]}",
        action="login.locked" if wait > 0 else "login.failed",
        target=f"user:{username[:64]}",
        details=details,
    )


def _sign_in(
    svc: Services, username: str, password: str, client: str, old: str | None
) -> tuple[Outcome, str | None]:
    with Session(writer(svc.engine)) as session:
        throttle.check(session, username=username, client=client, settings=svc.settings)
        user = users.authenticate(session, username, password)
        if user is None:
            _fail(svc, session, username, client, "password")
            session.commit()
            return Outcome.WRONG, None
        previous = sessions.lookup_any(session, old, settings=svc.settings)
        if previous is not None and previous.stage is not Stage.FULL:
            sessions.end(session, previous.token_hash)  # a half-way sign-in it replaces
        factor = totp.state(session, user.id)
        if factor is totp.TotpState.ACTIVE:
            stage, outcome = Stage.TOTP, Outcome.NEEDS_CODE
        elif totp.required_for(user.role, svc.settings):
            stage, outcome = Stage.ENROL, Outcome.NEEDS_ENROL
        else:
            stage, outcome = Stage.FULL, Outcome.SIGNED_IN
        token = sessions.start(session, user, client=client, settings=svc.settings, stage=stage)
        if stage is Stage.FULL:
            _signed_in(session, user.username, client, second_factor="none")
        session.commit()
        return outcome, token


def _signed_in(session: Session, username: str, client: str, *, second_factor: str) -> None:
    """A completed sign-in: the throttle forgets the failures of this name and address, and the
    audit log records it with the second factor used (the caller commits)."""
    throttle.record_success(session, username=username, client=client)
    chain.record(
        session,
        actor=username,
        action="login",
        target=f"user:{username}",
        details={"client": client, "second_factor": second_factor},
    )


def _complete(
    session: Session, svc: Services, who: WebIdentity, client: str, *, second_factor: str
) -> str:
    """A half-way sign-in becomes a full one: the half-way session ends, a new one starts (a
    new token), and the sign-in is recorded; returns the new token (the caller commits)."""
    sessions.end(session, who.token_hash)
    token = sessions.start(session, who.user, client=client, settings=svc.settings)
    _signed_in(session, who.user.username, client, second_factor=second_factor)
    return token


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    svc: Svc,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=512)] = "/ui/",
    csrf: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    if not login_csrf.check(svc.settings, request.cookies.get(login_csrf.COOKIE), csrf):
        return _login_form(request, svc, next, error=FORM_EXPIRED, status=403)
    client = client_of(request)
    old = request.cookies.get(sessions.COOKIE)
    try:
        outcome, token = await run_in_threadpool(
            _sign_in, svc, username.strip(), password, client, old
        )
    except TooManyAttempts as exc:
        return _login_form(
            request, svc, next, error=exc.message, status=429, retry_after=exc.retry_after
        )
    if outcome is Outcome.WRONG or token is None:
        return _login_form(request, svc, next, error="wrong user name or password", status=401)
    if outcome is Outcome.SIGNED_IN:
        response = RedirectResponse(_safe_next(next), status_code=303)
        _set_session_cookie(response, svc, token, Stage.FULL)
    else:
        stage = Stage.TOTP if outcome is Outcome.NEEDS_CODE else Stage.ENROL
        response = RedirectResponse(_step_url(stage, next), status_code=303)
        _set_session_cookie(response, svc, token, stage)
    return response


# -- the second step: a TOTP code (or a recovery code) ----------------------------------------


async def _at_stage(request: Request, svc: Services, stage: Stage) -> WebIdentity | None:
    who = await run_in_threadpool(_pending, svc, request.cookies.get(sessions.COOKIE))
    return who if who is not None and who.stage is stage else None


def _code_page(
    request: Request, who: WebIdentity, next_page: str, *, error: str | None, status: int = 200
) -> Response:
    return render(
        request,
        "login_code.html",
        {
            "next": _safe_next(next_page),
            "error": error,
            "step_csrf": who.csrf,
            "me_name": who.user.username,
        },
        status=status,
    )


@router.get("/login/code", response_class=HTMLResponse)
async def code_page(request: Request, svc: Svc, next: str | None = None) -> Response:
    who = await _at_stage(request, svc, Stage.TOTP)
    if who is None:
        return RedirectResponse("/ui/login", status_code=303)
    return _code_page(request, who, next or "/ui/", error=None)


def _finish_with_code(
    svc: Services, who: WebIdentity, code: str, client: str
) -> tuple[totp.Factor | None, str | None]:
    username = who.user.username
    with Session(writer(svc.engine)) as session:
        throttle.check(session, username=username, client=client, settings=svc.settings)
        factor = totp.verify(session, who.user.id, code, settings=svc.settings)
        if factor is None:
            _fail(svc, session, username, client, "totp")
            session.commit()
            return None, None
        token = _complete(session, svc, who, client, second_factor=factor.value)
        session.commit()
        return factor, token


@router.post("/login/code", response_class=HTMLResponse)
async def code_given(
    request: Request,
    svc: Svc,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=512)] = "/ui/",
    csrf: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    who = await _at_stage(request, svc, Stage.TOTP)
    if who is None:
        return RedirectResponse("/ui/login", status_code=303)
    if not sessions.csrf_ok(who, csrf):
        return _code_page(request, who, next, error=FORM_EXPIRED, status=403)
    client = client_of(request)
    try:
        factor, token = await run_in_threadpool(_finish_with_code, svc, who, code, client)
    except TooManyAttempts as exc:
        page = _code_page(request, who, next, error=exc.message, status=429)
        page.headers["Retry-After"] = str(int(exc.retry_after))
        return page
    if factor is None or token is None:
        return _code_page(request, who, next, error=WRONG_CODE, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(response, svc, token, Stage.FULL)
    return response


def _cancel(svc: Services, who: WebIdentity) -> None:
    with Session(writer(svc.engine)) as session:
        sessions.end(session, who.token_hash)
        session.commit()


@router.post("/login/cancel")
async def cancel_sign_in(
    request: Request, svc: Svc, csrf: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    """Leave a half-way sign-in (to sign in as someone else)."""
    who = await run_in_threadpool(_pending, svc, request.cookies.get(sessions.COOKIE))
    if who is None or who.stage is Stage.FULL:
        return RedirectResponse("/ui/login", status_code=303)
    if not sessions.csrf_ok(who, csrf):
        return render(
            request,
            "error.html",
            {"status": 403, "code": "csrf_failed", "message": FORM_EXPIRED},
            status=403,
        )
    await run_in_threadpool(_cancel, svc, who)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/ui")
    return response


# -- setting up a second factor ---------------------------------------------------------------


def _enrol_identity(svc: Services, token: str | None) -> WebIdentity | None:
    """A session that may set up a second factor: half-way at ``enrol``, or fully signed in."""
    who = _pending(svc, token)
    return who if who is not None and who.stage in (Stage.ENROL, Stage.FULL) else None


def _begin(svc: Services, who: WebIdentity) -> totp.Enrolment | None:
    with Session(writer(svc.engine)) as session:
        if totp.state(session, who.user.id) is totp.TotpState.ACTIVE:
            return None
        enrolment = totp.begin_enrolment(
            session, who.user.username, settings=svc.settings, actor=who.user.username
        )
        session.commit()
        return enrolment


def _enrol_page(
    request: Request,
    who: WebIdentity,
    enrolment: totp.Enrolment | None,
    next_page: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    if who.stage is Stage.FULL:
        request.state.identity = who  # the usual menu for a signed-in person
    return render(
        request,
        "totp_enrol.html",
        {
            "next": _safe_next(next_page),
            "enrolment": enrolment,
            # segno's SVG holds only paths drawn from the link: safe to put in the page as is
            "qr_svg": Markup(qr.svg(enrolment.uri)) if enrolment is not None else None,
            "error": error,
            "step_csrf": who.csrf,
            "halfway": who.stage is Stage.ENROL,
            "me_name": who.user.username,
        },
        status=status,
    )


@router.get("/totp", response_class=HTMLResponse)
async def enrol_page(request: Request, svc: Svc, next: str | None = None) -> Response:
    who = await run_in_threadpool(_enrol_identity, svc, request.cookies.get(sessions.COOKIE))
    if who is None:
        return RedirectResponse(f"/ui/login?next={quote('/ui/totp')}", status_code=303)
    enrolment = await run_in_threadpool(_begin, svc, who)
    return _enrol_page(request, who, enrolment, next or "/ui/")


def _confirm(
    svc: Services, who: WebIdentity, code: str, client: str
) -> tuple[list[str], str | None]:
    """Confirm the pending secret; a half-way session becomes a full one (new token)."""
    username = who.user.username
    with Session(writer(svc.engine)) as session:
        codes = totp.confirm_enrolment(
            session, username, code, settings=svc.settings, actor=username
        )
        token = None
        if who.stage is Stage.ENROL:
            token = _complete(session, svc, who, client, second_factor="totp_enrolled")
        session.commit()
        return codes, token


@router.post("/totp", response_class=HTMLResponse)
async def enrol_confirm(
    request: Request,
    svc: Svc,
    code: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=512)] = "/ui/",
    csrf: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    who = await run_in_threadpool(_enrol_identity, svc, request.cookies.get(sessions.COOKIE))
    if who is None:
        return RedirectResponse("/ui/login", status_code=303)
    if not sessions.csrf_ok(who, csrf):
        enrolment = await run_in_threadpool(_begin, svc, who)
        return _enrol_page(request, who, enrolment, next, error=FORM_EXPIRED, status=403)
    try:
        codes, token = await run_in_threadpool(_confirm, svc, who, code, client_of(request))
    except (ValidationError, ConflictError) as exc:
        enrolment = await run_in_threadpool(_begin, svc, who)
        return _enrol_page(request, who, enrolment, next, error=exc.message, status=400)
    if token is not None:
        request.state.identity = None
    else:
        request.state.identity = who
    response = render(
        request,
        "totp_done.html",
        {"next": _safe_next(next), "codes": codes, "me_name": who.user.username},
    )
    if token is not None:
        _set_session_cookie(response, svc, token, Stage.FULL)
    return response


def _sign_out(svc: Services, who: WebIdentity) -> None:
    with Session(writer(svc.engine)) as session:
        sessions.end(session, who.token_hash)
        chain.record(
            session, actor=who.user.username, action="logout", target=f"user:{who.user.username}"
        )
        session.commit()


@router.post("/logout")
async def logout(svc: Svc, who: MePost) -> Response:
    await run_in_threadpool(_sign_out, svc, who)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/ui")
    return response


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, svc: Svc, who: Me) -> Response:
    return render(
        request,
        "settings.html",
        {
            "prefs": who.user.preferences,
            "items_viewed": who.items_viewed,
            "cap": svc.settings.review_session_items,
        },
    )


@router.post("/settings")
def save_settings(
    svc: Svc,
    who: MePost,
    blur: Annotated[int, Form(ge=0, le=64)] = 24,
    greyscale: Annotated[str | None, Form()] = None,
) -> Response:
    with Session(writer(svc.engine)) as session:
        users.set_preferences(
            session,
            who.user.username,
            blur=blur,
            greyscale=greyscale == "on",
            actor=who.user.username,
        )
        session.commit()
    return RedirectResponse("/ui/settings?flash=" + quote("settings saved"), status_code=303)


@router.post("/break")
def took_break(svc: Svc, who: MePost) -> Response:
    """The reviewer took the break the reminder asked for: the session count starts again."""
    with Session(writer(svc.engine)) as session:
        sessions.reset_items(session, who.token_hash)
        chain.record(session, actor=who.user.username, action="wellness.break", target="session")
        session.commit()
    return RedirectResponse("/ui/queue?flash=" + quote("welcome back"), status_code=303)
