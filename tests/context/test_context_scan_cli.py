"""`vangnet context scan` through the CLI a user runs: it files the accounts at or above the
threshold, is idempotent, audits the scan, and refuses bad options with the usage exit code
and nothing filed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from cli_invoke import invoke
from context.case_data import CorridorAndPrice, store
from vangnet.store.models import AuditEntry, Case


@pytest.fixture
def cli_db(_sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database at head (a copy of the session's migrated template) holding the test
    records, for the CLI."""
    path = tmp_path / "scan.db"
    shutil.copyfile(_sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("VANGNET_DATABASE_URL", url)
    engine = create_engine(url)
    with Session(engine) as s:
        store(s)
        s.commit()
    engine.dispose()
    return url


def _count(url: str, model: type[object]) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


#: the test evaluator alone: the installed ones have tests of their own
ONLY = ("--evaluator", CorridorAndPrice.name)


def test_scan_files_and_is_idempotent(cli_db: str, test_evaluator: type[CorridorAndPrice]) -> None:
    import json

    out = json.loads(invoke("context", "scan", *ONLY, "--json").stdout)
    assert out["records"] == {"payments": 4, "messages": 3, "sessions": 1, "accounts": 2}
    assert [(f["account"], f["score"], f["created"], f["new_reasons"]) for f in out["filed"]] == [
        ("viewer-1", 0.88, True, 2)
    ]
    shown = invoke("case", "show", str(out["filed"][0]["case"])).stdout
    assert "Context risk 0.88 of account viewer-1" in shown and "TX-2" in shown
    assert "price for a show" not in shown  # message text: only on the case page, revealed
    # nor in the case document the API, `case show --json` and reports are built from
    document = invoke("case", "show", str(out["filed"][0]["case"]), "--json").stdout
    assert "price for a show" not in document
    messages = [r for r in json.loads(document)["context"]["rows"] if r["kind"] == "messages"]
    assert messages and all(
        r["record"]["text"] is None and r["record"]["text_chars"] > 0 for r in messages
    )
    again = json.loads(invoke("context", "scan", *ONLY, "--json").stdout)
    assert [(f["created"], f["new_reasons"]) for f in again["filed"]] == [(False, 0)]
    assert _count(cli_db, Case) == 1
    low = invoke("context", "scan", *ONLY, "--threshold", "0.3", "--until", "2026-11-30T00:00:00Z")
    assert "low-1" in low.stdout and _count(cli_db, Case) == 2
    dry = json.loads(
        invoke("context", "scan", *ONLY, "--threshold", "0", "--dry-run", "--json").stdout
    )
    assert dry["dry_run"] and {f["account"] for f in dry["filed"]} == {"viewer-1", "low-1"}
    engine = create_engine(cli_db)
    with Session(engine) as s:
        scans = s.scalars(select(AuditEntry).where(AuditEntry.action == "context.scan")).all()
    engine.dispose()
    assert len(scans) == 3  # the dry run filed and audited nothing


def test_bad_options_are_refused(cli_db: str, test_evaluator: type[CorridorAndPrice]) -> None:
    for args in (
        ("--threshold", "1.5"),
        ("--since", "2026-11-01T00:00:00"),  # no offset: ambiguous
        ("--since", "yesterday"),
        ("--since", "2026-12-01T00:00:00Z", "--until", "2026-11-01T00:00:00Z"),
    ):
        result = invoke("context", "scan", *ONLY, *args, code=2)
        assert "Invalid value" in result.output
    assert _count(cli_db, Case) == 0
