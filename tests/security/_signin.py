"""Helpers for the sign-in attack tests: people at distinct (loopback) client addresses on one
running app, the sign-in form posted as a browser would, time passing for the throttle."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from vangnet.audit import chain
from vangnet.store.db import writer
from vangnet.store.models import LoginAttempt, WebSession

FORM_CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')


def at_address(app_client: TestClient, host: str) -> TestClient:
    """Another client (own cookies) on the same running app, seen as coming from ``host``
    (a loopback address label: nothing is sent over a network)."""
    return TestClient(app_client.app, follow_redirects=False, client=(host, 50000))


def form_token(client: TestClient, path: str = "/ui/login") -> str | None:
    found = FORM_CSRF.search(client.get(path).text)
    return found.group(1) if found else None


def sign_in(client: TestClient, username: str, password: str, **extra: str) -> Any:
    """POST the sign-in form after loading it (its CSRF token, when the page has one)."""
    token = form_token(client)
    form = {"username": username, "password": password, **extra}
    if token is not None:
        form["csrf"] = token
    return client.post("/ui/login", data=form)


def give_code(client: TestClient, code: str, location: str = "/ui/login/code") -> Any:
    token = form_token(client, location)
    assert token is not None, "no CSRF token on the code page"
    return client.post("/ui/login/code", data={"code": code, "csrf": token})


def time_passes(engine: Engine, seconds: float) -> None:
    """Move every recorded failed sign-in ``seconds`` into the past (as if the attacker
    waited), instead of sleeping. A writer transaction (SQLite: BEGIN IMMEDIATE): it reads,
    then writes, and must wait for the app's own writes instead of failing on them."""
    with Session(writer(engine)) as session:
        for row in session.scalars(select(LoginAttempt)):
            row.at = row.at - timedelta(seconds=seconds)
        session.commit()


def failures(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(LoginAttempt.id)).all())


def audit(engine: Engine, action: str) -> list[dict[str, Any]]:
    with Session(engine) as session:
        found = chain.list_entries(session, action=action, limit=1000)
    return [e for e in found if e["action"] == action]  # (the filter matches prefixes)


def sessions_of(engine: Engine) -> list[tuple[int, str]]:
    with Session(engine) as session:
        return [(r.user_id, r.stage) for r in session.scalars(select(WebSession))]
