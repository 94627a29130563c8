"""Issue 10, finding 11 (sign-in parts) and point 6: signing in as police and hotlines expect.

- An attacker who knows a user name cannot lock the real user out: failures are counted per
  (name, address) and per address with a doubling delay; a name under attack from many
  addresses raises the delay for failing addresses only.
- The sign-in form carries a CSRF token; without it: 403, and no attempt is counted.
- A second factor (TOTP): required for admins by default (nothing but enrolment before it),
  codes not accepted twice, recovery codes once, secrets encrypted in the database, reset
  from the CLI (audited).

Client addresses are labels on in-process test clients (127.0.0.x, ::1); nothing leaves the
process.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cli.test_cli import Run
from security._signin import (
    at_address,
    audit,
    failures,
    form_token,
    give_code,
    sessions_of,
    sign_in,
    time_passes,
)
from vangnet.config import get_settings, reset_settings
from vangnet.store.models import AuditEntry, LoginAttempt, User
from web.conftest import PASSWORD, WebFactory, make_user

ATTACKER = "127.0.0.66"
REAL_USER = "127.0.0.7"
SECRET_ON_PAGE = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
RECOVERY = re.compile(r"<li><code>([a-z2-9]{10})</code></li>")


def _retry_after(r: Any) -> int:
    assert r.status_code == 429, (r.status_code, r.text[:300])
    return int(r.headers["retry-after"])


def _waits(r: Any, delay: float) -> bool:
    """Refused with a Retry-After of what is left of ``delay`` (some of it has passed while
    the test ran; more than half is left in any test here, so each doubling is told apart)."""
    return delay / 2 < _retry_after(r) <= delay


# -- lockout that cannot be used against a known name ------------------------------------------


def test_attacker_cannot_lock_the_real_user_out_and_waits_longer_each_time(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "rita", "reviewer")
    app = web_factory()
    attacker, rita = at_address(app, ATTACKER), at_address(app, REAL_USER)

    for _ in range(5):  # the free failures
        assert sign_in(attacker, "rita", "not her password").status_code == 401
    # the name is hammered: its owner, from her own address, still signs in at once
    r = sign_in(rita, "rita", PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/ui/", r.text[:300]
    for delay in (2, 4, 8, 16):  # doubling from VANGNET_SIGNIN_BASE_DELAY_SECONDS
        # the attacker's address waits: refused without a password check, even the right one
        r = sign_in(attacker, "rita", PASSWORD)
        if delay == 2:  # (her sign-in above took some of it)
            assert 1 <= _retry_after(r) <= 2
        else:
            assert _waits(r, delay), (delay, r.headers.get("retry-after"))
        assert "try again in" in r.text and "vangnet_session" not in r.headers.get("set-cookie", "")
        counted = failures(db_engine)
        assert sign_in(attacker, "rita", "guess").status_code == 429
        assert failures(db_engine) == counted  # refused attempts are not counted
        # the real user, from her own address, signs in at once, every time
        r = sign_in(rita, "rita", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/ui/", r.text[:300]
        assert rita.get("/ui/queue").status_code == 200
        time_passes(db_engine, delay + 1)
        assert sign_in(attacker, "rita", "still not it").status_code == 401

    locked = audit(db_engine, "login.locked")
    assert len(locked) == 5 and all(e["details"]["client"] == ATTACKER for e in locked)
    assert sorted(e["details"]["wait_seconds"] for e in locked) == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert len(audit(db_engine, "login.failed")) == 4
    assert len(audit(db_engine, "login")) == 5


def test_the_delay_is_capped(web_factory: WebFactory, db_url: str, db_engine: Engine) -> None:
    make_user(db_url, "rita", "reviewer")
    app = web_factory(signin_max_delay_seconds=30, review_login_attempts=1)
    attacker = at_address(app, ATTACKER)
    for delay in (2, 4, 8, 16, 30, 30, 30):
        assert sign_in(attacker, "rita", "wrong password").status_code == 401
        assert _waits(sign_in(attacker, "rita", "wrong password"), delay)
        time_passes(db_engine, delay + 1)
    locked = audit(db_engine, "login.locked")
    assert sorted(e["details"]["wait_seconds"] for e in locked) == [2, 4, 8, 16, 30, 30, 30]


def test_one_address_spraying_many_names_is_slowed(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "rita", "reviewer")
    app = web_factory(signin_address_failures=6)
    attacker, rita = at_address(app, ATTACKER), at_address(app, "::1")
    for n in range(6):
        assert sign_in(attacker, f"name{n}", "wrong password").status_code == 401
    assert _waits(sign_in(attacker, "someone-else", "wrong password"), 2)
    assert _waits(sign_in(attacker, "rita", PASSWORD), 2)
    assert sign_in(rita, "rita", PASSWORD).status_code == 303


def test_a_name_under_attack_from_many_addresses_never_locks_out_its_owner(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "rita", "reviewer")
    app = web_factory(signin_name_anomaly_failures=4)
    for n in range(4):  # a botnet: one failure each
        assert sign_in(at_address(app, f"127.0.1.{n}"), "rita", "wrong").status_code == 401
    # under attack: a failing address gets one free failure for this name, not five
    late = at_address(app, "127.0.2.1")
    assert sign_in(late, "rita", "wrong").status_code == 401
    assert _waits(sign_in(late, "rita", "wrong"), 2)
    # the owner, from an address that has not failed, is not slowed at all
    rita = at_address(app, REAL_USER)
    assert sign_in(rita, "rita", PASSWORD).status_code == 303
    # and after a typo she waits seconds, not a lockout
    other = at_address(app, "127.0.0.8")
    assert sign_in(other, "rita", "typo").status_code == 401
    assert _waits(sign_in(other, "rita", PASSWORD), 2)
    time_passes(db_engine, 3)
    assert sign_in(other, "rita", PASSWORD).status_code == 303


def test_throttle_counts_are_shared_through_the_database(
    web_factory: WebFactory, db_url: str
) -> None:
    """Two app instances (as two worker processes) on one database see the same failures."""
    make_user(db_url, "rita", "reviewer")
    one, two = at_address(web_factory(), ATTACKER), at_address(web_factory(), ATTACKER)
    for n in range(5):
        assert sign_in(one if n % 2 else two, "rita", "wrong").status_code == 401
    assert _waits(sign_in(one, "rita", PASSWORD), 2)
    assert _waits(sign_in(two, "rita", PASSWORD), 2)


def test_parallel_guesses_are_checked_one_at_a_time(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    """A burst of simultaneous guesses gets no more password checks than the free failures
    (several worker processes included: the check is serialised in the database)."""
    make_user(db_url, "rita", "reviewer")
    app = web_factory()
    clients = [at_address(app, ATTACKER) for _ in range(8)]
    tokens = [form_token(c) for c in clients]
    start = threading.Barrier(len(clients))

    def guess(i: int) -> int:
        start.wait(timeout=30)
        form = {"username": "rita", "password": f"guess number {i}", "csrf": tokens[i] or ""}
        return int(clients[i].post("/ui/login", data=form).status_code)

    with ThreadPoolExecutor(len(clients)) as pool:
        statuses = sorted(pool.map(guess, range(len(clients))))
    assert statuses == [401] * 5 + [429] * 3, statuses
    assert failures(db_engine) == 5


# -- CSRF on the sign-in form -----------------------------------------------------------------


def test_sign_in_form_needs_its_csrf_token(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    from vangnet.web import login_csrf

    make_user(db_url, "rita", "reviewer")
    app = web_factory()
    client = at_address(app, ATTACKER)
    page = client.get("/ui/login")
    assert page.status_code == 200
    token = form_token(client)
    assert token is not None, "the sign-in form has no CSRF field"
    cookie = client.cookies.get(login_csrf.COOKIE)
    assert cookie and cookie in token
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie

    audit_before = _audit_count(db_engine)
    good = {"username": "rita", "password": PASSWORD}
    other = at_address(app, "127.0.0.9")
    other_token = form_token(other)
    assert other_token is not None
    nonce, issued, mac = token.split(".")
    old_nonce, old_token = login_csrf.issue(get_settings(), cookie, now=time.time() - 3 * 3600)
    assert old_nonce == cookie
    for bad in (
        None,  # missing (a cross-site form post)
        "",
        "x" * len(token),
        other_token,  # another browser's token: not this cookie's
        f"{nonce}.{issued}.{mac[:-2]}AA",  # signature altered
        f"{nonce}.{int(issued) + 1}.{mac}",  # time altered
        old_token,  # expired (signed three hours ago)
    ):
        form = dict(good) if bad is None else {**good, "csrf": bad}
        r = client.post("/ui/login", data=form)
        assert r.status_code == 403, (bad, r.status_code)
        assert "did not come from this site" in r.text
        assert "vangnet_session" not in r.headers.get("set-cookie", "")
    # the token in the query string does not count, nor a token without its cookie
    assert client.post(f"/ui/login?csrf={token}", data=good).status_code == 403
    fresh = at_address(app, "127.0.0.10")
    assert fresh.post("/ui/login", data={**good, "csrf": token}).status_code == 403
    # nothing was counted or recorded: no throttle, no audit entry, no session
    assert failures(db_engine) == 0
    assert _audit_count(db_engine) == audit_before
    assert sessions_of(db_engine) == []
    # many refused posts do not throttle the name either
    for _ in range(8):
        assert client.post("/ui/login", data={**good, "password": "x"}).status_code == 403
    assert failures(db_engine) == 0
    r = client.post("/ui/login", data={**good, "csrf": token})
    assert r.status_code == 303


def _audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


# -- the second factor ------------------------------------------------------------------------


def _enrol(client: Any) -> tuple[str, list[str], str]:
    """On the enrolment page: read the secret, confirm with a code; returns (secret,
    recovery codes, the code used)."""
    page = client.get("/ui/totp")
    assert page.status_code == 200, page.text[:300]
    found = SECRET_ON_PAGE.search(page.text)
    assert found, page.text[:500]
    secret = found.group(1)
    uri = re.search(r'<code id="totp-uri">([^<]+)</code>', page.text)
    assert uri is not None
    parsed = urlparse(uri.group(1).replace("&amp;", "&"))
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    assert parse_qs(parsed.query)["secret"] == [secret]
    token = form_token(client, "/ui/totp")
    wrong = client.post("/ui/totp", data={"csrf": token, "code": "000000"})
    if pyotp.TOTP(secret).verify("000000", valid_window=1):  # 1 in 333,333: pick another
        wrong = client.post("/ui/totp", data={"csrf": token, "code": "abcdef"})
    assert wrong.status_code == 400 and "wrong code" in wrong.text
    used = pyotp.TOTP(secret).now()
    done = client.post("/ui/totp", data={"csrf": token, "code": used})
    assert done.status_code == 200, done.text[:300]
    codes = RECOVERY.findall(done.text)
    assert len(codes) == 8
    return secret, codes, used


def test_admin_without_totp_can_do_nothing_but_enrol(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "boss", "admin", totp=False)
    app = web_factory()
    boss = at_address(app, REAL_USER)
    r = sign_in(boss, "boss", PASSWORD)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/totp"), r.headers
    assert sessions_of(db_engine) == [(_user_id(db_engine, "boss"), "enrol")]
    token = form_token(boss, "/ui/totp")
    assert token
    for path in ("/ui/", "/ui/users", "/ui/audit", "/ui/queue", "/ui/settings", "/ui/banks"):
        r = boss.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), path
        r = boss.get(r.headers["location"])  # the sign-in page sends him back to enrolment
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/totp"), path
    # no change either, even with the half-way session's own CSRF token
    with Session(db_engine) as session:
        users_before = session.scalar(select(func.count()).select_from(User))
    form = {"csrf": token, "username": "sneak", "role": "admin"}
    form |= {"password": PASSWORD, "password2": PASSWORD}
    assert boss.post("/ui/users", data=form).status_code in (401, 403)
    assert boss.post(
        "/ui/keys", data={"csrf": token, "name": "k", "role": "admin"}
    ).status_code in (
        401,
        403,
    )
    with Session(db_engine) as session:
        assert session.scalar(select(func.count()).select_from(User)) == users_before

    secret, _codes, _used = _enrol(boss)
    assert boss.get("/ui/users").status_code == 200  # now signed in fully (a new token)
    assert sessions_of(db_engine) == [(_user_id(db_engine, "boss"), "full")]
    [enrolled] = audit(db_engine, "user.totp.enrol")
    assert enrolled["target"] == "user:boss"

    # the secret is not in the database in clear (nor its bytes)
    with Session(db_engine) as session:
        stored = session.scalars(select(User.totp_secret).where(User.username == "boss")).one()
        recovery = session.scalars(select(User.totp_recovery).where(User.username == "boss")).one()
    assert stored and secret not in stored and secret.lower() not in stored.lower()
    assert base64.b32decode(secret) not in base64.b64decode(stored.split(":", 1)[1])
    assert recovery and all(len(h) == 64 for h in recovery)  # hashes only
    with Session(db_engine) as session:
        row = session.scalars(select(User).where(User.username == "boss")).one()
        everything = " ".join(str(getattr(row, c.key)) for c in User.__table__.columns)
    assert secret not in everything


def _user_id(engine: Engine, name: str) -> int:
    with Session(engine) as session:
        return int(session.scalars(select(User.id).where(User.username == name)).one())


def test_totp_codes_wrong_and_replayed_are_refused(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "boss", "admin", totp=False)
    app = web_factory()
    boss = at_address(app, REAL_USER)
    assert sign_in(boss, "boss", PASSWORD).status_code == 303
    secret, codes, enrol_code = _enrol(boss)

    def password_step(client: Any) -> str:
        r = sign_in(client, "boss", PASSWORD)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login/code"), r.text
        location: str = r.headers["location"]
        assert client.get("/ui/").status_code == 303  # not signed in before the code
        return location

    # the code used to enrol, replayed: refused (same step)
    again = at_address(app, REAL_USER)
    where = password_step(again)
    r = give_code(again, enrol_code, where)
    assert r.status_code == 401 and "already used" in r.text
    assert again.get("/ui/").status_code == 303
    # a wrong code: refused and counted as a failure of this name from this address
    r = give_code(again, "12345", where)
    assert r.status_code == 401
    # a later step's code works once; the same code a second time does not
    step = int(time.time() // 30) + 1
    fresh = pyotp.TOTP(secret).at(step * 30)
    r = give_code(again, fresh, where)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
    assert again.get("/ui/users").status_code == 200
    third = at_address(app, REAL_USER)
    where = password_step(third)
    assert give_code(third, fresh, where).status_code == 401
    # a recovery code works once
    r = give_code(third, codes[0].upper(), where)
    assert r.status_code == 303
    fourth = at_address(app, REAL_USER)
    where = password_step(fourth)
    assert give_code(fourth, codes[0], where).status_code == 401
    assert give_code(fourth, codes[1], where).status_code == 303
    [used, _] = audit(db_engine, "user.totp.recovery_used")
    assert used["after"] == {"recovery_codes_left": 6}
    failed = [e for e in audit(db_engine, "login.failed") if e["details"]["step"] == "totp"]
    assert len(failed) == 4
    seconds = [e["details"] for e in audit(db_engine, "login") if e["target"] == "user:boss"]
    assert [d["second_factor"] for d in seconds][::-1] == [
        "totp_enrolled",
        "totp",
        "recovery_code",
        "recovery_code",
    ]


def test_guessing_totp_codes_is_throttled(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "boss", "admin")  # enrolled by the fixture
    app = web_factory()
    thief = at_address(app, ATTACKER)  # has the password, not the phone
    r = sign_in(thief, "boss", PASSWORD)
    where = r.headers["location"]
    assert where.startswith("/ui/login/code")
    for n in range(5):
        assert give_code(thief, f"{n:06d}x", where).status_code == 401
    assert _waits(give_code(thief, "000000", where), 2)
    # the owner from his own address is not held back
    owner = at_address(app, REAL_USER)
    r = sign_in(owner, "boss", PASSWORD)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login/code")


def test_a_half_way_sign_in_can_be_left(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "boss", "admin")
    client = at_address(web_factory(), REAL_USER)
    where = sign_in(client, "boss", PASSWORD).headers["location"]
    assert where.startswith("/ui/login/code")
    assert client.get("/ui/login").headers["location"].startswith("/ui/login/code")
    token = form_token(client, where)
    assert client.post("/ui/login/cancel", data={"csrf": "not it"}).status_code == 403
    assert len(sessions_of(db_engine)) == 1
    r = client.post("/ui/login/cancel", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert sessions_of(db_engine) == []
    assert client.get("/ui/login").status_code == 200  # the sign-in form again


def test_required_roles_setting(
    web_factory: WebFactory, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(db_url, "boss", "admin", totp=False)
    make_user(db_url, "rita", "reviewer")
    monkeypatch.setenv("VANGNET_WEB_TOTP_REQUIRED_ROLES", "admin,reviewer")
    reset_settings()
    app = web_factory()
    r = sign_in(at_address(app, REAL_USER), "rita", PASSWORD)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/totp")
    app = web_factory(web_totp_required_roles=[])
    r = sign_in(at_address(app, REAL_USER), "boss", PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


def test_user_totp_reset_from_the_cli(
    web_factory: WebFactory, db_url: str, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user(db_url, "boss", "admin")
    app = web_factory()
    boss = at_address(app, REAL_USER)
    r = sign_in(boss, "boss", PASSWORD)
    assert r.headers["location"].startswith("/ui/login/code")
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    out = Run().json("user", "totp-reset", "boss", "--as", "helpdesk", "--json")
    assert out == {"username": "boss", "reset": True}
    [entry] = audit(db_engine, "user.totp.reset")
    assert entry["actor"] == "helpdesk" and entry["target"] == "user:boss"
    assert entry["before"] == {"totp": "active"}
    assert sessions_of(db_engine) == []  # his sessions (the half-way one too) ended
    with Session(db_engine) as session:
        row = session.scalars(select(User).where(User.username == "boss")).one()
        assert row.totp_secret is None and row.totp_recovery is None
    # next sign-in: set up a new one first
    r = sign_in(at_address(app, REAL_USER), "boss", PASSWORD)
    assert r.headers["location"].startswith("/ui/totp")
    Run()("user", "totp-reset", "nobody", code=4)


def test_an_ipv6_host_rotating_the_addresses_of_its_64_is_one_address(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    """Each guess from another address of one IPv6 /64 (a host may use any of them) counts
    as the same address: after the free failures it waits like one address would, while a
    user elsewhere signs in at once. (Documentation-prefix labels on in-process clients:
    nothing is sent over a network.)"""
    make_user(db_url, "rita", "reviewer")
    app = web_factory()
    block = "2001:db8:aa:bb::"
    for n in range(5):  # the free failures, each from a new address of the block
        attacker = at_address(app, f"{block}{n + 1:x}")
        assert sign_in(attacker, "rita", "not her password").status_code == 401
    fresh = at_address(app, f"{block}beef")  # an address of the block not used yet
    assert _retry_after(sign_in(fresh, "rita", PASSWORD)) >= 1
    with Session(db_engine) as session:
        clients = set(session.scalars(select(LoginAttempt.client)))
    assert clients == {"2001:db8:aa:bb::/64"}
    # another block, and the real user's own address, are not held back
    r = sign_in(at_address(app, "2001:db8:aa:cc::1"), "rita", PASSWORD)
    assert r.status_code == 303, r.text[:300]
    r = sign_in(at_address(app, REAL_USER), "rita", PASSWORD)
    assert r.status_code == 303, r.text[:300]
