"""What every web page needs: the signed-in person, their permission, CSRF, templates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from vangnet.auth.roles import Permission, has_permission
from vangnet.errors import ForbiddenError, VangnetError
from vangnet.http.deps import Services, services
from vangnet.store.db import writer
from vangnet.web import sessions
from vangnet.web.sessions import WebIdentity

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.autoescape = True


class LoginRequired(VangnetError):
    """Not signed in: pages redirect to the sign-in page."""

    code = "login_required"
    status = 401


class CsrfError(VangnetError):
    code = "csrf_failed"
    status = 403


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _lookup(svc: Services, token: str | None) -> WebIdentity | None:
    with Session(writer(svc.engine)) as session:
        found = sessions.lookup(session, token, settings=svc.settings)
        session.commit()
    return found


async def identity(
    request: Request, svc: Annotated[Services, Depends(services)]
) -> WebIdentity | None:
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        return None
    found: WebIdentity | None = await run_in_threadpool(_lookup, svc, token)
    return found


def signed_in(*permissions: Permission) -> Callable[..., Awaitable[WebIdentity]]:
    """Dependency: a signed-in person holding one of ``permissions`` (any, if none given)."""

    async def check(
        request: Request, who: Annotated[WebIdentity | None, Depends(identity)]
    ) -> WebIdentity:
        if who is None:
            raise LoginRequired("sign in first")
        if permissions and not any(has_permission(who.user.role, p) for p in permissions):
            doing = " or ".join(p.value.replace("_", " ") for p in permissions)
            raise ForbiddenError(f"your role ({who.user.role}) may not {doing}")
        request.state.identity = who
        return who

    return check


async def check_csrf(request: Request, who: WebIdentity) -> None:
    """State-changing requests carry the session's CSRF token (form field or header)."""
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if not sessions.csrf_ok(who, given):
        raise CsrfError("the form has expired or did not come from this site; reload the page")


def csrf_for(permission: Permission | None = None) -> Callable[..., Awaitable[WebIdentity]]:
    """Dependency for POST routes: signed in (with ``permission``) and a valid CSRF token."""
    base = signed_in(permission) if permission is not None else signed_in()

    # (a default, not an annotation: annotations are strings resolved in module scope)
    async def check(request: Request, who: WebIdentity = Depends(base)) -> WebIdentity:
        await check_csrf(request, who)
        return who

    return check


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
) -> HTMLResponse:
    """A page, with what the layout needs (who is signed in, their CSRF token, the menu)."""
    who: WebIdentity | None = getattr(request.state, "identity", None)
    ctx: dict[str, Any] = {
        "me": who.user if who else None,
        "csrf": who.csrf if who else "",
        "can": (lambda p: who is not None and has_permission(who.user.role, Permission(p))),
        "flash": request.query_params.get("flash"),
        "path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status)
