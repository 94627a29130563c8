"""The STR exports of a context case through `vangnet report render str|str_csv`: goAML XML
with the documented elements in order, one transaction per payment behind the reasons, every
value escaped, the FIU's indicator codes from the settings; the CSV safe from formula
injection; each export recorded and audited; a case that is not a context case, or a
deployment without a reporting entity, refused with exit code 6 and nothing filed."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from cli_invoke import invoke
from context.case_data import CorridorAndPrice, store, test_evaluator
from vangnet.cases.filing import file_case
from vangnet.store.models import AuditEntry, Report

__all__ = ["test_evaluator"]  # the fixture
ORDER = [
    "rentity_id",
    "submission_code",
    "report_code",
    "entity_reference",
    "submission_date",
    "currency_code_local",
    "reporting_person",
    "reason",
    "action",
    "transaction",
    "transaction",
    "report_indicators",
]


@pytest.fixture
def cli_db(_sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database at head (a copy of the session's migrated template) holding the test
    records, for the CLI."""
    path = tmp_path / "str.db"
    shutil.copyfile(_sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("VANGNET_DATABASE_URL", url)
    engine = create_engine(url)
    with Session(engine) as s:
        store(s)
        file_case(s, key="upload:abc", kind="upload", subject={}, stream=None, name="x.jpg")
        s.commit()
    engine.dispose()
    return url


def _count(url: str, model: type[object], **where: object) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as s:
            stmt = select(func.count()).select_from(model)
            for k, v in where.items():
                stmt = stmt.where(getattr(model, k) == v)
            return int(s.scalar(stmt) or 0)
    finally:
        engine.dispose()


def test_str_exports_of_a_context_case(
    cli_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    test_evaluator: type[CorridorAndPrice],
) -> None:
    [filed] = json.loads(invoke("context", "scan", "--json").stdout)["filed"]
    case = str(filed["case"])
    out = tmp_path / "str.xml"
    # no reporting entity configured: refused, nothing filed
    invoke("report", "render", "str", case, "--out", str(out), code=6)
    assert _count(cli_db, Report) == 0 and not out.exists()
    monkeypatch.setenv("VANGNET_REPORT_STR_RENTITY_ID", "4711")
    monkeypatch.setenv(
        "VANGNET_REPORT_STR_REPORTING_PERSON",
        json.dumps({"first_name": "Ann", "last_name": "O'Neil & <Co>", "email": "a@example.org"}),
    )
    monkeypatch.setenv("VANGNET_REPORT_STR_INDICATOR_CODES", json.dumps({"test_corridor": "C7"}))
    invoke("report", "render", "str", case, "--out", str(out))
    root = ET.fromstring(out.read_bytes())
    assert root.tag == "report"
    assert [c.tag for c in root] == ORDER
    assert root.findtext("rentity_id") == "4711" and root.findtext("report_code") == "STR"
    assert root.findtext("entity_reference") == f"vangnet-case-{case}"
    assert root.findtext("reporting_person/last_name") == "O'Neil & <Co>"  # escaped, round-trips
    assert b"&lt;Co&gt;" in out.read_bytes()
    assert "2 small remittances to PH <corridor>" in (root.findtext("reason") or "")
    txs = root.findall("transaction")
    assert [t.findtext("transactionnumber") for t in txs] == ["TX-1", "TX-2"]
    second = txs[1]
    assert second.findtext("amount_local") == "30.00"
    assert second.findtext("date_transaction") == "2026-11-02T22:30:00"
    assert second.findtext("transaction_description") == "<b>gift</b> & co"
    assert second.findtext("t_from/from_account/account") == "viewer-1"
    assert second.findtext("t_from/from_country") == "NL"
    assert second.findtext("t_to/to_account/account") == "fac-1"
    assert second.findtext("t_to/to_country") == "PH"
    assert [i.text for i in root.findall("report_indicators/indicator")] == ["C7"]
    csv_out = tmp_path / "str.csv"
    invoke("report", "render", "str_csv", case, "--out", str(csv_out))
    lines = csv_out.read_text().splitlines()
    assert lines[0].startswith("case,transactionnumber,date_utc") and len(lines) == 3
    assert '"<b>gift</b> & co"' in lines[2] or "<b>gift</b> & co" in lines[2]
    assert _count(cli_db, Report, kind="str") == 1 and _count(cli_db, Report, kind="str_csv") == 1
    assert _count(cli_db, AuditEntry, action="report.format.str") == 1
    assert _count(cli_db, AuditEntry, action="report.format.str_csv") == 1
    # a case without context signals: refused
    invoke("report", "render", "str", "upload:abc", "--out", str(tmp_path / "x.xml"), code=6)
    assert _count(cli_db, Report, kind="str") == 1


def _doc(*payments: dict[str, object]) -> dict[str, object]:
    return {
        "id": 3,
        "context": {
            "account": "a",
            "platform": None,
            "score": 0.9,
            "role": "viewer",
            "indicators": ["x"],
            "assessment": None,
            "scored_at": None,
            "reasons": [
                {"indicator": "x", "summary": "s", "weight": 0.9, "role": "viewer", "at": None}
            ],
            "rows": [
                {
                    "kind": "payments",
                    "ref": str(p["ref"]),
                    "indicators": ["x"],
                    "at": p["at"],
                    "found": True,
                    "record": p,
                }
                for p in payments
            ],
        },
    }


def test_csv_cells_cannot_run_and_foreign_payments_are_counted() -> None:
    from datetime import UTC, datetime

    from vangnet.config import Settings
    from vangnet.reports.goaml import goaml_str, str_csv

    base = {
        "at": "2026-11-01T10:00:00+00:00",
        "sender": "a",
        "beneficiary": "b",
        "channel": "p2p",
        "sender_country": None,
        "beneficiary_country": "PH",
        "details": {},
    }
    doc = _doc(
        {
            **base,
            "ref": "=HYPERLINK(1)",
            "amount": "10.00",
            "currency": "EUR",
            "narrative": "@SUM(A1)",
        },
        {**base, "ref": "P-2", "amount": "99.00", "currency": "USD", "narrative": ""},
        {
            **base,
            "ref": "P-3",
            "amount": "20.00",
            "currency": "USD",
            "narrative": "",
            "details": {"amount_local": "18.40"},
        },
    )
    text = str_csv(doc).decode()  # type: ignore[arg-type]
    assert "'=HYPERLINK(1)" in text and "'@SUM(A1)" in text
    settings = Settings(
        report_str_rentity_id="1", report_str_reporting_person={"first_name": "A", "last_name": "B"}
    )
    root = ET.fromstring(
        goaml_str(
            doc,
            settings=settings,  # type: ignore[arg-type]
            generated_at=datetime(2026, 12, 7, tzinfo=UTC),
        )
    )
    assert [t.findtext("transactionnumber") for t in root.findall("transaction")] == [
        "=HYPERLINK(1)",
        "P-3",
    ]
    p3 = root.findall("transaction")[1]
    assert p3.findtext("amount_local") == "18.40"
    assert p3.findtext("t_from/from_foreign_currency/foreign_currency_code") == "USD"
    assert p3.find("t_from/from_country") is None  # unknown: omitted
    assert "1 payments in other currencies than EUR" in (root.findtext("reason") or "")
    assert root.find("report_indicators") is None  # no FIU code configured


def _str_xml(doc: dict[str, object]) -> bytes:
    from datetime import UTC, datetime

    from vangnet.config import Settings
    from vangnet.reports.goaml import goaml_str

    settings = Settings(
        report_str_rentity_id="1", report_str_reporting_person={"first_name": "A", "last_name": "B"}
    )
    return goaml_str(doc, settings=settings, generated_at=datetime(2026, 12, 7, tzinfo=UTC))  # type: ignore[arg-type]


PAYMENT = {
    "ref": "P-1",
    "at": "2026-11-01T10:00:00+00:00",
    "sender": "a",
    "beneficiary": "b",
    "amount": "10.00",
    "currency": "EUR",
    "channel": "p2p",
    "sender_country": None,
    "beneficiary_country": "PH",
    "narrative": "",
    "details": {},
}


def test_str_xml_stays_well_formed_with_control_characters_in_the_records() -> None:
    # details are free JSON at import: "\u0001" is a valid JSON string, not XML 1.0 text
    details = {"sender_institution": "Bank\x01 of\x0b A", "beneficiary_institution": "\ufffeB"}
    root = ET.fromstring(_str_xml(_doc({**PAYMENT, "details": details})))
    tx = root.find("transaction")
    assert tx is not None
    assert tx.findtext("t_from/from_account/institution_name") == "Bank of A"
    assert tx.findtext("t_to/to_account/institution_name") == "B"


@pytest.mark.parametrize("booked", ["NaN", "-5", "Infinity", "0"])
def test_str_refuses_a_booked_local_amount_that_is_no_amount(booked: str) -> None:
    from vangnet.errors import ValidationError

    payment = {**PAYMENT, "currency": "USD", "details": {"amount_local": booked}}
    with pytest.raises(ValidationError, match="P-1"):
        _str_xml(_doc(payment))
