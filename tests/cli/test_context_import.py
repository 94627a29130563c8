"""`vangnet context import` and `vangnet context imports`, as a user runs them, on SQLite and
PostgreSQL: a summary, an idempotent second run, bad rows listed as ``line N: reason`` with
exit 6 and nothing stored, unknown kinds (exit 2) and formats (exit 6) naming the known ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cli_invoke import invoke
from context import samples
from vangnet.config import reset_settings
from vangnet.store.db import make_engine
from vangnet.store.models import AuditEntry, ContextMessage, ContextPayment


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return db_url


def flat(text: str) -> str:
    """``text`` with the terminal's line wrapping undone."""
    return " ".join(text.split())


def rows(db_url: str, model: type) -> int:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


def test_import_then_again_then_list(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_bytes(samples.PAYMENTS_CSV)
    out = invoke("context", "import", "payments", str(path)).stdout
    assert "Imported 3 payments from payments.csv (csv): 3 added, 0 already stored" in flat(out)
    again = json.loads(invoke("context", "import", "payments", str(path), "--json").stdout)
    assert (again["rows"], again["added"], again["duplicates"], again["format"]) == (3, 0, 3, "csv")
    listed = json.loads(invoke("context", "imports", "--json").stdout)
    assert [(i["import_id"], i["added"], i["duplicates"]) for i in listed] == [
        (again["import_id"], 0, 3),
        (again["import_id"] - 1, 3, 0),
    ]
    assert listed[0]["actor"].startswith("cli:") and listed[0]["filename"] == "payments.csv"
    table = invoke("context", "imports").stdout
    assert "Context imports" in table and "cli:" in table
    assert rows(cli_db, ContextPayment) == 3
    assert rows(cli_db, AuditEntry) == 2


SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_a_whatsapp_export_with_zone_and_conversation(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Maria.txt"
    path.write_bytes(samples.WHATSAPP_IOS)
    invoke("context", "import", "messages", str(path), code=6)  # no --timezone
    out = invoke(
        "context",
        "import",
        "messages",
        str(path),
        "--timezone",
        "Asia/Manila",
        "--conversation",
        "case-7",
        "--json",
    ).stdout
    summary = json.loads(out)
    assert (summary["format"], summary["added"], summary["skipped"]) == ("whatsapp", 4, 1)
    assert rows(cli_db, ContextMessage) == 4
    invoke("context", "import", "messages", str(path), "--timezone", "Mars/Base", code=2)


def test_bad_rows_are_listed_and_nothing_is_stored(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        samples.PAYMENTS_CSV
        + b"p-4,2026-11-03T22:41:05,a,b,5,EUR,,,,,,\n"
        + b'p-5,2026-11-03T22:41:05Z,a,b,"5,5",EUR,,,,,,\n'
    )
    result = invoke("context", "import", "payments", str(path), code=6)
    shown = flat(result.output)
    assert "2 bad rows in the payments file, nothing imported" in shown
    assert "line 5: at: time 2026-11-03T22:41:05 has no offset" in shown
    assert "line 6: amount: not a decimal number" in shown
    error = json.loads(invoke("context", "import", "payments", str(path), "--json", code=6).stdout)
    assert error["error"]["code"] == "invalid_records" and error["error"]["bad_rows"] == 2
    assert [r["line"] for r in error["error"]["rows"]] == [5, 6]
    assert rows(cli_db, ContextPayment) == 0 and rows(cli_db, AuditEntry) == 0


@SQLITE_ONLY
def test_unknown_kind_format_and_file(cli_db: str, tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_bytes(samples.PAYMENTS_CSV)
    kind = invoke("context", "import", "transfers", str(path), code=2)
    assert "known: payments, messages, sessions, accounts" in flat(kind.output)
    fmt = invoke("context", "import", "payments", str(path), "--format", "xlsx", code=6)
    assert "known: auto, pacs008, pain001, mt103, jsonl, csv" in flat(fmt.output)
    invoke("context", "import", "payments", str(tmp_path / "missing.csv"), code=4)
    assert rows(cli_db, ContextPayment) == 0


def test_plugins_lists_the_record_formats() -> None:
    listed = json.loads(invoke("plugins", "--json").stdout)
    formats = {r["name"]: r["content_types"] for r in listed if r["kind"] == "record_format"}
    assert formats["pacs008"] == ["payments"] and formats["whatsapp"] == ["messages"]
    assert formats["csv"] == ["accounts", "messages", "payments", "sessions"]


@SQLITE_ONLY
def test_an_xml_bomb_is_refused_and_nothing_stored(cli_db: str, tmp_path: Path) -> None:
    from context.test_parsers_bank import BILLION_LAUGHS

    path = tmp_path / "bomb.xml"
    path.write_bytes(BILLION_LAUGHS)
    result = invoke("context", "import", "payments", str(path), code=6)
    assert "a DTD is not allowed in an ISO 20022 message" in flat(result.output)
    assert rows(cli_db, ContextPayment) == 0


@SQLITE_ONLY
def test_a_file_that_cannot_be_read_is_a_clear_error(cli_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "march"
    folder.mkdir()
    result = invoke("context", "import", "payments", str(folder), code=3)
    assert "error (unreadable_input): cannot read" in flat(result.output)
    error = json.loads(
        invoke("context", "import", "payments", str(folder), "--json", code=3).stdout
    )
    assert error["error"]["code"] == "unreadable_input"
    assert rows(cli_db, ContextPayment) == 0
