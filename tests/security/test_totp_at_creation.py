"""Sign-in trust on first use: an administrator creates a user with the second factor set up
at once (`vangnet user create NAME --role R --totp` prints its QR code, link and recovery
codes), so whoever learns the password before the person first signs in cannot enrol a
device of their own; the web UI's enrolment page shows the link as an inline SVG QR code.

Through the CLI and the web UI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pyotp
import pytest
import segno
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cli.test_cli import Run
from vangnet.config import reset_settings
from vangnet.store.models import AuditEntry, User
from web.conftest import PASSWORD, WebFactory, make_user, post_login


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return Run()


def _create(run: Run, name: str, *extra: str, code: int = 0) -> Any:
    return run(
        "user", "create", name, "--role", "admin", "--password-stdin", "--as", "root-admin",
        *extra, stdin=PASSWORD + "\n", code=code,
    )  # fmt: skip


def _user(engine: Engine, name: str) -> User | None:
    with Session(engine) as session:
        return session.scalars(select(User).where(User.username == name)).one_or_none()


def test_user_created_with_totp_cannot_be_enrolled_by_whoever_knows_the_password(
    run: Run, db_engine: Engine, web_factory: WebFactory
) -> None:
    result = _create(run, "boss", "--totp", "--json")
    data = json.loads(result.stdout)
    secret, uri = data["totp"]["secret"], data["totp"]["uri"]
    assert uri.startswith("otpauth://totp/Vangnet:boss?") and f"secret={secret}" in uri
    assert len(data["totp"]["recovery_codes"]) == 8
    user = _user(db_engine, "boss")
    assert user is not None and user.totp_confirmed_at is not None
    with Session(db_engine) as session:
        enrolled = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.totp.enrol")
        ).one()
    assert enrolled.actor == "root-admin" and enrolled.target == "user:boss"

    # someone with the password only: sent to the code step, never to enrolment
    web = web_factory()
    r = post_login(web, username="boss", password=PASSWORD)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login/code")
    enrol = web.get("/ui/totp")
    assert 'id="totp-secret"' not in enrol.text and "otpauth://" not in enrol.text
    assert web.get("/ui/").status_code in (303, 401, 403)
    # the person with the device signs in with its code
    step = web.get(r.headers["location"])
    token = re.search(r'name="csrf" value="([^"]+)"', step.text)
    assert token is not None
    r = web.post("/ui/login/code", data={"csrf": token.group(1), "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 303 and web.get("/ui/").status_code == 200


def test_cli_prints_the_qr_code_link_and_recovery_codes(run: Run) -> None:
    out = _create(run, "boss2", "--totp").stdout
    link = re.search(r"link: (otpauth://totp/Vangnet:boss2\?\S+)", out)
    assert link is not None
    # the terminal QR is the one of that link (segno draws the same code for the same data)
    from vangnet.auth import qr

    assert qr.terminal(link.group(1)) in out
    assert "█" in out and "recovery codes" in out


def test_totp_at_creation_refuses_bad_input_and_changes_nothing(
    run: Run, db_engine: Engine
) -> None:
    _create(run, "bad name!", "--totp", code=6)
    assert _user(db_engine, "bad name!") is None
    _create(run, "boss3")
    before = _user(db_engine, "boss3")
    _create(run, "boss3", "--totp", code=5)  # exists: no second secret for that account
    after = _user(db_engine, "boss3")
    assert before is not None and after is not None
    assert (after.totp_secret, after.totp_confirmed_at) == (None, None)


def test_enrolment_page_shows_the_link_as_an_inline_svg_qr_code(
    web_factory: WebFactory, db_url: str
) -> None:
    make_user(db_url, "newadmin", "admin", totp=False)  # enrols at first sign-in
    web = web_factory()
    r = post_login(web, username="newadmin", password=PASSWORD)
    assert r.headers["location"].startswith("/ui/totp")
    page = web.get("/ui/totp")
    assert page.status_code == 200
    uri = re.search(r'id="totp-uri">([^<]+)<', page.text)
    svg = re.search(r'<figure class="qr" id="totp-qr">(<svg.*?</svg>)</figure>', page.text, re.S)
    assert uri is not None and svg is not None
    link = uri.group(1).replace("&amp;", "&")
    assert link.startswith("otpauth://totp/Vangnet:newadmin?")
    # the picture is the QR code of exactly that link
    expected = segno.make(link, error="m", micro=False).svg_inline(
        scale=4, dark="#000", light="#fff"
    )
    assert svg.group(1) == expected
    assert "<script" not in svg.group(1)
