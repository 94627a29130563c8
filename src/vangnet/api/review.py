"""Cases and the audit log for machines (API keys): the queue, a case document, decisions,
audit verification. People use the web UI (`vangnet.web`); both call the same services and
every decision is audited under the key's name."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vangnet.api.schemas import response_model
from vangnet.audit import chain
from vangnet.audit.anchor import anchor_for
from vangnet.auth import keys
from vangnet.auth.keys import Permission
from vangnet.cases.document import CaseDocument, CaseSummary
from vangnet.http.deps import (
    Caller,
    RowId,
    SeqNo,
    Services,
    db_session,
    require,
    services,
    writer_session,
)
from vangnet.review import cases, decisions, undo
from vangnet.review.classifier_calibration import calibrated_thresholds
from vangnet.review.priority import PriorityWeights

router = APIRouter(prefix="/v1", tags=["review"])

ReviewP = Annotated[Caller, Depends(require(Permission.REVIEW))]
DecideP = Annotated[Caller, Depends(require(Permission.DECIDE))]
AuditP = Annotated[Caller, Depends(require(Permission.AUDIT))]
Db = Annotated[Session, Depends(db_session)]
WriterDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]


class CaseQueue(TypedDict):
    """The review queue: cases in queue order, and how many review cases are in each
    status."""

    cases: list[CaseSummary]
    counts: dict[str, int]


class DecisionRequest(BaseModel):
    decision: Literal["confirm", "false_positive", "escalate", "second_opinion"]
    category: str | None = Field(default=None, max_length=64, examples=["vics:1"])
    note: str | None = Field(default=None, max_length=decisions.MAX_NOTE)
    disable_content: bool = Field(
        default=False, description="False positive: disable the banked entries that caused it."
    )


#: The case routes answer with the document as made (`vangnet.cases.document`); the
#: OpenAPI schema describes it with models made from its types. The answer is not validated
#: against them at run time: a 10,000-item investigation took 252 ms instead of 33 ms that
#: way, and a drift between the types and the document must fail the tests
#: (tests/api/test_case_document.py checks real documents against /openapi.json), not a
#: reviewer's request.


@router.get(
    "/cases", responses={200: {"model": response_model(CaseQueue)}}, response_class=JSONResponse
)
def list_cases(
    session: Db,
    svc: Svc,
    _: ReviewP,
    status: Annotated[str, Query(max_length=32, description="open, all or one status")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    investigations: Annotated[
        bool, Query(description="Include investigation cases (not in the review queue).")
    ] = False,
    order: Annotated[
        Literal["priority", "score"],
        Query(description="priority (its points) or score (the classifiers' priority signal)."),
    ] = "priority",
    min_score: Annotated[
        float | None,
        Query(ge=0, le=1, description="Only cases whose priority signal is at least this."),
    ] = None,
    likely_new: Annotated[
        bool,
        Query(description="Only likely new material: likely by the classifiers, no match."),
    ] = False,
) -> JSONResponse:
    """The review queue: highest priority first, each with the reasons for its place (or
    by the classifiers' priority signal with ``order=score``); ``min_score`` and
    ``likely_new`` filter it. A score orders review; it never decides a case."""
    rows = cases.list_cases(
        session,
        status=None if status == "all" else status,
        limit=limit,
        investigations=investigations,
        weights=PriorityWeights.from_settings(
            svc.settings, calibrated_thresholds(session, svc.settings)
        ),
        order=order,
        min_score=min_score,
        likely_new=likely_new,
    )
    queue: CaseQueue = {"cases": rows, "counts": cases.queue_counts(session)}
    return JSONResponse(jsonable_encoder(queue))


@router.get(
    "/cases/{case_id}",
    responses={200: {"model": response_model(CaseDocument)}},
    response_class=JSONResponse,
)
def show_case(case_id: RowId, session: WriterDb, svc: Svc, who: ReviewP) -> JSONResponse:
    """The whole case document (media hashes, matches, timeline, decisions, custody)."""
    doc = cases.case_document(session, case_id, weights=PriorityWeights.from_settings(svc.settings))
    chain.record(session, actor=who.actor, action="case.view", target=f"case:{case_id}")
    session.commit()
    return JSONResponse(jsonable_encoder(doc))


@router.post("/cases/{case_id}/decisions")
def decide(
    case_id: RowId, body: DecisionRequest, svc: Svc, session: WriterDb, who: DecideP
) -> dict[str, Any]:
    """Decide a case. The key must belong to a person (a web user; 403 otherwise): the
    decision is theirs, and the two-person rule counts them once however they sign in."""
    # Demo mode (no keys, loopback only) has one anonymous local person.
    person = keys.person_of_key(session, who.key) if who.key is not None else "local"
    outcome = decisions.decide(
        session,
        case_id,
        decision=body.decision,
        actor=who.actor,
        person=person,
        category=body.category,
        note=body.note,
        disable_content=body.disable_content,
        settings=svc.settings,
    )
    session.commit()
    if outcome.webhooks:
        svc.monitor.wake_deliverer()
    return outcome.to_dict()


@router.post("/cases/{case_id}/decisions/preview")
def preview_decision(
    case_id: RowId, body: DecisionRequest, svc: Svc, session: WriterDb, who: DecideP
) -> dict[str, Any]:
    """What this decision would do (status, verdict, webhooks, NCMEC eligibility, undo
    window), without doing it: nothing is written or sent."""
    try:
        return decisions.preview(
            session,
            case_id,
            decision=body.decision,
            actor=who.actor,
            category=body.category,
            note=body.note,
            disable_content=body.disable_content,
            settings=svc.settings,
        )
    finally:
        session.rollback()


@router.post("/cases/{case_id}/decisions/undo")
def undo_decision(case_id: RowId, session: WriterDb, who: DecideP) -> dict[str, Any]:
    """Undo your latest decision on the case inside its window (``review_undo_seconds``),
    before its held webhooks are sent; refused (409) otherwise."""
    done = undo.undo(session, case_id, actor=who.actor)
    session.commit()
    return done


@router.get("/audit/verify")
def verify_audit(session: Db, svc: Svc, _: AuditP) -> dict[str, Any]:
    """Recompute the audit chain, its MACs and the checkpoints outside the database: ``ok``,
    or the first fault, ``how`` (edited, removed, reordered, recomputed, truncated, unkeyed,
    checkpoint) and ``where`` (entry, checkpoint file and line)."""
    return chain.verify(session, anchor=anchor_for(svc.settings)).to_dict()


@router.get("/audit")
def list_audit(
    session: Db,
    _: AuditP,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_seq: SeqNo = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=255)] = None,
) -> dict[str, Any]:
    return {
        "entries": chain.list_entries(
            session, limit=limit, before_seq=before_seq, action=action, actor=actor
        )
    }
