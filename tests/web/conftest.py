"""Fixtures for the web UI tests: an app on `db_url`, users of each role, signing in.

`web_factory(**settings)` starts the app (lifespan running, background index polling off) and
returns a `TestClient` that does not follow redirects; `browser(client)` gives another client
on the same running app with its own cookie jar (a second person). `make_user` creates an
account directly in the database; `login` signs a client in and returns the page's CSRF token.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

with warnings.catch_warnings():
    # Starlette 1.x deprecates its TestClient on httpx (wants httpx2); the project pins httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from vangnet.api.app import create_app
from vangnet.auth.roles import USER_ROLES
from vangnet.config import Settings
from vangnet.review import users
from vangnet.store.db import make_engine, writer

PASSWORD = "correct horse battery"  # test accounts only
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')

WebFactory = Callable[..., TestClient]


def make_user(db_url: str, name: str, role: str, password: str = PASSWORD) -> None:
    """An account of ``role`` (created as the CLI would, audited as ``test-setup``)."""
    engine = make_engine(db_url)
    try:
        with Session(writer(engine)) as session:
            users.create_user(
                session, username=name, password=password, role=role, actor="test-setup"
            )
            session.commit()
    finally:
        engine.dispose()


def csrf_of(html: str) -> str:
    found = CSRF_META.search(html)
    assert found is not None, "no CSRF meta tag on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in; returns the session's CSRF token (from the dashboard's meta tag)."""
    r = client.post("/ui/login", data={"username": username, "password": password})
    assert r.status_code == 303, f"sign-in of {username} failed: {r.status_code} {r.text[:300]}"
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
