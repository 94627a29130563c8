"""Fixtures for the HTTP API tests: an app on `db_url`, API keys, benign media paths."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from conftest import audited

with warnings.catch_warnings():
    # Starlette 1.x deprecates its TestClient on httpx (wants httpx2); the project pins httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from vangnet.api.app import create_app
from vangnet.auth.keys import create_key
from vangnet.config import Settings
from vangnet.store.db import make_engine

BRIDGE = Path("threatexchange/pdq/data/bridge-mods")
DIH = Path("threatexchange/pdq/data/reg-test-input/dih")
VIDEOS = Path("threatexchange/video/sample-videos")
UNRELATED = Path("photos/public-domain/skimage_coffee.png")


def make_key(db_url: str, role: str, name: str | None = None) -> str:
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as session:
            _view, secret = create_key(session, name=name or f"test-{role}", role=role)
            session.commit()
    finally:
        engine.dispose()
    return secret


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(db_url: str) -> Iterator[AppFactory]:
    """Start an app (lifespan running) on ``db_url`` with extra settings; closed at teardown."""
    started: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        settings = Settings(database_url=db_url, **overrides)
        client = TestClient(create_app(settings, start_background=True))
        client.__enter__()
        started.append(client)
        return client

    yield factory
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def admin_key(db_url: str) -> str:
    return make_key(db_url, "admin")


@pytest.fixture
def client(make_client: AppFactory, admin_key: str) -> TestClient:
    """An app whose requests carry an admin key by default."""
    c = make_client()
    c.headers["X-API-Key"] = admin_key
    return c


def poll(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """True as soon as ``check()`` is; False after ``timeout`` seconds (a bound, not a timing
    assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def refresh(client: TestClient) -> None:
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]


def content_count(client: TestClient, bank: str) -> int:
    r = client.get(f"/v1/banks/{bank}")
    assert r.status_code == 200, r.text
    count: int = r.json()["stats"]["content"]
    return count
