"""Fixtures for the web UI tests: an app on `db_url`, users of each role, signing in.

`web_factory(**settings)` starts the app (lifespan running, background index polling off) and
returns a `TestClient` that does not follow redirects; `browser(client)` gives another client
on the same running app with its own cookie jar (a second person). `make_user` creates an
account directly in the database (admins with a second factor); `login` signs a client in
(password and TOTP code, through the forms) and returns the page's CSRF token.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pyotp
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from conftest import audited

with warnings.catch_warnings():
    # Starlette 1.x deprecates its TestClient on httpx (wants httpx2); the project pins httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from vangnet.api.app import create_app
from vangnet.auth import users
from vangnet.auth.roles import USER_ROLES
from vangnet.config import Settings, get_settings
from vangnet.store.db import make_engine, writer

PASSWORD = "correct horse battery"  # test accounts only
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
LOGIN_CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]+)">')

WebFactory = Callable[..., TestClient]


# Second factors of the test accounts enrolled here: user name -> TOTP secret, and the last
# time step whose code was used (the server refuses a code twice).
TOTP_SECRETS: dict[str, str] = {}
_LAST_STEP: dict[str, int] = {}
STEP_SECONDS = 30  # RFC 6238's default, as vangnet.auth.totp uses


def make_user(
    db_url: str, name: str, role: str, password: str = PASSWORD, *, totp: bool | None = None
) -> None:
    """An account of ``role`` (created as the CLI would, audited as ``test-setup``). With a
    second factor if ``totp`` (default: for admins, who must have one), enrolled through the
    service functions; `login` then gives its codes."""
    engine = audited(make_engine(db_url))
    try:
        with Session(writer(engine)) as session:
            users.create_user(
                session, username=name, password=password, role=role, actor="test-setup"
            )
            session.commit()
        if totp if totp is not None else role == "admin":
            enrol_totp(engine, name)
    finally:
        engine.dispose()


def enrol_totp(engine: Engine, name: str) -> str:
    """Set up a second factor for ``name`` (confirmed with the previous step's code, so the
    current and next steps stay free for sign-ins); returns the secret."""
    from vangnet.auth import totp as totp_service

    now = time.time()
    with Session(writer(engine)) as session:
        enrolment = totp_service.begin_enrolment(
            session, name, settings=get_settings(), actor="test-setup"
        )
        step = int(now // totp_service.STEP_SECONDS) - 1
        code = pyotp.TOTP(enrolment.secret).at(step * totp_service.STEP_SECONDS)
        totp_service.confirm_enrolment(
            session, name, code, settings=get_settings(), actor="test-setup", now=now
        )
        session.commit()
    TOTP_SECRETS[name] = enrolment.secret
    _LAST_STEP[name] = step
    return enrolment.secret


def next_code(name: str) -> str:
    """A TOTP code for ``name`` the server has not seen yet (waits for the next 30-second
    step only when the three steps it accepts were all used)."""
    secret = TOTP_SECRETS[name]
    while True:
        now = time.time()
        current = int(now // STEP_SECONDS)
        # near the end of a step the previous one may slip out of the window in transit
        earliest = current - 1 if now % STEP_SECONDS < 27 else current
        step = max(earliest, _LAST_STEP.get(name, earliest - 1) + 1)
        if step <= current + 1:
            _LAST_STEP[name] = step
            return pyotp.TOTP(secret).at(step * STEP_SECONDS)
        time.sleep(STEP_SECONDS - now % STEP_SECONDS + 0.05)


def login_form_token(client: TestClient, path: str = "/ui/login") -> str:
    """The CSRF token of the sign-in form (GET sets its cookie too)."""
    page = client.get(path)
    found = LOGIN_CSRF.search(page.text)
    assert found is not None, f"no CSRF field on {path}: {page.status_code} {page.text[:300]}"
    return found.group(1)


def post_login(client: TestClient, **form: str) -> Any:
    """POST the sign-in form as a browser would (after loading it, with its CSRF token)."""
    return client.post("/ui/login", data={"csrf": login_form_token(client), **form})


def csrf_of(html: str) -> str:
    found = CSRF_META.search(html)
    assert found is not None, "no CSRF meta tag on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in (password, then a TOTP code for accounts with a second factor);
    returns the session's CSRF token (from the dashboard's meta tag)."""
    r = post_login(client, username=username, password=password)
    assert r.status_code == 303, f"sign-in of {username} failed: {r.status_code} {r.text[:300]}"
    if r.headers["location"].startswith("/ui/login/code"):
        step = login_form_token(client, r.headers["location"])
        r = client.post("/ui/login/code", data={"csrf": step, "code": next_code(username)})
        assert r.status_code == 303, f"code of {username} refused: {r.status_code} {r.text[:300]}"
    page = client.get("/ui/")
    assert page.status_code == 200, page.text[:300]
    token = csrf_of(page.text)
    assert token
    return token


def browser(client: TestClient) -> TestClient:
    """Another client (its own cookies) on the app ``client`` started."""
    return TestClient(client.app, follow_redirects=False)


@pytest.fixture
def web_factory(db_url: str) -> Iterator[WebFactory]:
    """Start the app on ``db_url`` with extra settings; stopped at teardown."""
    started: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        settings = Settings(database_url=db_url, **overrides)
        client = TestClient(create_app(settings, start_background=False), follow_redirects=False)
        client.__enter__()
        started.append(client)
        return client

    yield factory
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def web_app(web_factory: WebFactory) -> TestClient:
    """The app with default settings (not signed in)."""
    return web_factory()


@pytest.fixture
def role_users(db_url: str) -> dict[str, str]:
    """One account per user role, named after it: {"admin": "admin", ...}."""
    for role in USER_ROLES:
        make_user(db_url, role.value, role.value)
    return {role.value: role.value for role in USER_ROLES}
