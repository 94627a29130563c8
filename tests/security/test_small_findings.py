"""Issue 10, finding 11 (the parts on records and rights): banked details kept with cases,
CSV injection in bank exports, private data files, secrets in `config show` and in the
configuration audit entry, adding to banks without bank rights, and the dashboard showing
curators what the API refuses them. Each through the API, the web UI or the CLI."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from api.conftest import make_key
from conftest import audited
from security._audit import PHOTO, Cli, bank_photo, key_header, upload_case
from vangnet.config import reset_settings
from web.conftest import browser, login, make_user


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return Cli()


# -- banked details stay with the case -------------------------------------------------------


def test_case_keeps_the_banked_items_details_after_the_bank_is_deleted(
    make_client: Any, admin_key: str, shared_data: Path
) -> None:
    client = make_client()
    h = key_header(admin_key)
    assert client.post("/v1/banks", json={"name": "SERIES_X"}, headers=h).status_code == 201
    data = (shared_data / PHOTO).read_bytes()
    pdq = client.post("/v1/hash", content=data, headers=h).json()["pdq"]
    item = {
        "signal_type": "pdq",
        "value": pdq,
        "note": "known item 17",
        "series": "series-x",
        "source": "hotline-ref-17",
        "external_id": "ext-17",
    }
    r = client.post("/v1/banks/SERIES_X/hashes", json={"items": [item]}, headers=h)
    assert r.status_code == 200, r.text
    client.app.state.services.indexes.refresh()  # type: ignore[attr-defined]
    case_id = upload_case(client, admin_key, shared_data)

    assert client.delete("/c/bank/SERIES_X", headers=h).json() == {"message": "Done"}
    doc = client.get(f"/v1/cases/{case_id}", headers=h).json()
    banked = doc["matches"][0]["banked"]
    assert banked["note"] == "known item 17"
    assert banked["series"] == "series-x"
    assert banked["source"] == "hotline-ref-17"
    assert banked["bank"] == "SERIES_X" and banked["external_id"] == "ext-17"
    assert banked["in_bank"] is False


# -- CSV injection -------------------------------------------------------------------------

FORMULAS = {
    "note": "=cmd|' /C calc'!A0",
    "source": '+HYPERLINK("http://127.0.0.1/")',
    "series": "@SUM(1+1)",
    "external_id": "-2+3",
}


def test_hma_csv_export_neutralises_formulas_and_round_trips(cli: Cli, tmp_path: Path) -> None:
    pdq = "f" * 60 + "0000"
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["signal_type", "signal_value", "note", "source", "series", "external_id"])
        w.writerow(
            ["pdq", pdq, *(FORMULAS[k] for k in ("note", "source", "series", "external_id"))]
        )
        w.writerow(["pdq", "e" * 60 + "0000", "'=already quoted", "'plain", "\tTabbed", "ok"])
    cli("bank", "import", "CSV_IN", str(source), "--format", "hma-csv", "--create")
    out = tmp_path / "out.csv"
    cli("bank", "export", "CSV_IN", "--format", "hma-csv", "--output", str(out))

    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    first = next(r for r in rows if r["signal_value"] == pdq)
    assert first["signal_type"] == "pdq"  # hash columns intact
    for column, value in FORMULAS.items():
        assert first[column] == "'" + value, column
    for row in rows:
        for column in ("note", "source", "series", "external_id", "category"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row

    # Our own export imports back unchanged.
    cli("bank", "import", "CSV_BACK", str(out), "--format", "hma-csv", "--create")
    again = tmp_path / "again.csv"
    cli("bank", "export", "CSV_BACK", "--format", "hma-csv", "--output", str(again))
    assert again.read_text() == out.read_text()  # the values were stored as imported
    second = list(csv.DictReader(io.StringIO(again.read_text())))
    assert [r["signal_value"] for r in second] == [r["signal_value"] for r in rows]


# -- private files ---------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_vault_and_keys_are_private(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default SQLite database in VANGNET_HOME (an existing home made 0755, as before)."""
    from fastapi.testclient import TestClient

    from vangnet.api.app import create_app
    from vangnet.auth.keys import create_key
    from vangnet.config import Settings
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import upgrade

    del monkeypatch
    home = tmp_path / "vangnet-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    upgrade(f"sqlite:///{home / 'vangnet.db'}")
    engine = audited(make_engine(f"sqlite:///{home / 'vangnet.db'}"))
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        _view, admin = create_key(s, name="admin", role="admin")
        s.commit()
    engine.dispose()
    with TestClient(create_app(Settings())) as client:
        bank_photo(client, admin, shared_data)
        upload_case(client, admin, shared_data)  # sealed in the vault
        names = ["vangnet.db", "vangnet.db-wal", "vangnet.db-shm", "vault.key"]
        modes = {name: _mode(home / name) for name in names}
        entries = [p for p in (home / "vault").iterdir() if p.is_file()]
        dirs = {"home": _mode(home), "vault": _mode(home / "vault")}
        audit_files = ["audit.key", "audit-checkpoints.jsonl"]
        audit_modes = {n: _mode(home / n) if (home / n).exists() else None for n in audit_files}
    assert modes == dict.fromkeys(names, 0o600)
    assert dirs == {"home": 0o700, "vault": 0o700}
    assert entries and all(_mode(p) == 0o600 for p in entries)
    assert audit_modes == dict.fromkeys(audit_files, 0o600)


# -- secrets in config show and in the configuration audit entry ----------------------------


def test_config_show_json_with_a_secret_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_WEBHOOK_SECRET", "webhook-signing-secret-value")
    monkeypatch.setenv("VANGNET_NCMEC_PASSWORD", "ncmec-password-value")
    result = Cli()("config", "show", "--json")
    doc = json.loads(result.stdout)
    rows = {r["name"]: r for r in doc["settings"]}
    assert rows["webhook_secret"]["value"] == "**********"
    assert "webhook-signing-secret-value" not in result.stdout
    assert "ncmec-password-value" not in result.stdout


def test_configuration_audit_entry_keeps_no_url_tokens(make_client: Any, admin_key: str) -> None:
    url = "http://hookuser:hookpass@127.0.0.1:9/T000/B000/PATHTOKEN?token=QUERYTOKEN"
    client = make_client(webhook_url=url, ncmec_url="https://127.0.0.1:9/ispws?key=NCMECKEY")
    r = client.get("/v1/audit", params={"action": "config.change"}, headers=key_header(admin_key))
    [entry] = r.json()["entries"]
    text = json.dumps(entry)
    for secret in ("hookuser", "hookpass", "PATHTOKEN", "QUERYTOKEN", "NCMECKEY"):
        assert secret not in text, secret
    assert entry["after"]["webhook_url"].startswith("http://127.0.0.1:9/")
    assert "sha256:" in entry["after"]["webhook_url"]  # a change still shows


# -- rights --------------------------------------------------------------------------------


def test_reviewer_cannot_add_to_a_bank_without_bank_rights(
    make_client: Any, db_url: str, admin_key: str, shared_data: Path
) -> None:
    app = make_client()
    bank_photo(app, admin_key, shared_data)
    case_id = upload_case(app, admin_key, shared_data)
    make_user(db_url, "rev", "reviewer")
    reviewer = browser(app)
    csrf = login(reviewer, "rev")
    h = key_header(admin_key)
    before = app.get("/v1/banks/LEADS", headers=h).json()["stats"]["content"]
    assert 'name="add_to_bank"' not in reviewer.get(f"/ui/cases/{case_id}").text  # not offered
    r = reviewer.post(
        f"/ui/cases/{case_id}/decide",
        data={"csrf": csrf, "decision": "confirm", "add_to_bank": "LEADS"},
    )
    assert r.status_code == 403, r.text[:300]
    assert app.get("/v1/banks/LEADS", headers=h).json()["stats"]["content"] == before
    assert app.get(f"/v1/cases/{case_id}", headers=h).json()["status"] == "open"
    # Confirming without adding to a bank is theirs to do.
    r = reviewer.post(f"/ui/cases/{case_id}/decide", data={"csrf": csrf, "decision": "confirm"})
    assert r.status_code == 303


def test_dashboard_shows_curators_only_what_the_api_does(
    make_client: Any, db_url: str, admin_key: str
) -> None:
    app = make_client()
    r = app.post(
        "/v1/streams",
        json={"url": None, "external_id": "room-dash-42"},
        headers=key_header(admin_key),
    )
    assert r.status_code == 201, r.text
    curator_key = make_key(db_url, "curator")
    assert app.get("/v1/streams", headers=key_header(curator_key)).status_code == 403
    assert app.get("/v1/alerts", headers=key_header(curator_key)).status_code == 403
    make_user(db_url, "cur", "curator")
    make_user(db_url, "rev", "reviewer")
    curator, reviewer = browser(app), browser(app)
    login(curator, "cur")
    login(reviewer, "rev")
    page = curator.get("/ui/").text
    assert "room-dash-42" not in page
    assert "Open alerts" not in page and "Live streams" not in page and "open cases" not in page
    assert "room-dash-42" in reviewer.get("/ui/").text
