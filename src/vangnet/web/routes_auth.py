"""Signing in and out, and each person's wellness settings."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vangnet.api.deps import Services, services
from vangnet.audit import chain
from vangnet.review import users
from vangnet.store.db import writer
from vangnet.web import sessions
from vangnet.web.deps import client_of, csrf_for, render, signed_in
from vangnet.web.sessions import TooManyAttempts, WebIdentity

router = APIRouter(prefix="/ui", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Me = Annotated[WebIdentity, Depends(signed_in())]
MePost = Annotated[WebIdentity, Depends(csrf_for())]


def _safe_next(target: str | None) -> str:
    """Only paths inside the UI (no open redirects)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


def _sign_in(svc: Services, username: str, password: str, client: str) -> str | None:
    with Session(writer(svc.engine)) as session:
        sessions.check_rate(session, username=username, client=client, settings=svc.settings)
        user = users.authenticate(session, username, password)
        if user is None:
            sessions.record_failure(session, username=username, client=client)
            chain.record(
                session,
                actor=f"web:{username[:64]}",
                action="login.failed",
                target=f"user:{username[:64]}",
                details={"client": client},
            )
            session.commit()
            return None
        token = sessions.start(session, user, client=client, settings=svc.settings)
        chain.record(
            session,
            actor=user.username,
            action="login",
            target=f"user:{user.username}",
            details={"client": client},
        )
        session.commit()
        return token


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    svc: Svc,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=512)] = "/ui/",
) -> Response:
    client = client_of(request)
    try:
        token = await run_in_threadpool(_sign_in, svc, username.strip(), password, client)
    except TooManyAttempts as exc:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": exc.message},
            status=429,
        )
    if token is None:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "wrong user name or password"},
            status=401,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=svc.settings.cookie_secure,
        path="/ui",
        max_age=int(svc.settings.review_session_hours * 3600),
    )
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
