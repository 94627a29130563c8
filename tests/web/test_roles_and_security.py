"""Who may do what in the web UI, and how it holds up against the usual attacks.

The role matrix signs in as each user role and calls every class of /ui route (pages and
state-changing POSTs alike): allowed means 2xx/3xx, refused means 403, exactly as
`ROLE_PERMISSIONS` says. Without a session pages redirect to the sign-in page and POSTs are
refused; POSTs without the session's CSRF token are refused and change nothing. API keys
work on /v1 and never sign anyone in to /ui. Then: secure headers, sign-in rate limit,
cookie flags, open redirects, disabled users and signing out, hostile input, audited reveals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient  # (imported quietly by the conftest first)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.conftest import make_key
from review.factory import PHOTOS, make_case
from vangnet.audit import chain
from vangnet.auth.roles import ROLE_PERMISSIONS, USER_ROLES, Permission, Role
from vangnet.banks.contents import add_content, get_content
from vangnet.config import Settings, reset_settings
from vangnet.reports import service as reporting
from vangnet.review import decisions
from vangnet.store.db import writer
from vangnet.store.models import (
    ApiKey,
    BankContent,
    Case,
    CustodyEvent,
    EvidenceItem,
    Report,
    User,
    WebhookDelivery,
    WebSession,
)
from web.conftest import PASSWORD, WebFactory, browser, login, make_user, post_login

REPORTER: dict[str, Any] = {
    "ncmec_reporter_first_name": "Test",
    "ncmec_reporter_last_name": "Reporter",
    "ncmec_reporter_email": "reporter@example.org",
}
P = Permission
HUGE = 2**64 + 1  # no database integer holds it


@dataclass
class World:
    """An installation with something behind every route: an open case with an item, a
    confirmed case with a built NCMEC report, a bank entry, a dead webhook, a user and a key
    to change."""

    client: TestClient
    open_case: int
    confirmed_case: int
    item: int
    report: int
    content: int
    webhook: int
    key: int

    def fill(self, path: str) -> str:
        return path.format(
            case=self.open_case,
            confirmed=self.confirmed_case,
            item=self.item,
            report=self.report,
            content=self.content,
            webhook=self.webhook,
            key=self.key,
        )


def _world(web_factory: WebFactory, db_url: str, engine: Engine, shared_data: Path) -> World:
    confirmed = make_case(engine, shared_data, photo=PHOTOS[0], account="user123")
    with Session(writer(engine)) as session:
        decisions.decide(
            session,
            confirmed,
            decision="confirm",
            actor="setup",
            category="vics:1",
            settings=Settings(database_url=db_url),
        )
        report_id, _xml = reporting.build_ncmec(
            session, confirmed, actor="setup", settings=Settings(database_url=db_url, **REPORTER)
        )
        session.commit()
    open_case = make_case(engine, shared_data, photo=PHOTOS[1], account="user456")
    with Session(writer(engine)) as session:
        item = session.scalars(select(EvidenceItem.id).where(EvidenceItem.case_id == open_case))
        item_id = item.first()
        content = session.scalars(select(BankContent.id).order_by(BankContent.id))
        content_id = content.first()
        hook = WebhookDelivery(
            idempotency_key="dead-1",
            event="content.remove",
            url="http://127.0.0.1:9/hook",
            body="{}",
            status="dead",
            attempts=8,
        )
        session.add(hook)
        session.commit()
        hook_id = hook.id
    assert item_id is not None and content_id is not None
    make_user(db_url, "target", "reviewer")
    make_key(db_url, "matcher", "to-revoke")
    with Session(engine) as session:
        key_id = session.scalars(select(ApiKey.id).where(ApiKey.name == "to-revoke")).one()
    client = web_factory(**REPORTER)
    return World(client, open_case, confirmed, item_id, report_id, content_id, hook_id, key_id)


@pytest.fixture
def world(web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path) -> World:
    return _world(web_factory, db_url, db_engine, shared_data)


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    needs: tuple[Permission, ...]  # any of these; () = any signed-in person
    form: dict[str, str] = field(default_factory=dict)
    header_csrf: bool = False  # sent by fetch() with the X-CSRF-Token header (reveal)


ROUTES = [
    Route("dashboard", "GET", "/ui/", ()),
    Route("settings", "GET", "/ui/settings", ()),
    Route("queue", "GET", "/ui/queue", (P.REVIEW,)),
    Route("case", "GET", "/ui/cases/{case}", (P.REVIEW,)),
    Route("item preview", "GET", "/ui/items/{item}/preview", (P.REVIEW,)),
    Route("reveal", "POST", "/ui/items/{item}/reveal", (P.REVIEW,), header_csrf=True),
    Route("decide", "POST", "/ui/cases/{case}/decide", (P.DECIDE,), {"decision": "escalate"}),
    Route("undo (not theirs)", "POST", "/ui/cases/{confirmed}/undo", (P.DECIDE,)),
    Route("report build", "POST", "/ui/cases/{confirmed}/ncmec", (P.REPORT,)),
    Route("report page", "GET", "/ui/reports/{report}", (P.REPORT,)),
    Route("report submit (unconfirmed)", "POST", "/ui/cases/{confirmed}/ncmec/submit", (P.REPORT,)),
    Route(
        "report settle (not failed)",
        "POST",
        "/ui/reports/{report}/settle",
        (P.REPORT,),
        {"outcome": "retracted", "confirm": "yes"},
    ),
    Route("document", "POST", "/ui/cases/{confirmed}/document", (P.REPORT,), {"kind": "html"}),
    Route("vics export", "POST", "/ui/cases/{confirmed}/vics", (P.REPORT,)),
    Route("banks", "GET", "/ui/banks", (P.READ_BANKS,)),
    Route("bank page", "GET", "/ui/banks/DEMO", (P.READ_BANKS,)),
    Route(
        "bank content toggle",
        "POST",
        "/ui/banks/content/{content}/enabled",
        (P.WRITE_BANKS,),
        {"enabled": "false"},
    ),
    Route("streams", "GET", "/ui/streams", (P.ALERTS,)),
    Route("webhook retry", "POST", "/ui/webhooks/{webhook}/retry", (P.ALERTS,)),
    Route("audit page", "GET", "/ui/audit", (P.AUDIT,)),
    Route("audit verify", "POST", "/ui/audit/verify", (P.AUDIT,)),
    Route("audit export", "POST", "/ui/audit/export", (P.AUDIT,)),
    Route("users page", "GET", "/ui/users", (P.MANAGE_USERS, P.MANAGE_KEYS)),
    Route(
        "user create",
        "POST",
        "/ui/users",
        (P.MANAGE_USERS,),
        {"username": "newbie", "role": "analyst", "password": PASSWORD, "password2": PASSWORD},
    ),
    Route(
        "user disable", "POST", "/ui/users/target/disabled", (P.MANAGE_USERS,), {"disabled": "true"}
    ),
    Route("user role", "POST", "/ui/users/target/role", (P.MANAGE_USERS,), {"role": "analyst"}),
    Route(
        "user password",
        "POST",
        "/ui/users/target/password",
        (P.MANAGE_USERS,),
        {"password": "a new password", "password2": "a new password"},
    ),
    Route("key create", "POST", "/ui/keys", (P.MANAGE_KEYS,), {"name": "k", "role": "matcher"}),
    Route("key revoke", "POST", "/ui/keys/{key}/revoke", (P.MANAGE_KEYS,)),
]
POSTS = [r for r in ROUTES if r.method == "POST"]

# What the matrix must come to, written out (a change to ROLE_PERMISSIONS shows up here).
EVERYONE = {"dashboard", "settings"}
CASEWORK = {
    "queue", "case", "item preview", "reveal", "report build", "report page",
    "report submit (unconfirmed)", "report settle (not failed)", "document", "vics export",
    "banks", "bank page", "streams",
    "webhook retry",
}  # fmt: skip
EXPECTED = {
    "admin": {r.name for r in ROUTES},
    "curator": EVERYONE | {"banks", "bank page", "bank content toggle"},
    "reviewer": EVERYONE | CASEWORK | {"decide", "undo (not theirs)"},
    "analyst": EVERYONE | CASEWORK,
}


def _allowed(role: str, route: Route) -> bool:
    return not route.needs or any(p in ROLE_PERMISSIONS[Role(role)] for p in route.needs)


def _call(client: TestClient, world: World, route: Route, csrf: str | None, **extra: Any) -> Any:
    path = world.fill(route.path)
    if route.method == "GET":
        return client.get(path)
    if route.header_csrf:
        headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
        return client.post(path, headers=headers)
    form = dict(route.form)
    if csrf is not None:
        form["csrf"] = csrf
    return client.post(path, data=form or None, **extra)


def test_expected_matrix_is_role_permissions() -> None:
    for role in USER_ROLES:
        assert {r.name for r in ROUTES if _allowed(role.value, r)} == EXPECTED[role.value], role


def _rows(session: Session, stmt: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(row) for row in session.execute(stmt))


def _state(engine: Engine, world: World) -> dict[str, Any]:
    """Everything a POST in the matrix could change."""
    with Session(engine) as session:
        return {
            "audit": chain.count_entries(session),
            "custody": session.scalar(select(func.count()).select_from(CustodyEvent)),
            "cases": _rows(session, select(Case.id, Case.status)),
            "reports": session.scalar(select(func.count()).select_from(Report)),
            "users": _rows(session, select(User.username, User.role, User.disabled)),
            "password": session.scalar(select(User.password_hash).where(User.username == "target")),
            "keys": _rows(session, select(ApiKey.id, ApiKey.revoked_at)),
            "content": get_content(session, world.content).enabled,
            "webhook": session.get_one(WebhookDelivery, world.webhook).status,
        }


@pytest.mark.parametrize("role", [r.value for r in USER_ROLES])
def test_role_matrix(world: World, db_url: str, db_engine: Engine, role: str) -> None:
    make_user(db_url, f"as-{role}", role)
    client = world.client
    csrf = login(client, f"as-{role}")
    before = _state(db_engine, world)
    wrong = []
    for route in ROUTES:
        r = _call(client, world, route, csrf)
        ok = 200 <= r.status_code < 400
        if _allowed(role, route):
            if not ok:
                wrong.append(f"{route.name}: allowed but {r.status_code} {r.text[:200]}")
        elif r.status_code != 403:
            wrong.append(f"{route.name}: should be 403, got {r.status_code}")
        elif "Not allowed" not in r.text and not route.header_csrf:
            wrong.append(f"{route.name}: 403 without the refusal page")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)

    after = _state(db_engine, world)
    # refused changes did not happen; allowed ones did
    assert (after["content"] is False) == has(role, P.WRITE_BANKS)
    assert (after["webhook"] != "dead") == has(role, P.ALERTS)
    assert (dict(after["cases"])[world.open_case] == "escalated") == has(role, P.DECIDE)
    assert (after["users"] != before["users"]) == has(role, P.MANAGE_USERS)
    assert (after["password"] != before["password"]) == has(role, P.MANAGE_USERS)
    assert (after["keys"] != before["keys"]) == has(role, P.MANAGE_KEYS)
    assert (after["reports"] > before["reports"]) == has(role, P.REPORT)


def has(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[Role(role)]


def test_not_signed_in_pages_redirect_and_posts_are_refused(
    world: World, db_engine: Engine
) -> None:
    client = world.client
    before = _state(db_engine, world)
    for route in ROUTES:
        path = world.fill(route.path)
        r = _call(client, world, route, "made-up")
        if route.method == "GET":
            assert r.status_code == 303, route.name
            assert r.headers["location"] == f"/ui/login?next={quote(path)}", route.name
        else:
            assert r.status_code in (401, 303), f"{route.name}: {r.status_code}"
    assert _state(db_engine, world) == before


def test_posts_without_the_right_csrf_token_are_refused(
    world: World, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "boss", "admin")
    client = world.client
    good = login(client, "boss")
    before = _state(db_engine, world)
    for route in POSTS:
        for token in (None, "", "x" * len(good), good[:-1]):
            r = _call(client, world, route, token)
            assert r.status_code == 403, f"{route.name} with {token!r}: {r.status_code}"
            assert "csrf_failed" in r.text
        # the token in a query string does not count either
        r = client.post(world.fill(route.path) + f"?csrf={good}", data=route.form or None)
        assert r.status_code == 403, route.name
    assert _state(db_engine, world) == before
    # logging out is protected too (no forced sign-out from another site)
    assert client.post("/ui/logout").status_code == 403
    assert client.get("/ui/").status_code == 200


def test_api_keys_work_for_machines_but_do_not_sign_in_to_the_ui(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    make_case(db_engine, shared_data)
    client = web_factory(require_api_keys=True)
    admin_key = make_key(db_url, "admin")
    matcher = make_key(db_url, "matcher")
    assert client.get("/v1/index/status", headers={"X-API-Key": matcher}).status_code == 200
    assert (
        client.get("/v1/banks", headers={"Authorization": f"Bearer {admin_key}"}).status_code == 200
    )
    assert client.get("/v1/index/status").status_code == 401
    for headers in ({"X-API-Key": admin_key}, {"Authorization": f"Bearer {admin_key}"}):
        for path in ("/ui/", "/ui/audit", "/ui/users", "/ui/banks"):
            r = client.get(path, headers=headers)
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), path
        with Session(db_engine) as session:
            content_id = session.scalars(select(BankContent.id)).one()
        r = client.post(
            f"/ui/banks/content/{content_id}/enabled",
            headers=headers,
            data={"enabled": "false", "csrf": "x"},
        )
        assert r.status_code == 401
        r = client.post("/ui/keys", headers=headers, data={"name": "sneaky", "role": "admin"})
        assert r.status_code == 401
    with Session(db_engine) as session:
        assert get_content(session, content_id).enabled is True
        assert session.scalar(select(ApiKey.id).where(ApiKey.name == "sneaky")) is None
    # and a web session is no API credential (the cookie is scoped to /ui)
    make_user(db_url, "root", "admin")
    login(client, "root")
    assert client.get("/v1/index/status").status_code == 401


# -- security ------------------------------------------------------------------------------------


def _secure(r: Any, *, no_store: bool = True) -> None:
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    if no_store:
        assert "no-store" in r.headers["cache-control"]


def test_secure_headers_on_pages_media_and_errors(world: World, db_url: str) -> None:
    client = world.client
    _secure(client.get("/ui/login"))
    _secure(client.get("/ui/queue"))  # the redirect too
    make_user(db_url, "rev", "reviewer")
    csrf = login(client, "rev")
    for path in ("/ui/", "/ui/queue", f"/ui/cases/{world.open_case}", "/ui/banks", "/ui/nope"):
        _secure(client.get(path))
    preview = client.get(f"/ui/items/{world.item}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    _secure(preview)
    reveal = client.post(f"/ui/items/{world.item}/reveal", headers={"X-CSRF-Token": csrf})
    assert reveal.status_code == 200
    _secure(reveal)
    _secure(client.get("/ui/static/app.css"), no_store=False)
    _secure(client.get("/ui/audit"))  # 403 page


def test_login_rate_limit(
    web_factory: WebFactory, db_url: str, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_REVIEW_LOGIN_ATTEMPTS", "3")
    reset_settings()
    make_user(db_url, "rev", "reviewer")
    make_user(db_url, "other", "reviewer")
    client = web_factory()
    for _ in range(3):
        r = post_login(client, username="rev", password="wrong password")
        assert r.status_code == 401 and "wrong user name or password" in r.text
    r = post_login(client, username="rev", password=PASSWORD)
    assert r.status_code == 429
    assert "too many failed sign-ins" in r.text and int(r.headers["retry-after"]) >= 1
    assert "set-cookie" not in r.headers or "vangnet_session" not in r.headers["set-cookie"]
    # held back per name and address: another name from this address is not
    r = post_login(client, username="other", password=PASSWORD)
    assert r.status_code == 303
    with Session(db_engine) as session:
        failed = chain.list_entries(session, action="login.failed")
        locked = chain.list_entries(session, action="login.locked")
    assert len(failed) == 2 and len(locked) == 1
    assert all(e["target"] == "user:rev" for e in failed + locked)


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_flags(
    web_factory: WebFactory, db_url: str, db_engine: Engine, secure: bool
) -> None:
    make_user(db_url, "rev", "reviewer")
    client = web_factory(cookie_secure=secure)
    if secure:  # the browser sends Secure cookies (the sign-in form's) over HTTPS only
        client.base_url = client.base_url.copy_with(scheme="https")
    r = post_login(client, username="rev", password=PASSWORD)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    parts = [p.strip().lower() for p in cookie.split(";")]
    assert "httponly" in parts
    assert "samesite=strict" in parts
    assert "path=/ui" in parts
    assert ("secure" in parts) is secure
    token = cookie.split(";")[0].split("=", 1)[1]
    with Session(db_engine) as session:  # only its hash is stored
        stored = session.scalars(select(WebSession.token_hash)).one()
    assert stored == hashlib.sha256(token.encode()).hexdigest() != token


def test_open_redirects_are_refused(web_factory: WebFactory, db_url: str) -> None:
    make_user(db_url, "rev", "reviewer")
    client = web_factory()
    for target in (
        "https://evil.example",
        "//evil.example/ui/",
        "/ui/\\evil.example",
        "javascript:alert(1)",
        "/v1/banks",
    ):
        page = client.get("/ui/login", params={"next": target})
        assert 'name="next" value="/ui/"' in page.text, target
        r = post_login(client, username="rev", password=PASSWORD, next=target)
        assert r.status_code == 303 and r.headers["location"] == "/ui/", target
    r = post_login(client, username="rev", password=PASSWORD, next="/ui/queue")
    assert r.headers["location"] == "/ui/queue"


def test_disabled_users_session_stops_working(world: World, db_url: str, db_engine: Engine) -> None:
    make_user(db_url, "rev", "reviewer")
    make_user(db_url, "boss", "admin")
    reviewer = world.client
    rev_csrf = login(reviewer, "rev")
    assert reviewer.get("/ui/queue").status_code == 200
    admin = browser(reviewer)
    csrf = login(admin, "boss")
    r = admin.post("/ui/users/rev/disabled", data={"csrf": csrf, "disabled": "true"})
    assert r.status_code == 303
    r = reviewer.get("/ui/queue")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    r = reviewer.post(
        f"/ui/cases/{world.open_case}/decide", data={"csrf": rev_csrf, "decision": "escalate"}
    )
    assert r.status_code == 401
    assert post_login(reviewer, username="rev", password=PASSWORD).status_code == 401
    with Session(db_engine) as session:
        assert session.get_one(Case, world.open_case).status == "open"


def test_logout_ends_the_session(web_factory: WebFactory, db_url: str, db_engine: Engine) -> None:
    make_user(db_url, "rev", "reviewer")
    client = web_factory()
    csrf = login(client, "rev")
    old = client.cookies.get("vangnet_session", path="/ui")
    assert old
    r = client.post("/ui/logout", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert 'vangnet_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/ui/").status_code == 303
    replay = browser(client)
    replay.cookies.set("vangnet_session", old, path="/ui")
    assert replay.get("/ui/").status_code == 303  # the server forgot the session
    with Session(db_engine) as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
        assert chain.list_entries(session, action="logout")[0]["actor"] == "rev"


def _no_traceback(r: Any) -> None:
    assert "Traceback" not in r.text and 'File "' not in r.text


def test_hostile_input(world: World, db_url: str, db_engine: Engine) -> None:
    make_user(db_url, "boss", "admin")
    client = world.client
    csrf = login(client, "boss")
    script = "<script>alert(1)</script>"

    # markup in a decision note and a bank entry is shown as text
    r = client.post(
        f"/ui/cases/{world.open_case}/decide",
        data={"csrf": csrf, "decision": "second_opinion", "note": script},
    )
    assert r.status_code == 303
    page = client.get(f"/ui/cases/{world.open_case}").text
    assert script not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    with Session(writer(db_engine)) as session:
        add_content(session, bank="DEMO", signals={"md5": "0" * 32}, note=script)
        session.commit()
    for path in ("/ui/banks/DEMO", "/ui/banks?text=script"):
        shown = client.get(path).text
        assert script not in shown and "&lt;script&gt;" in shown, path

    # 5 MB in a form field: refused before anything is stored
    big = "A" * (5 * 1024 * 1024)
    before = _state(db_engine, world)
    for r in (
        client.post(
            f"/ui/cases/{world.open_case}/decide",
            data={"csrf": csrf, "decision": "escalate", "note": big},
        ),
        client.post(
            f"/ui/cases/{world.open_case}/decide",
            files={"csrf": (None, csrf), "decision": (None, "escalate"), "note": (None, big)},
        ),
        client.post(
            "/ui/users",
            data={
                "csrf": csrf,
                "username": big,
                "role": "admin",
                "password": big,
                "password2": big,
            },
        ),
        post_login(client, username="boss", password=big),
    ):
        assert r.status_code in (400, 413), r.status_code
        _no_traceback(r)
    assert _state(db_engine, world) == before

    # ids that are not numbers, or too big for the database, or unknown
    for path in (
        "/ui/cases/abc",
        "/ui/items/1e3/preview",
        "/ui/reports/%27%20OR%201=1",
        "/ui/banks/DEMO?after_id=abc",
        "/ui/audit?before_seq=-1",
        f"/ui/audit?before_seq={HUGE}",
        f"/ui/banks/DEMO?after_id={HUGE}",
    ):
        r = client.get(path)
        assert r.status_code == 400, path
        assert "invalid_request" in r.text
        _no_traceback(r)
    for path in (
        "/ui/keys/abc/revoke",
        "/ui/webhooks/1.5/retry",
        "/ui/banks/content/x/enabled",
        f"/ui/keys/{HUGE}/revoke",
        f"/ui/webhooks/{HUGE}/retry",
        f"/ui/banks/content/{HUGE}/enabled",
    ):
        r = client.post(path, data={"csrf": csrf, "enabled": "true"})
        assert r.status_code == 400, path
        _no_traceback(r)
    for path in ("/ui/cases/987654", "/ui/items/987654/preview", "/ui/reports/987654", "/ui/nope"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "Not found" in r.text
        _no_traceback(r)
    r = client.post("/ui/items/987654/reveal", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404


def test_review_routes_refuse_ids_too_big_for_the_database(world: World, db_url: str) -> None:
    make_user(db_url, "boss", "admin")
    client = TestClient(world.client.app, follow_redirects=False, raise_server_exceptions=False)
    csrf = login(client, "boss")
    statuses = {
        path: client.get(path).status_code
        for path in (f"/ui/cases/{HUGE}", f"/ui/items/{HUGE}/preview", f"/ui/reports/{HUGE}")
    }
    statuses["reveal"] = client.post(
        f"/ui/items/{HUGE}/reveal", headers={"X-CSRF-Token": csrf}
    ).status_code
    assert all(s in (400, 404) for s in statuses.values()), statuses


def test_every_reveal_is_audited_and_in_the_chain_of_custody(
    world: World, db_url: str, db_engine: Engine
) -> None:
    make_user(db_url, "rev", "reviewer")
    client = world.client
    csrf = login(client, "rev")

    def custody() -> list[tuple[str, str]]:
        with Session(db_engine) as session:
            rows = session.execute(
                select(CustodyEvent.actor, CustodyEvent.action)
                .where(CustodyEvent.evidence_id == world.item)
                .order_by(CustodyEvent.id)
            ).all()
            return [(actor, action) for actor, action in rows]

    had = custody()
    for n in (1, 2):
        r = client.post(f"/ui/items/{world.item}/reveal", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content[:2] == b"\xff\xd8"
        with Session(db_engine) as session:
            reveals = chain.list_entries(session, action="media.reveal")
        assert len(reveals) == n
        assert reveals[0]["actor"] == "rev" and reveals[0]["target"] == f"item:{world.item}"
        assert reveals[0]["details"]["case"] == world.open_case
        assert custody() == [*had, *[("rev", "accessed")] * n]
    # the audit page shows them to an auditor
    make_user(db_url, "boss", "admin")
    admin = browser(client)
    login(admin, "boss")
    page = admin.get("/ui/audit", params={"action": "media.reveal"}).text
    assert page.count(f"item:{world.item}") == 2
