"""Issue 10, findings 7, 8 and 9: every state change is audited, decisions are one person's,
and the audit log cannot be rewritten by whoever can write the database.

- Every mutating route of the app's route table and every CLI command is declared in
  `vangnet.audit.actions` (a new one without a declaration fails here), and real calls show
  the declared entry lands (all OpenMediaMatch bank routes, and a sample of the others).
- A curator key that changes and deletes a bank through ``/c/...`` leaves entries (#7).
- Confirming in the web UI and again with that person's API key is one person (#8); a key
  that belongs to nobody may not decide.
- The log is MACed with a key outside the database and anchored by signed checkpoints in a
  file: removing the last entries and moving ``audit_head`` back, or recomputing every hash
  with plain SHA-256, is detected by `vangnet audit verify` (exit 6) and ``/v1/audit/verify``,
  which say how and where (#9). SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from api.conftest import make_key
from conftest import audited
from review.factory import make_case
from security._audit import (
    Cli,
    audit_entries,
    bank_photo,
    cli_commands,
    key_header,
    mutating_routes,
    upload_case,
)
from vangnet.audit import chain
from vangnet.cli import app as cli_app
from vangnet.config import reset_settings
from vangnet.store.db import make_engine
from vangnet.store.models import AuditEntry, AuditHead
from web.conftest import login, make_user

PDQ = "fff8316824b44f40247eb99c1161385e6732a2a6c3e335083306565ae715dae6"


def _pdq(n: int) -> str:
    """A distinct valid PDQ hash per ``n`` (the banked value with its last bytes varied)."""
    return PDQ[:-6] + f"{n:06x}"


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return Cli()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = audited(make_engine(db_url))
    yield eng
    eng.dispose()


def _landed(entries: list[dict[str, Any]], action: str, target: str | None = None) -> bool:
    return any(
        e["action"].startswith(action) and (target is None or e["target"] == target)
        for e in entries
    )


# -- every interface is declared -------------------------------------------------------------


def test_every_mutating_route_declares_its_audit_action(web_app: Any) -> None:
    from vangnet.audit.actions import ROUTES, Exempt

    routes = mutating_routes(web_app.app)
    assert len(routes) > 40  # the walk found the included routers
    missing = sorted(routes - set(ROUTES))
    assert not missing, f"mutating routes without an audit declaration: {missing}"
    stale = sorted(set(ROUTES) - routes)
    assert not stale, f"declared routes that no longer exist: {stale}"
    for route, rule in ROUTES.items():
        assert isinstance(rule, Exempt) or rule, route


def test_every_cli_command_declares_its_audit_action() -> None:
    from vangnet.audit.actions import COMMANDS

    commands = set(cli_commands(cli_app))
    assert {"bank create", "key create", "case decide", "audit verify"} <= commands
    missing = sorted(commands - set(COMMANDS))
    assert not missing, f"CLI commands without an audit declaration: {missing}"
    stale = sorted(set(COMMANDS) - commands)
    assert not stale, f"declared commands that no longer exist: {stale}"


# -- finding 7: OpenMediaMatch bank routes -------------------------------------------------


def test_omm_bank_routes_are_audited(
    make_client: Any, db_url: str, admin_key: str, shared_data: Path
) -> None:
    client = make_client()
    curator = make_key(db_url, "curator", name="omm-curator")
    h = key_header(curator)
    calls: list[tuple[str, str]] = []

    assert client.post("/c/banks", json={"name": "OMM_BANK"}, headers=h).status_code == 201
    calls.append(("POST", "/c/banks"))
    r = client.put("/c/bank/OMM_BANK", json={"enabled_ratio": 0.5}, headers=h)
    assert r.status_code == 200, r.text
    calls.append(("PUT", "/c/bank/{bank_name}"))
    ids = []
    for n in range(24):
        r = client.post("/c/bank/OMM_BANK/signal", json={"pdq": _pdq(n)}, headers=h)
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    calls.append(("POST", "/c/bank/{bank_name}/signal"))
    photo_id = bank_photo(client, curator, shared_data, bank="OMM_BANK")
    calls.append(("POST", "/c/bank/{bank_name}/content"))
    r = client.delete(f"/c/bank/OMM_BANK/content/{ids[0]}", headers=h)
    assert r.json() == {"deleted": 1}
    calls.append(("DELETE", "/c/bank/{bank_name}/content/{content_id}"))
    assert client.delete("/c/bank/OMM_BANK", headers=h).json() == {"message": "Done"}
    calls.append(("DELETE", "/c/bank/{bank_name}"))

    entries = audit_entries(client, admin_key)
    mine = [e for e in entries if "omm-curator" in e["actor"]]
    deleted = [e for e in mine if e["action"] == "bank.delete"]
    assert len(deleted) == 1 and deleted[0]["target"] == "bank:OMM_BANK"
    # The entry says what was lost: 24 hashes and the photo added, one removed.
    assert deleted[0]["before"]["stats"]["content"] == 24
    assert deleted[0]["details"]["via"] == "openmediamatch"
    added = [e for e in mine if e["action"] == "bank.add"]
    assert len(added) == 25
    assert any(e["after"]["content_id"] == photo_id for e in added)
    assert _landed(mine, "content.delete", f"content:{ids[0]}")
    update = next(e for e in mine if e["action"] == "bank.update")
    assert update["before"]["matching_enabled_ratio"] == 1.0
    assert update["after"]["matching_enabled_ratio"] == 0.5
    assert client.get("/v1/audit/verify", headers=key_header(admin_key)).json()["ok"] is True
    from vangnet.audit.actions import ROUTES  # each call landed the action it declares

    for call in calls:
        action = ROUTES[call]
        assert isinstance(action, str)
        assert _landed(mine, action), (call, action)


def test_a_sample_of_other_routes_lands_its_declared_entry(
    make_client: Any, db_url: str, admin_key: str, shared_data: Path
) -> None:
    client = make_client()
    h = key_header(admin_key)
    calls: list[tuple[tuple[str, str], str | None]] = []
    r = client.post("/v1/banks", json={"name": "NATIVE"}, headers=h)
    assert r.status_code == 201, r.text
    calls.append((("POST", "/v1/banks"), "bank:NATIVE"))
    r = client.post("/v1/streams", json={"url": None, "external_id": "room-7"}, headers=h)
    assert r.status_code == 201, r.text
    stream_id = r.json()["id"]
    calls.append((("POST", "/v1/streams"), f"stream:{stream_id}"))
    r = client.post(f"/v1/streams/{stream_id}/stop", headers=h)
    assert r.status_code == 200, r.text
    calls.append((("POST", "/v1/streams/{stream_id}/stop"), f"stream:{stream_id}"))
    bank_photo(client, admin_key, shared_data)
    case_id = upload_case(client, admin_key, shared_data)
    calls.append((("POST", "/v1/match"), f"case:{case_id}"))
    r = client.delete("/v1/banks/NATIVE", headers=h)
    assert r.status_code == 200, r.text
    calls.append((("DELETE", "/v1/banks/{name}"), "bank:NATIVE"))

    entries = audit_entries(client, admin_key)
    expected = {
        ("POST", "/v1/banks"): "bank.create",
        ("POST", "/v1/streams"): "stream.start",
        ("POST", "/v1/streams/{stream_id}/stop"): "stream.stop",
        ("POST", "/v1/match"): "case.intake",
        ("DELETE", "/v1/banks/{name}"): "bank.delete",
    }
    for route, target in calls:
        assert _landed(entries, expected[route], target), (route, expected[route], target)
    from vangnet.audit.actions import ROUTES  # the actions the routes declare

    assert {route: ROUTES[route] for route in expected} == expected


def test_cli_commands_land_their_declared_entries(
    cli: Cli, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    ran = [
        ("bank create", ["bank", "create", "CLI_BANK"], "bank:CLI_BANK"),
        ("bank disable", ["bank", "disable", "CLI_BANK"], "bank:CLI_BANK"),
        ("bank delete", ["bank", "delete", "CLI_BANK", "--yes"], "bank:CLI_BANK"),
        ("streams start", ["streams", "start", "udp://127.0.0.1:9", "--json"], None),
    ]
    for _command, args, _target in ran:
        cli(*args)
    cli(
        "user",
        "create",
        "ann",
        "--role",
        "reviewer",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    ran.append(("user create", [], "user:ann"))
    stream_id = cli.json("streams", "list", "--json")["id"]
    cli("streams", "stop", str(stream_id))
    ran.append(("streams stop", [], f"stream:{stream_id}"))
    cli("key", "create", "ann-tools", "--role", "reviewer", "--user", "ann")
    ran.append(("key create", [], None))
    case_id = make_case(engine, shared_data)
    cli("report", "render", "html", str(case_id), "--out", str(tmp_path / "case.html"))
    ran.append(("report render", [], f"case:{case_id}"))
    with Session(engine) as s:
        entries = [chain.entry_dict(e) for e in s.scalars(select(AuditEntry))]
    expected = {
        "bank create": "bank.create",
        "bank disable": "bank.disable",
        "bank delete": "bank.delete",
        "streams start": "stream.start",
        "user create": "user.create",
        "streams stop": "stream.stop",
        "key create": "key.create",
        "report render": "report.",
    }
    for command, _args, target in ran:
        assert _landed(entries, expected[command], target), (command, target)
    created = next(e for e in entries if e["action"] == "key.create")
    assert created["after"]["user"] == "ann"
    from vangnet.audit.actions import COMMANDS  # the actions the commands declare

    assert {command: COMMANDS[command] for command in expected} == expected


# -- finding 8: the two-person rule counts people ------------------------------------------


def test_ui_and_the_same_persons_key_are_one_person(
    web_factory: Any, db_url: str, admin_key: str, shared_data: Path, cli: Cli
) -> None:
    client = web_factory(review_two_person=True)
    make_user(db_url, "rev", "reviewer")
    make_user(db_url, "rev2", "reviewer")
    bank_photo(client, admin_key, shared_data)
    case_id = upload_case(client, admin_key, shared_data)
    own = cli.json("key", "create", "rev-script", "--role", "reviewer", "--user", "rev", "--json")
    other = cli.json(
        "key", "create", "rev2-script", "--role", "reviewer", "--user", "rev2", "--json"
    )
    nobody = make_key(db_url, "reviewer", name="shared-reviewer-key")

    csrf = login(client, "rev")
    r = client.post(f"/ui/cases/{case_id}/decide", data={"csrf": csrf, "decision": "confirm"})
    assert r.status_code == 303, r.text
    decide = f"/v1/cases/{case_id}/decisions"
    show = f"/v1/cases/{case_id}"
    assert client.get(show, headers=key_header(admin_key)).json()["status"] == (
        "pending_confirmation"
    )

    # The same person with their API key: refused, nothing changes.
    r = client.post(decide, json={"decision": "confirm"}, headers=key_header(own["key"]))
    assert r.status_code == 409, r.text
    assert "another person" in r.json()["error"]["message"]
    # A key that belongs to nobody may not decide at all.
    r = client.post(decide, json={"decision": "confirm"}, headers=key_header(nobody))
    assert r.status_code == 403, r.text
    assert "belongs to no person" in r.json()["error"]["message"]
    assert client.get(show, headers=key_header(admin_key)).json()["status"] == (
        "pending_confirmation"
    )

    # Another person's key completes it; the audit log names both people.
    r = client.post(decide, json={"decision": "confirm"}, headers=key_header(other["key"]))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    confirms = audit_entries(client, admin_key, action="case.confirm")
    people = {e["details"]["person"] for e in confirms}
    assert len(people) == 2


def test_keys_page_makes_a_key_that_belongs_to_a_person(
    web_factory: Any, db_url: str, admin_key: str, shared_data: Path
) -> None:
    client = web_factory()
    make_user(db_url, "boss", "admin")
    make_user(db_url, "rev", "reviewer")
    bank_photo(client, admin_key, shared_data)
    case_id = upload_case(client, admin_key, shared_data)
    csrf = login(client, "boss")
    r = client.post(
        "/ui/keys", data={"csrf": csrf, "name": "rev-laptop", "role": "reviewer", "user": "rev"}
    )
    assert r.status_code == 201, r.text[:300]
    found = re.search(r'id="new-secret" class="secret" value="([^"]+)"', r.text)
    assert found is not None
    row = re.search(
        r'<tr id="key-\d+"[^>]*>\s*<td>\d+</td>\s*<td>rev-laptop</td>.*?</tr>', r.text, re.S
    )
    assert row is not None and "<td>rev</td>" in row.group(0)
    r = client.post(
        f"/v1/cases/{case_id}/decisions",
        json={"decision": "escalate"},
        headers=key_header(found.group(1)),
    )
    assert r.status_code == 200, r.text
    [entry] = audit_entries(client, admin_key, action="case.escalate")
    assert entry["details"]["person"].startswith("user:") and "of rev" in entry["actor"]


def test_a_disabled_owners_key_may_not_decide(
    make_client: Any, db_url: str, admin_key: str, shared_data: Path, cli: Cli
) -> None:
    client = make_client()
    make_user(db_url, "gone", "reviewer")
    key = cli.json("key", "create", "gone-script", "--role", "reviewer", "--user", "gone", "--json")
    bank_photo(client, admin_key, shared_data)
    case_id = upload_case(client, admin_key, shared_data)
    cli("user", "disable", "gone")
    r = client.post(
        f"/v1/cases/{case_id}/decisions",
        json={"decision": "escalate"},
        headers=key_header(key["key"]),
    )
    assert r.status_code == 403, r.text
    # Unknown owners are refused when the key is made.
    cli("key", "create", "x", "--role", "reviewer", "--user", "nobody-here", code=4)


# -- finding 9: the log is anchored outside the database ------------------------------------


def _make_entries(client: Any, admin_key: str, n: int) -> None:
    for i in range(n):
        r = client.post("/v1/banks", json={"name": f"B{i}"}, headers=key_header(admin_key))
        assert r.status_code == 201, r.text


def test_truncation_with_the_head_moved_back_is_detected(
    make_client: Any, admin_key: str, engine: Engine, cli: Cli
) -> None:
    client = make_client()
    _make_entries(client, admin_key, 6)
    assert client.get("/v1/audit/verify", headers=key_header(admin_key)).json()["ok"] is True
    with Session(engine) as s:
        last = int(s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)) or 0)
    # Whoever can write the database removes the last 3 entries and moves the head back.
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq > :n"), {"n": last - 3})
        kept = c.execute(
            text("SELECT hash FROM audit_log WHERE seq = :n"), {"n": last - 3}
        ).scalar_one()
        c.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=last - 3, hash=kept))

    verdict = client.get("/v1/audit/verify", headers=key_header(admin_key)).json()
    assert verdict["ok"] is False
    assert verdict["how"] == "truncated"
    assert verdict["broken_seq"] == last - 2
    assert "audit-checkpoints.jsonl line" in verdict["where"]
    result = cli("audit", "verify", code=6)
    assert "truncated" in result.output and f"entries {last - 2}-{last}" in result.output


def _recompute(engine: Engine, *, strip_macs: bool) -> None:
    """What an attacker without the key can do: edit entry 2 and recompute every hash with
    the plain SHA-256 of the chain's published formula, then fix the head."""
    with Session(engine) as s, s.begin():
        prev = chain.GENESIS
        for entry in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
            if entry.seq == 2:
                entry.actor = "somebody else"
            entry.prev_hash = prev
            entry.hash = chain.entry_hash(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                target=entry.target,
                before=entry.before,
                after=entry.after,
                details=entry.details or {},
                prev_hash=prev,
            )
            if strip_macs:
                entry.mac = None
            prev = entry.hash
        s.execute(update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


@pytest.mark.parametrize("strip_macs", [False, True], ids=["macs-kept", "macs-removed"])
def test_recomputing_every_hash_is_detected(
    make_client: Any, admin_key: str, engine: Engine, cli: Cli, strip_macs: bool
) -> None:
    client = make_client()
    _make_entries(client, admin_key, 4)
    _recompute(engine, strip_macs=strip_macs)
    with Session(engine) as s:  # the plain SHA-256 chain itself holds after the rewrite
        assert s.scalar(select(AuditHead.seq)) == s.scalar(
            select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)
        )
    verdict = client.get("/v1/audit/verify", headers=key_header(admin_key)).json()
    assert verdict["ok"] is False
    assert verdict["how"] in ({"unkeyed"} if strip_macs else {"recomputed"})
    # Entry 1 is unchanged (its MAC still fits) unless the MACs were removed.
    assert verdict["broken_seq"] == (1 if strip_macs else 2)
    result = cli("audit", "verify", code=6)
    assert "audit chain broken" in result.output


def test_edit_removal_and_reorder_say_where(
    make_client: Any, admin_key: str, engine: Engine, cli: Cli
) -> None:
    client = make_client()
    _make_entries(client, admin_key, 4)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET actor = 'x' WHERE seq = 3"))
    verdict = cli.json("audit", "verify", "--json", code=6)
    assert (verdict["how"], verdict["broken_seq"], verdict["where"]) == (
        "edited",
        3,
        "audit_log entry 3",
    )


def test_a_forged_checkpoint_line_is_detected(
    make_client: Any, admin_key: str, cli: Cli, tmp_path: Path
) -> None:
    client = make_client()
    _make_entries(client, admin_key, 2)
    checkpoints = Path(tmp_path / "vangnet-home" / "audit-checkpoints.jsonl")
    assert checkpoints.is_file()
    with checkpoints.open("a") as f:
        f.write('{"seq": 1, "hash": "' + "0" * 64 + '", "keyed_from": 1, "at": "x", "mac": "00"}\n')
    verdict = client.get("/v1/audit/verify", headers=key_header(admin_key)).json()
    assert verdict["ok"] is False and verdict["how"] == "checkpoint"
    assert str(checkpoints) in verdict["where"]


def test_an_unkeyed_legacy_chain_migrates(engine: Engine, cli: Cli, tmp_path: Path) -> None:
    """Entries from before the key keep their SHA-256 chain (reported as legacy); the next
    entry is keyed and checkpointed, and stripping MACs after that is caught."""
    with Session(engine) as s, s.begin():  # a log as version 0004 wrote it: no MACs, no file
        for _ in range(3):
            chain.record(s, actor="old", action="legacy.entry")
        s.execute(update(AuditEntry).values(mac=None))
        s.execute(update(AuditHead).values(keyed_from=None))
    (tmp_path / "vangnet-home" / "audit-checkpoints.jsonl").unlink()
    verdict = cli.json("audit", "verify", "--json")
    assert verdict["ok"] is True and verdict["legacy_entries"] == 3
    cli("bank", "create", "AFTER_KEY")
    verdict = cli.json("audit", "verify", "--json")
    assert verdict["ok"] is True and verdict["legacy_entries"] == 3 and verdict["entries"] == 4
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET mac = NULL WHERE seq = 4"))
    verdict = cli.json("audit", "verify", "--json", code=6)
    assert verdict["how"] == "unkeyed" and verdict["broken_seq"] == 4
