"""Context risks filed as cases (`vangnet.context.filing`, the intake's ``context`` source) on
SQLite and PostgreSQL: the threshold, the case key and grouping with the account's media
case, the records kept, an idempotent re-scan, reopening on new reasons, the queue priority."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from context.case_data import CorridorAndPrice, payment, store
from vangnet.cases.context_signal import ContextReason, ContextSignal
from vangnet.cases.filing import file_case
from vangnet.cases.intake import Grouping, Intake, Source, file_intake
from vangnet.config import Settings
from vangnet.context import stored
from vangnet.context.assess import assess
from vangnet.context.filing import file_risks
from vangnet.context.population import Population
from vangnet.errors import ValidationError
from vangnet.review.cases import list_cases
from vangnet.review.priority import PriorityWeights
from vangnet.sources.records.model import RecordKind
from vangnet.store.models import Case, CaseContextRow, CaseEvent

SETTINGS = Settings()


def _scan(session: Session, threshold: float = 0.8, **settings: object) -> list[Case]:
    population = Population.load(session)
    risks = assess(population, settings=SETTINGS, only=[CorridorAndPrice.name]).risks
    filed = file_risks(
        session,
        risks=risks,
        population=population,
        threshold=threshold,
        actor="test",
        settings=SETTINGS.model_copy(update=settings),
    )
    session.commit()
    return [f.filed.case for f in filed]


def _count(session: Session, model: type[object], **where: object) -> int:
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return int(session.scalar(stmt) or 0)


def test_a_scan_files_accounts_at_the_threshold_once(
    db_session: Session, test_evaluator: type[CorridorAndPrice]
) -> None:
    store(db_session)
    risks = assess(
        Population.load(db_session), settings=SETTINGS, only=[CorridorAndPrice.name]
    ).risks
    assert [(r.account, round(r.score, 2)) for r in risks] == [("viewer-1", 0.88), ("low-1", 0.3)]
    [case] = _scan(db_session)
    assert (case.kind, case.key, case.title) == (
        "context",
        "account:chatapp:viewer-1",  # the platform account's case, as its media would be
        "Context: account viewer-1",
    )
    kept = case.subject["context"]
    assert (kept["score"], kept["role"]) == (0.88, "viewer")
    assert kept["indicators"] == ["test_corridor", "test_price"]
    rows = db_session.execute(
        select(CaseContextRow.kind, CaseContextRow.ref, CaseContextRow.indicator)
        .where(CaseContextRow.case_id == case.id)
        .order_by(CaseContextRow.ref)
    ).all()
    assert [tuple(r) for r in rows] == [
        ("messages", "M-1", "test_price"),
        ("sessions", "S-1", "test_price"),
        ("payments", "TX-1", "test_corridor"),
        ("payments", "TX-2", "test_corridor"),
    ]
    events = db_session.scalars(
        select(CaseEvent.summary).where(CaseEvent.kind == "context").order_by(CaseEvent.id)
    ).all()
    assert len(events) == 2 and "2 small remittances" in events[0]
    # a re-scan of the same records adds nothing
    assert [c.id for c in _scan(db_session)] == [case.id]
    assert _count(db_session, CaseEvent, kind="context") == 2
    assert _count(db_session, CaseContextRow) == 4
    assert _count(db_session, Case) == 1
    # a lower threshold files low-1 too (a case of its own: no platform known)
    low = [c for c in _scan(db_session, threshold=0.3) if c.id != case.id]
    assert [c.key for c in low] == ["context:low-1"]


def test_new_reasons_reopen_a_decided_case(
    db_session: Session, test_evaluator: type[CorridorAndPrice]
) -> None:
    store(db_session)
    [case] = _scan(db_session)
    case.status = "false_positive"
    db_session.commit()
    assert _scan(db_session) and case.status == "false_positive"  # nothing new: stays decided
    db_session.add(stored.payment_row(payment("TX-9", "viewer-1", "fac-1", days=3)))
    db_session.commit()
    [again] = _scan(db_session)
    assert again.id == case.id and again.status == "open"
    notes = db_session.scalars(
        select(CaseEvent.summary).where(CaseEvent.case_id == case.id, CaseEvent.kind == "note")
    ).all()
    assert any("reopened" in n for n in notes)
    assert _count(db_session, CaseEvent, kind="context") == 3
    assert ("payments", "TX-9") in {
        tuple(r) for r in db_session.execute(select(CaseContextRow.kind, CaseContextRow.ref)).all()
    }


def test_the_account_s_media_case_is_its_context_case(
    db_session: Session, test_evaluator: type[CorridorAndPrice]
) -> None:
    store(db_session)
    media, _ = file_case(
        db_session,
        key="account:chatapp:viewer-1",
        kind="upload",
        subject={"platform": "chatapp", "account": "viewer-1"},
        stream=None,
        name="upload.jpg",
    )
    db_session.commit()
    [case] = _scan(db_session)
    assert case.id == media.id and case.kind == "upload"
    assert case.subject["context"]["score"] == 0.88
    # grouped by stream, the same account's context case is its own
    db_session.query(CaseContextRow).delete()
    db_session.commit()
    [own] = _scan(db_session, review_group_by="stream")
    assert own.key == "context:viewer-1" and own.id != media.id


def test_the_queue_ranks_a_context_case_by_its_risk(
    db_session: Session, test_evaluator: type[CorridorAndPrice]
) -> None:
    store(db_session)
    [case] = _scan(db_session)
    [entry] = list_cases(db_session, weights=PriorityWeights.from_settings(SETTINGS))
    assert entry["id"] == case.id and entry["kind"] == "context"
    points = round(SETTINGS.review_priority_context * 0.88)
    assert entry["priority"]["score"] == points
    assert entry["priority"]["reasons"] == [
        f"context risk 0.88: test_corridor, test_price (+{points})"
    ]


def test_bad_context_intakes_are_refused(db_session: Session) -> None:
    with pytest.raises(ValidationError, match="needs its context signal"):
        file_intake(db_session, Intake(source=Source.CONTEXT))
    with pytest.raises(ValidationError, match="at least one reason"):
        ContextSignal(account="a", score=0.9, role="viewer", reasons=())
    with pytest.raises(ValidationError, match="from 0 to 1"):
        ContextSignal(
            account="a", score=1.5, role="viewer", reasons=(ContextReason("x", "s", 0.5),)
        )
    with pytest.raises(ValidationError, match="from 0 to 1"):
        file_risks(
            db_session,
            risks=[],
            population=Population(),
            threshold=2,
            actor="t",
            settings=SETTINGS,
        )
    signal = ContextSignal(
        account="a" * 250,
        score=0.9,
        role="unknown",
        reasons=(ContextReason("x", "s", 0.9, rows=((RecordKind.PAYMENTS, "P-1"),)),),
    )
    filed = file_intake(
        db_session, Intake(source=Source.CONTEXT, context=signal, grouping=Grouping("evidence"))
    )
    assert filed.case.key.startswith("context:sha256:") and filed.new_reasons == 1
    assert _count(db_session, Case) == 1
