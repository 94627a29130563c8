"""A case with both media and context signals: its NCMEC CyberTipline report carries the
context summary (reasons, counts, counterparties) in its additional information and stays
valid against NCMEC's schema; the case report (HTML) has a context section; its VICS media
entries name it in one line of their comments. Neither
reproduces message text; both escape what the records say."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from context.case_data import CorridorAndPrice, store, test_evaluator
from reports.test_ncmec import REPORTER, make_case, parse
from vangnet.config import Settings
from vangnet.context.assess import assess
from vangnet.context.case_rows import context_document
from vangnet.context.filing import file_risks
from vangnet.context.population import Population
from vangnet.reports.document import render_html
from vangnet.reports.ncmec import build_report, validate
from vangnet.reports.vics_cases import vics_case

__all__ = ["test_evaluator"]  # the fixture


def _media_and_context_case(session: Session) -> dict[str, object]:
    store(session)
    population = Population.load(session)
    [filed] = file_risks(
        session,
        risks=assess(population, settings=Settings(), only=[CorridorAndPrice.name]).risks,
        population=population,
        threshold=0.8,
        actor="test",
        settings=Settings(),
    )
    session.commit()
    context = context_document(session, filed.filed.case)
    assert context is not None
    return {**make_case("upload"), "context": context}


def test_ncmec_report_and_case_report_carry_the_context(
    db_session: Session, test_evaluator: type[CorridorAndPrice]
) -> None:
    case = _media_and_context_case(db_session)
    xml = build_report(case, REPORTER)  # type: ignore[arg-type]
    validate(xml)
    info = parse(xml).findtext("additionalInfo")
    assert "Context signals: account viewer-1 on chatapp, risk 0.88" in info
    assert "- test_corridor: 2 small remittances to PH <corridor>" in info
    assert "2 payments (EUR 55.00 in euro), 1 messages, 1 call sessions" in info
    assert "Counterparties: fac-1 (PH)." in info
    assert "price for a show" not in info  # message text stays with the case
    assert b"&lt;corridor&gt;" in xml
    html = render_html(
        case,  # type: ignore[arg-type]
        read_item=None,
        generated_by="bob",
        generated_at=datetime(2026, 12, 7, tzinfo=UTC),
    )
    section = html[html.index('<section id="context">') : html.index('<section id="timeline">')]
    assert "risk 0.88" in section and "&lt;corridor&gt;" in section and "<corridor>" not in html
    assert section.count("<tr>") == 5  # header + TX-1, TX-2, M-1, S-1
    assert "price for a show" not in html


def test_vics_media_entries_name_the_context_in_their_comments(
    db_session: Session, test_evaluator: type[CorridorAndPrice]
) -> None:
    case = _media_and_context_case(db_session)
    entry = vics_case(case)  # type: ignore[arg-type]
    [media] = entry["Media"]
    assert media["Comments"].endswith(
        "; context signals of account viewer-1: risk 0.88 (viewer; test_corridor, test_price);"
        " 2 payments, 1 messages, 1 call sessions behind them"
    )
    assert "price for a show" not in str(entry)
    plain = vics_case(make_case("upload"))  # type: ignore[arg-type]
    assert "context" not in plain["Media"][0]["Comments"]


def test_a_media_case_without_context_is_unchanged() -> None:
    case = make_case("upload")
    info = parse(build_report(case, REPORTER)).findtext("additionalInfo")  # type: ignore[arg-type]
    assert "Context signals" not in info
    html = render_html(case, read_item=None, generated_by="bob")  # type: ignore[arg-type]
    assert 'id="context"' not in html
