"""Helpers and fixtures for the browser tests (``test_browser.py``).

A real ``vangnet serve`` subprocess on 127.0.0.1 (SQLite in a temporary VANGNET_HOME, cases
and users made beforehand through the project's own code, webhooks going to a local
receiver), driven by Playwright with Debian's Chromium (``/usr/bin/chromium``; Playwright's
own browser downloads are not used). Screenshots go to ``tests/artifacts/screenshots/``
(git-ignored). Admins have a second factor (enrolled with the service functions); `sign_in`
types their TOTP code, computed from the secret as an authenticator app would.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import audited
from web.conftest import enrol_totp, next_code

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("VANGNET_TEST_CHROMIUM", "/usr/bin/chromium")
WEBHOOK_SECRET = "browser-test-webhook-secret"
PASSWORD = "correct horse battery"  # every test user's (>= 10 characters)

# The people who sign in: user name -> role.
USERS = {
    "rita": "reviewer",
    "sam": "reviewer",
    "ana": "analyst",
    "carl": "curator",
    "ada": "admin",
}

# Benign pictures from ../shared/data filed as uploads: (photo, account, category).
# Two uploads from one account land in one case (grouping by account).
BRIDGE = Path("threatexchange/pdq/data/bridge-mods/aaa-orig.jpg")
ROCKET = Path("photos/public-domain/skimage_rocket.jpg")
COFFEE = Path("photos/public-domain/skimage_coffee.png")
CHELSEA = Path("photos/public-domain/skimage_chelsea.png")
FLOWER = Path("photos/public-domain/flower.jpg")
CHINA = Path("photos/public-domain/china.jpg")
MOTORCYCLE = Path("photos/public-domain/skimage_motorcycle_left.png")
ASTRONAUT = Path("photos/public-domain/skimage_astronaut.png")


@dataclass
class LiveServer:
    """The running server and what was prepared in its database."""

    url: str
    db_url: str
    receiver: Any  # webhook_receiver.Receiver
    ncmec: Any  # reports.fake_ncmec.FakeNcmec: a local fake CyberTipline API
    log: Path
    confirm_case: int  # open; the reviewer flow confirms it
    fp_case: int  # open; the false-positive flow decides it
    reported_case: int  # confirmed beforehand, for the NCMEC report page
    other_cases: list[int] = field(default_factory=list)  # stay open (screenshots, keyboard)
    reports: dict[int, str] = field(default_factory=dict)  # case id -> report page URL

    def engine(self) -> Any:
        from vangnet.store.db import make_engine

        return audited(make_engine(self.db_url))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prepare(db_url: str, shared_data: Path) -> dict[str, Any]:
    """Migrate, file the cases, create the users (VANGNET_HOME is set by the caller)."""
    from sqlalchemy.orm import Session

    from review.factory import make_case
    from vangnet.auth import users
    from vangnet.config import get_settings
    from vangnet.review import decisions
    from vangnet.store.db import make_engine, writer
    from vangnet.store.migrate import upgrade

    upgrade(db_url)
    engine = audited(make_engine(db_url))
    try:
        confirm_case = make_case(engine, shared_data, photo=BRIDGE, account="user123")
        again = make_case(engine, shared_data, photo=CHELSEA, account="user123", category="vics:2")
        assert again == confirm_case, "two uploads of one account should share a case"
        fp_case = make_case(engine, shared_data, photo=ROCKET, account="rocketfan")
        reported_case = make_case(engine, shared_data, photo=COFFEE, account="coffee.lover")
        shown = make_case(engine, shared_data, photo=FLOWER, account="flowers4u")
        make_case(engine, shared_data, photo=ASTRONAUT, account="flowers4u", category="vics:2")
        others = [
            shown,
            make_case(engine, shared_data, photo=CHINA, account="traveller", category=None),
            make_case(engine, shared_data, photo=MOTORCYCLE, account="rider-77"),
        ]
        with Session(writer(engine)) as session:
            for name, role in USERS.items():
                users.create_user(
                    session, username=name, password=PASSWORD, role=role, actor="test"
                )
            decisions.decide(
                session,
                reported_case,
                decision="confirm",
                actor="sam",
                category="vics:1",
                settings=get_settings(),
            )
            session.commit()
        for name, role in USERS.items():
            if role == "admin":  # admins sign in with a second factor (TOTP)
                enrol_totp(engine, name)
    finally:
        engine.dispose()
    return {
        "confirm_case": confirm_case,
        "fp_case": fp_case,
        "reported_case": reported_case,
        "other_cases": others,
    }


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"vangnet serve exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/ui/login", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"vangnet serve did not answer within 30 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[LiveServer]:
    """`vangnet serve` on a free loopback port, on a SQLite database prepared beforehand."""
    from vangnet.config import reset_settings
    from webhook_receiver import run_receiver

    home = tmp_path_factory.mktemp("browser-home")
    db_url = f"sqlite:///{home / 'v.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env["VANGNET_EGRESS_ALLOW"] = '["loopback"]'  # the tests' servers are on loopback
    env.update(
        {
            "VANGNET_HOME": str(home),
            "VANGNET_DATABASE_URL": db_url,
            "VANGNET_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VANGNET_WEBHOOK_BACKOFF_SECONDS": "0.2",
            "VANGNET_REVIEW_UNDO_SECONDS": "1",  # held webhooks: released after 1 s
            "VANGNET_NCMEC_REPORTER_FIRST_NAME": "Test",
            "VANGNET_NCMEC_REPORTER_LAST_NAME": "Reviewer",
            "VANGNET_NCMEC_REPORTER_EMAIL": "trust-safety@example.org",
            "VANGNET_NCMEC_COMPANY": "Example Platform",
            "VANGNET_LOG_LEVEL": "warning",
        }
    )
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("VANGNET_") and key != "VANGNET_SHARED_DATA":
                mp.delenv(key)
        mp.setenv("VANGNET_HOME", str(home))
        mp.setenv("VANGNET_DATABASE_URL", db_url)
        reset_settings()
        try:
            prepared = _prepare(db_url, shared_data)  # no webhook URL yet: nothing queued
        finally:
            reset_settings()

    from reports.fake_ncmec import PASSWORD as NCMEC_PASSWORD
    from reports.fake_ncmec import USERNAME as NCMEC_USERNAME
    from reports.fake_ncmec import run_fake_ncmec

    with run_receiver() as receiver, run_fake_ncmec() as ncmec:
        env["VANGNET_WEBHOOK_URL"] = receiver.url
        env["VANGNET_NCMEC_URL"] = ncmec.url
        env["VANGNET_NCMEC_USERNAME"] = NCMEC_USERNAME
        env["VANGNET_NCMEC_PASSWORD"] = NCMEC_PASSWORD
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = home / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("vangnet")),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_up(url, process, log)
            yield LiveServer(
                url=url, db_url=db_url, receiver=receiver, ncmec=ncmec, log=log, **prepared
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def sign_in(
    chromium: Any,
    server: LiveServer,
    username: str,
    *,
    width: int = 1280,
    height: int = 800,
    shot: str | None = None,
) -> Any:
    """A fresh browser context signed in through the login form; returns its page."""
    context = chromium.new_context(
        viewport={"width": width, "height": height}, base_url=server.url, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/ui/login")
    if shot:
        screenshot(page, shot)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(server.url) + r"/ui/(login/code.*)?$"))
    if "/ui/login/code" in page.url:  # the second factor: a code from the "phone"
        if shot:
            screenshot(page, shot + "-code")
        page.get_by_label("Code").fill(next_code(username))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"{server.url}/ui/")
    return page


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot under tests/artifacts/screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"))


# -- pictures ---------------------------------------------------------------------------------


def _grey(png: bytes) -> np.ndarray[Any, np.dtype[np.float64]]:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("L"), dtype=np.float64)


def sharpness(png: bytes) -> float:
    """Variance of the Laplacian of the picture: high for detail, near zero when blurred."""
    grey = _grey(png)
    lap = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    return float(lap.var())


def colourfulness(png: bytes) -> float:
    """Mean absolute difference between the colour channels (0 for a grey picture)."""
    with Image.open(io.BytesIO(png)) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return float((np.abs(r - g) + np.abs(g - b) + np.abs(r - b)).mean() / 3)


# -- webhooks ---------------------------------------------------------------------------------


def webhooks_for_case(server: LiveServer, case_id: int) -> dict[str, dict[str, Any]]:
    """Received webhooks about ``case_id`` (signatures checked): event -> body."""
    from vangnet.actions.webhooks import verify

    found: dict[str, dict[str, Any]] = {}
    with server.receiver.lock:
        received = list(server.receiver.requests)
    for request in received:
        body = json.loads(request.body)
        if body.get("data", {}).get("case", {}).get("id") != case_id:
            continue
        verify(request.body, request.headers, secret=WEBHOOK_SECRET.encode())
        found[request.headers.get("X-Vangnet-Event", "")] = body
    return found


def wait_for_webhooks(
    server: LiveServer, case_id: int, events: set[str], timeout: float = 10
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found = webhooks_for_case(server, case_id)
    while not events <= found.keys() and time.monotonic() < deadline:
        time.sleep(0.1)
        found = webhooks_for_case(server, case_id)
    return found
