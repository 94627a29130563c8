"""Operator pages of the web UI, end to end: the bank browser (search, import status, entries,
enable / disable and its effect on matching), streams and failed webhooks, the audit log
(view, filter, page, verify, tamper, export), and users and API keys."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient  # (imported quietly by the conftest first)
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from api.conftest import make_key, poll
from review.factory import PHOTOS, make_case
from vangnet.audit import chain
from vangnet.banks.bank import create_bank
from vangnet.banks.contents import add_content, find_content_by_signal, get_content
from vangnet.config import get_settings
from vangnet.live import alerts
from vangnet.live.decision import Decision, Rule, SampleMatch
from vangnet.live.streams import create_stream
from vangnet.match.results import Match
from vangnet.signals.hashing import hash_bytes
from vangnet.store.db import writer
from vangnet.store.models import AuditEntry, BankContent, WebhookDelivery
from web.conftest import PASSWORD, WebFactory, browser, login, make_user, post_login


def _entries(engine: Engine, action: str, target: str | None = None) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return chain.list_entries(session, action=action, target=target, limit=1000)


def _admin(web_factory: WebFactory, db_url: str, **settings: Any) -> tuple[TestClient, str]:
    make_user(db_url, "root", "admin")
    client = web_factory(**settings)
    return client, login(client, "root")


def _content_id(engine: Engine, sha256: str) -> int:
    with Session(engine) as session:
        found = find_content_by_signal(session, "sha256", sha256)
    assert len(found) == 1
    return found[0].id


# -- bank browser ------------------------------------------------------------------------------


def test_bank_browser_lists_banks_import_status_and_searches(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    make_case(db_engine, shared_data)  # bank DEMO (vics) with one photo
    admin, _csrf = _admin(web_factory, db_url)
    key = make_key(db_url, "admin", "importer")
    added = admin.post(
        "/v1/banks/DEMO/hashes",
        headers={"X-API-Key": key},
        json={
            "items": [
                {"signal_type": "sha256", "value": "ab" * 32, "note": "100% certain match"},
                {"signal_type": "sha256", "value": "cd" * 32, "series": "Harbour_2019"},
                {"signal_type": "md5", "value": "ef" * 16, "note": "plain note"},
            ]
        },
    )
    assert added.status_code == 200, added.text

    page = admin.get("/ui/banks")
    assert page.status_code == 200
    html = page.text
    row = html[html.index('id="bank-DEMO"') :]
    row = row[: row.index("</tr>")]
    assert 'href="/ui/banks/DEMO"' in row
    assert "4 enabled of 4" in row  # entries
    assert "vics" in row
    assert "bank.add by key:" in row  # import status from the audit log
    assert "importer" in row

    # by hash: the banked photo's SHA-256 and its PDQ
    hashed = hash_bytes(
        (shared_data / PHOTOS[0]).read_bytes(), for_bank=True, settings=get_settings()
    )
    by_sha = admin.get("/ui/banks", params={"signal_type": "sha256", "value": hashed["sha256"]})
    assert by_sha.status_code == 200
    assert "Search results" in by_sha.text and "(1)" in by_sha.text
    assert "test item aaa-orig.jpg" in by_sha.text
    by_pdq = admin.get("/ui/banks", params={"signal_type": "pdq", "value": hashed["pdq"]})
    assert "test item aaa-orig.jpg" in by_pdq.text
    bad = admin.get("/ui/banks", params={"signal_type": "pdq", "value": "not-a-hash"})
    assert bad.status_code == 400
    assert 'id="search-error"' in bad.text
    unknown = admin.get("/ui/banks", params={"signal_type": "nope", "value": "00"})
    assert unknown.status_code == 400 and "unknown signal type" in unknown.text

    # by note / series text, case-insensitive; LIKE wildcards are literal
    assert "plain note" in admin.get("/ui/banks", params={"text": "PLAIN"}).text
    assert "Harbour_2019" in admin.get("/ui/banks", params={"text": "harbour"}).text
    percent = admin.get("/ui/banks", params={"text": "%"}).text
    assert "100% certain match" in percent and "plain note" not in percent
    underscore = admin.get("/ui/banks", params={"text": "_"}).text
    assert "Harbour_2019" in underscore and "plain note" not in underscore
    assert "No bank entry matches." in admin.get("/ui/banks", params={"text": "zzz"}).text


def test_bank_page_pages_entries_by_id(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    with Session(writer(db_engine)) as session:
        create_bank(session, name="BIG")
        ids = [
            add_content(
                session,
                bank="BIG",
                signals={"sha256": hashlib.sha256(str(i).encode()).hexdigest()},
                note=f"entry number {i}",
            )
            for i in range(105)
        ]
        session.commit()
    admin, _ = _admin(web_factory, db_url)
    first = admin.get("/ui/banks/BIG")
    assert first.status_code == 200
    shown = [int(x) for x in re.findall(r'id="entry-(\d+)"', first.text)]
    assert shown == ids[:100]
    assert f'href="/ui/banks/BIG?after_id={ids[99]}"' in first.text
    second = admin.get("/ui/banks/BIG", params={"after_id": ids[99]})
    assert [int(x) for x in re.findall(r'id="entry-(\d+)"', second.text)] == ids[100:]
    assert 'id="next-page"' not in second.text
    assert 'href="/ui/banks/BIG">« First page' in second.text
    missing = admin.get("/ui/banks/NOPE")
    assert missing.status_code == 404
    assert "Not found" in missing.text


def _lookup(client: TestClient, key: str, value: str) -> list[dict[str, Any]]:
    r = client.post(
        "/v1/lookup",
        headers={"X-API-Key": key},
        json={"signal_type": "pdq", "value": value, "quality": 100},
    )
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["matches"]
    return found


def test_disabling_an_entry_stops_matching_and_is_audited(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    make_case(db_engine, shared_data)
    hashed = hash_bytes(
        (shared_data / PHOTOS[0]).read_bytes(), for_bank=True, settings=get_settings()
    )
    content_id = _content_id(db_engine, hashed["sha256"])
    make_user(db_url, "cur", "curator")
    client = web_factory(require_api_keys=True)
    csrf = login(client, "cur")
    key = make_key(db_url, "matcher")
    assert [m["content_id"] for m in _lookup(client, key, hashed["pdq"])] == [content_id]

    page = client.get("/ui/banks/DEMO")
    assert f'action="/ui/banks/content/{content_id}/enabled"' in page.text
    assert f'aria-label="Disable entry {content_id}"' in page.text
    r = client.post(
        f"/ui/banks/content/{content_id}/enabled",
        data={"csrf": csrf, "enabled": "false", "back": "/ui/banks/DEMO"},
    )
    assert r.status_code == 303
    assert r.headers["location"].startswith("/ui/banks/DEMO?flash=")
    with Session(db_engine) as session:
        assert get_content(session, content_id).enabled is False
    assert _lookup(client, key, hashed["pdq"]) == []  # no longer matched
    [entry] = _entries(db_engine, "content.disable", f"content:{content_id}")
    assert entry["actor"] == "cur"
    assert entry["before"] == {"enabled": True} and entry["after"] == {"enabled": False}
    assert entry["details"] == {"bank": "DEMO"}
    shown = client.get(r.headers["location"])
    assert f"entry {content_id} disabled" in shown.text
    assert f'aria-label="Enable entry {content_id}"' in shown.text

    # disabling again changes nothing and records nothing
    again = client.post(
        f"/ui/banks/content/{content_id}/enabled", data={"csrf": csrf, "enabled": "false"}
    )
    assert again.status_code == 303 and "already" in again.headers["location"]
    assert len(_entries(db_engine, "content.disable")) == 1

    # a "back" elsewhere is not followed
    on = client.post(
        f"/ui/banks/content/{content_id}/enabled",
        data={"csrf": csrf, "enabled": "true", "back": "https://evil.example/ui/banks"},
    )
    assert on.status_code == 303 and on.headers["location"].startswith("/ui/banks/DEMO?")
    assert [m["content_id"] for m in _lookup(client, key, hashed["pdq"])] == [content_id]
    [enabled] = _entries(db_engine, "content.enable")
    assert enabled["before"] == {"enabled": False} and enabled["after"] == {"enabled": True}

    unknown = client.post("/ui/banks/content/999999/enabled", data={"csrf": csrf, "enabled": "x"})
    assert unknown.status_code == 400  # not "true"/"false"
    gone = client.post("/ui/banks/content/999999/enabled", data={"csrf": csrf, "enabled": "true"})
    assert gone.status_code == 404


# -- streams, alerts, failed webhooks ------------------------------------------------------------


def _stream_with_alert(engine: Engine, shared_data: Path) -> tuple[int, int, int]:
    """A pushed stream whose sample matched the banked photo: (stream, alert, case)."""
    make_case(engine, shared_data)
    hashed = hash_bytes(
        (shared_data / PHOTOS[0]).read_bytes(), for_bank=True, settings=get_settings()
    )
    content_id = _content_id(engine, hashed["sha256"])
    with Session(writer(engine)) as session:
        stream = create_stream(session, url=None, external_id="room-42", settings=get_settings())
        stream.state, stream.state_reason, stream.samples = "live", "receiving frames", 17
        stream.evidence_lost = 3  # as a monitor saves it (counted in tests/live)
        match = Match(
            bank="DEMO",
            content_id=content_id,
            signal_type="pdq",
            distance=3,
            category="vics:1",
            signal_id=0,
        )
        recorded = alerts.record(
            session,
            stream_id=stream.id,
            decision=Decision("DEMO", content_id, Rule(1, 1), (SampleMatch(4.0, match),), True),
            pdq_by_time={4.0: (hashed["pdq"], 100)},
            captured_at={},
            actions=[],
            settings=get_settings(),
        )
        alert, _frames = alerts.get_alert(session, recorded.alert_id)
        assert alert.case_id is not None
        ids = (stream.id, alert.id, alert.case_id)
        session.commit()
    return ids


def _dead_webhook(engine: Engine, url: str) -> int:
    with Session(writer(engine)) as session:
        row = WebhookDelivery(
            idempotency_key="test-dead-1",
            event="account.suspend",
            url=url,
            body=json.dumps({"event": "account.suspend", "data": {"account": "x"}}),
            status="dead",
            attempts=8,
            last_status=500,
            last_error="server error",
        )
        session.add(row)
        session.commit()
        return row.id


def test_streams_page_shows_streams_alerts_and_retries_dead_webhooks(
    web_factory: WebFactory,
    db_url: str,
    db_engine: Engine,
    shared_data: Path,
    receiver: Any,
) -> None:
    stream_id, alert_id, case_id = _stream_with_alert(db_engine, shared_data)
    delivery = _dead_webhook(db_engine, receiver.url + "/hook?token=secret")
    make_user(db_url, "rev", "reviewer")
    client = web_factory(webhook_url=receiver.url)
    csrf = login(client, "rev")

    page = client.get("/ui/streams")
    assert page.status_code == 200
    html = page.text
    stream_row = html[html.index(f'id="stream-{stream_id}"') :]
    stream_row = stream_row[: stream_row.index("</tr>")]
    shown_all = ("room-42", "live", "receiving frames", ">17<", ">1<", "3 evidence frames lost")
    for shown in shown_all:
        assert shown in stream_row, shown
    alert_row = html[html.index(f'id="alert-{alert_id}"') :]
    alert_row = alert_row[: alert_row.index("</tr>")]
    assert f'href="/ui/cases/{case_id}"' in alert_row
    assert "DEMO" in alert_row and "vics:1" in alert_row
    hook_row = html[html.index(f'id="webhook-{delivery}"') :]
    hook_row = hook_row[: hook_row.index("</tr>")]
    assert "account.suspend" in hook_row and "HTTP 500" in hook_row
    assert "token=secret" not in html  # URLs are shown without their query
    assert f'action="/ui/webhooks/{delivery}/retry"' in hook_row

    r = client.post(f"/ui/webhooks/{delivery}/retry", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/streams?flash=")
    assert poll(lambda: len(receiver.requests) == 1), "the retried webhook was not sent"
    assert receiver.requests[0].path.endswith("/hook?token=secret")
    [entry] = _entries(db_engine, "webhook.retry", f"webhook:{delivery}")
    assert entry["actor"] == "rev"
    assert entry["before"]["status"] == "dead" and entry["after"]["status"] == "pending"

    def delivered() -> bool:
        with Session(db_engine) as session:
            return session.get_one(WebhookDelivery, delivery).status == "delivered"

    assert poll(delivered)
    assert 'id="no-dead"' in client.get("/ui/streams").text
    again = client.post(f"/ui/webhooks/{delivery}/retry", data={"csrf": csrf})
    assert again.status_code == 409  # only dead deliveries are retried
    assert client.post("/ui/webhooks/424242/retry", data={"csrf": csrf}).status_code == 404


# -- audit log -----------------------------------------------------------------------------------


def test_audit_page_is_audited_filtered_and_paged(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    admin, _ = _admin(web_factory, db_url)
    with Session(writer(db_engine)) as session:
        for i in range(120):
            chain.record(session, actor="bulk", action="test.bulk", target=f"thing:{i}")
        session.commit()

    page = admin.get("/ui/audit")
    assert page.status_code == 200
    seqs = [int(x) for x in re.findall(r'id="seq-(\d+)"', page.text)]
    assert len(seqs) == 100 and seqs == sorted(seqs, reverse=True)
    newest = _entries(db_engine, "audit.view")
    assert newest[0]["actor"] == "root" and seqs[0] == newest[0]["seq"]  # the view is first
    older = re.search(r'href="/ui/audit\?([^"]+)" rel="next"', page.text)
    assert older is not None
    page2 = admin.get("/ui/audit?" + older.group(1).replace("&amp;", "&"))
    seqs2 = [int(x) for x in re.findall(r'id="seq-(\d+)"', page2.text)]
    assert seqs2 and max(seqs2) == min(seqs) - 1
    assert page2.status_code == 200 and "« Newest" in page2.text

    only = admin.get("/ui/audit", params={"action": "login"})
    actions = re.findall(r"<td><code>([^<]+)</code></td>", only.text)
    assert actions and set(actions) == {"login"}
    by_target = admin.get("/ui/audit", params={"target": "thing:7", "actor": "bulk"})
    assert re.findall(r'id="seq-(\d+)"', by_target.text) and "thing:7" in by_target.text
    assert "thing:8" not in by_target.text
    nobody = admin.get("/ui/audit", params={"actor": "nobody"})
    assert "No entries match these filters." in nobody.text
    latest = _entries(db_engine, "audit.view")[0]
    assert latest["actor"] == "root" and latest["details"]["filters"] == {"actor": "nobody"}


def test_audit_verify_shows_the_broken_entry_after_tampering(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    admin, csrf = _admin(web_factory, db_url)
    ok = admin.post("/ui/audit/verify", data={"csrf": csrf})
    assert ok.status_code == 200
    total = _entries(db_engine, "")[0]["seq"] - 1  # the verify entry comes after
    assert f"Chain intact: all {total} entries verified." in ok.text
    assert _entries(db_engine, "audit.verify")[0]["details"]["ok"] is True

    with Session(db_engine) as session:  # someone edits the log behind Vangnet's back
        session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
        session.commit()
    broken = admin.post("/ui/audit/verify", data={"csrf": csrf})
    assert broken.status_code == 200
    assert 'id="broken-seq">2<' in broken.text
    assert "entry 2 was edited" in broken.text
    assert _entries(db_engine, "audit.verify")[0]["details"]["broken_seq"] == 2


def test_audit_export_downloads_json_lines_including_itself(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    admin, csrf = _admin(web_factory, db_url)
    r = admin.post("/ui/audit/export", data={"csrf": csrf})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert r.headers["content-disposition"].startswith('attachment; filename="vangnet-audit-')
    assert "no-store" in r.headers["cache-control"]
    lines = [json.loads(line) for line in r.content.decode().splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert lines[-1]["action"] == "audit.export" and lines[-1]["actor"] == "root"
    assert lines[-1]["prev_hash"] == lines[-2]["hash"]
    with Session(db_engine) as session:
        assert chain.count_entries(session) == len(lines)
    assert admin.get("/ui/audit/export").status_code == 405  # a GET cannot export


# -- users and keys ------------------------------------------------------------------------------


def test_users_create_disable_role_and_password(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    admin, csrf = _admin(web_factory, db_url)
    page = admin.get("/ui/users")
    assert page.status_code == 200 and 'id="user-root"' in page.text

    new = {"csrf": csrf, "username": "nina", "role": "reviewer", "password": PASSWORD}
    differ = admin.post("/ui/users", data={**new, "password2": PASSWORD + "x"})
    assert differ.status_code == 400 and "the two passwords differ" in differ.text
    short = admin.post("/ui/users", data={**new, "password": "short", "password2": "short"})
    assert short.status_code == 400
    made = admin.post("/ui/users", data={**new, "password2": PASSWORD})
    assert made.status_code == 303 and "flash=" in made.headers["location"]
    assert admin.post("/ui/users", data={**new, "password2": PASSWORD}).status_code == 409
    badrole = admin.post(
        "/ui/users", data={**new, "username": "x1", "role": "matcher", "password2": PASSWORD}
    )
    assert badrole.status_code == 400  # machines' role: keys only
    [created] = _entries(db_engine, "user.create", "user:nina")
    assert created["actor"] == "root" and created["after"]["role"] == "reviewer"
    row = admin.get("/ui/users").text
    row = row[row.index('id="user-nina"') :]
    assert "reviewer" in row[: row.index("</tr>")] and "never" in row[: row.index("</tr>")]

    nina = browser(admin)
    login(nina, "nina")
    assert nina.get("/ui/queue").status_code == 200
    assert nina.get("/ui/users").status_code == 403

    # role change: an analyst may not decide
    assert (
        admin.post("/ui/users/nina/role", data={"csrf": csrf, "role": "analyst"}).status_code == 303
    )
    [changed] = _entries(db_engine, "user.role", "user:nina")
    assert changed["before"] == {"role": "reviewer"} and changed["after"] == {"role": "analyst"}
    assert "your role (analyst)" in nina.get("/ui/audit").text

    # password reset: her session ends, the old password stops working
    reset = admin.post(
        "/ui/users/nina/password",
        data={"csrf": csrf, "password": "another long one", "password2": "another long one"},
    )
    assert reset.status_code == 303
    assert nina.get("/ui/queue").status_code == 303
    assert post_login(nina, username="nina", password=PASSWORD).status_code == 401
    login(nina, "nina", "another long one")
    assert _entries(db_engine, "user.password", "user:nina")

    # disable: her session stops at once; enable again
    off = admin.post("/ui/users/nina/disabled", data={"csrf": csrf, "disabled": "true"})
    assert off.status_code == 303
    assert nina.get("/ui/").status_code == 303
    assert "Enable nina" in admin.get("/ui/users").text
    on = admin.post("/ui/users/nina/disabled", data={"csrf": csrf, "disabled": "false"})
    assert on.status_code == 303
    assert [e["action"] for e in _entries(db_engine, "user.", "user:nina")][:2] == [
        "user.enable",
        "user.disable",
    ]
    assert (
        admin.post("/ui/users/ghost/role", data={"csrf": csrf, "role": "admin"}).status_code == 404
    )


def test_admin_cannot_disable_or_demote_themself(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    admin, csrf = _admin(web_factory, db_url)
    page = admin.get("/ui/users").text
    assert 'id="disable-root"' not in page  # no button for yourself
    r = admin.post("/ui/users/root/disabled", data={"csrf": csrf, "disabled": "true"})
    assert r.status_code == 409
    assert "you cannot disable your own account" in r.text
    r = admin.post("/ui/users/root/role", data={"csrf": csrf, "role": "reviewer"})
    assert r.status_code == 409
    assert "you cannot change the role of your own account" in r.text
    assert (
        admin.post("/ui/users/root/role", data={"csrf": csrf, "role": "admin"}).status_code == 303
    )
    assert admin.get("/ui/users").status_code == 200  # still an enabled admin
    assert _entries(db_engine, "user.disable") == [] and _entries(db_engine, "user.role") == []


def test_key_secret_is_shown_once_works_and_revoking_stops_it(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    admin, csrf = _admin(web_factory, db_url, require_api_keys=True)
    r = admin.post("/ui/keys", data={"csrf": csrf, "name": "upload pipeline", "role": "matcher"})
    assert r.status_code == 201
    assert "no-store" in r.headers["cache-control"]
    found = re.search(r'id="new-secret" class="secret" value="(vn_[A-Za-z0-9_-]+)"', r.text)
    assert found is not None
    secret = found.group(1)
    key_id = int(_entries(db_engine, "key.create")[0]["target"].split(":")[1])
    [created] = _entries(db_engine, "key.create")
    assert created["actor"] == "root"
    assert created["after"] == {"name": "upload pipeline", "role": "matcher", "prefix": secret[:8]}

    machine = browser(admin)
    status = machine.get("/v1/index/status", headers={"X-API-Key": secret})
    assert status.status_code == 200, status.text
    listing = admin.get("/ui/users").text
    assert secret not in listing  # never shown again
    assert f"<code>{secret[:8]}…</code>" in listing
    assert (
        admin.post("/ui/keys", data={"csrf": csrf, "name": " ", "role": "matcher"}).status_code
        == 400
    )
    assert (
        admin.post("/ui/keys", data={"csrf": csrf, "name": "k", "role": "god"}).status_code == 400
    )

    revoked = admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert poll(
        lambda: machine.get("/v1/index/status", headers={"X-API-Key": secret}).status_code == 401
    )
    [entry] = _entries(db_engine, "key.revoke", f"key:{key_id}")
    assert entry["actor"] == "root" and entry["after"] == {"revoked": True}
    again = admin.post(f"/ui/keys/{key_id}/revoke", data={"csrf": csrf})
    assert again.status_code == 303 and "already" in again.headers["location"]
    assert len(_entries(db_engine, "key.revoke")) == 1
    assert admin.post("/ui/keys/4242/revoke", data={"csrf": csrf}).status_code == 404


def test_pages_render_for_empty_installation(web_factory: WebFactory, db_url: str) -> None:
    admin, _ = _admin(web_factory, db_url)
    for path, says in (
        ("/ui/banks", "No banks yet"),
        ("/ui/streams", "No streams have been watched"),
        ("/ui/audit", "Audit log"),
        ("/ui/users", "API keys"),
    ):
        r = admin.get(path)
        assert r.status_code == 200, path
        assert says in r.text, path
        assert 'aria-current="page"' in r.text, path  # the menu marks where you are


@pytest.mark.parametrize("path", ["/ui/banks", "/ui/streams", "/ui/audit", "/ui/users"])
def test_every_form_control_has_a_label(web_factory: WebFactory, db_url: str, path: str) -> None:
    """Keyboard and screen-reader use: inputs sit in a label (or have one by id), and every
    button says what it does."""
    admin, _ = _admin(web_factory, db_url)
    make_key(db_url, "matcher")
    html = admin.get(path).text
    for control in re.finditer(r"<(input|select|textarea)\b([^>]*)>", html):
        attrs = control.group(2)
        if 'type="hidden"' in attrs:
            continue
        before = html[: control.start()]
        inside_label = before.rfind("<label") > before.rfind("</label>")
        ident = re.search(r'id="([^"]+)"', attrs)
        labelled = ident is not None and f'for="{ident.group(1)}"' in html
        assert inside_label or labelled, f"unlabelled control on {path}: {control.group(0)}"
    for button in re.finditer(r"<button\b[^>]*>(.*?)</button>", html, re.S):
        assert button.group(1).strip(), f"empty button on {path}"


def test_curator_sees_banks_but_not_streams_audit_or_users(
    web_factory: WebFactory, db_url: str, db_engine: Engine, shared_data: Path
) -> None:
    make_case(db_engine, shared_data)
    make_user(db_url, "cur", "curator")
    client = web_factory()
    login(client, "cur")
    page = client.get("/ui/banks/DEMO").text
    assert "Disable" in page
    menu = page[page.index('<nav aria-label="Main">') : page.index("</nav>")]
    assert 'href="/ui/banks"' in menu
    for hidden in ("/ui/streams", "/ui/audit", "/ui/users", "/ui/queue"):
        assert hidden not in menu
    make_user(db_url, "ana", "analyst")
    analyst = browser(client)
    login(analyst, "ana")
    bank_page = analyst.get("/ui/banks/DEMO").text
    assert "/enabled" not in bank_page  # reads banks, may not change them
    with Session(db_engine) as session:
        assert session.scalar(select(BankContent.enabled)) is True


def test_audit_rows_escape_what_they_show(
    web_factory: WebFactory, db_url: str, db_engine: Engine
) -> None:
    with Session(writer(db_engine)) as session:
        chain.record(
            session,
            actor="<b>x</b>",
            action="test.<script>",
            target="<img src=x onerror=alert(1)>",
            after={"note": "</code><script>alert(1)</script>"},
        )
        session.commit()
    admin, _ = _admin(web_factory, db_url)
    html = admin.get("/ui/audit").text
    assert "<script>" not in html and "<img src=x" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;" in html
    with Session(db_engine) as session:
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.seq == 1)) == "<b>x</b>"
