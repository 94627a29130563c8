"""The context assessment over the API (API keys with the review permission): run one over
the stored payment, chat, call-session and account records, read the ranked accounts, read
one account with its reasons, its score per week, its counterparties and its network
picture (ego graph as nodes and edges). The same services as ``vangnet context ...``
(`vangnet.context.service`); every run and every read is audited under the key's name
(``context.assess``, ``context.accounts.list``, ``context.account.view``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from vangnet.auth.keys import Permission
from vangnet.context import assessments
from vangnet.context.findings import Role
from vangnet.context.service import account_view, ranking, run_assessment
from vangnet.http.deps import Caller, Services, require, services, writer_session

router = APIRouter(prefix="/v1", tags=["context"])

ReviewP = Annotated[Caller, Depends(require(Permission.REVIEW))]
WriterDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]


class AssessRequest(BaseModel):
    since: AwareDatetime | None = Field(
        default=None, description="Only records from this time on (ISO 8601 with offset)."
    )
    until: AwareDatetime | None = Field(default=None, description="Only records before this.")
    bucket_days: int | None = Field(
        default=None,
        ge=1,
        le=366,
        description="Days per risk-over-time bucket (default: setting "
        "context_assess_bucket_days; 7 = weeks from Monday 00:00 UTC).",
    )
    top: int = Field(default=20, ge=0, le=1000, description="Accounts in the answer.")
    evaluators: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=64,
        description="Run only these context evaluators (default: every installed one); an "
        "unknown name is refused (404).",
    )


class AssessmentRecord(BaseModel):
    """A stored assessment: who ran it, when, over which window, and its figures (records,
    evaluators with versions, evaluators that failed and why, buckets, graph counts)."""

    id: int
    created_at: str | None
    actor: str
    since: str | None
    until: str | None
    figures: dict[str, Any]


class RankedAccount(BaseModel):
    account: str
    score: float = Field(description="Noisy-OR of the strongest reason per indicator, 0-1.")
    role: Literal["viewer", "facilitator", "unknown"]
    indicators: list[str]
    reasons: list[dict[str, Any]] = Field(
        description="Strongest first: indicator, weight, summary, at, role, details "
        "(rows: only in the account's own answer)."
    )
    weekly: list[dict[str, Any]] = Field(description="[{end, score}] per time bucket.")


class AssessAnswer(BaseModel):
    assessment: AssessmentRecord
    accounts: list[RankedAccount]


class Ranking(BaseModel):
    assessment: AssessmentRecord | None = Field(description="null: no assessment yet.")
    accounts: list[RankedAccount]


class AccountAnswer(BaseModel):
    account: str
    assessment: AssessmentRecord | None
    score: float
    role: Literal["viewer", "facilitator", "unknown"]
    indicators: list[str]
    reasons: list[dict[str, Any]] = Field(description="With the rows behind each reason.")
    weekly: list[dict[str, Any]]
    counterparties: list[dict[str, Any]] = Field(
        description="Per neighbour, edge kind and direction: count, amount_eur, first, last."
    )
    graph: dict[str, list[dict[str, Any]]] = Field(
        description="The ego graph (`nodes`, `edges`) by the graph contract: the network "
        "picture, bounded by setting context_graph_ego_nodes."
    )


def _ranked(risk: assessments.StoredRisk) -> RankedAccount:
    return RankedAccount.model_validate(risk.as_json(rows=False))


@router.post("/context/assess", status_code=201)
def assess_records(body: AssessRequest, svc: Svc, session: WriterDb, who: ReviewP) -> AssessAnswer:
    """Run every context evaluator over the stored records (window `since`..`until`), store
    the assessment and answer its record and top accounts. Audited as `context.assess`. An
    evaluator that fails is listed in `figures.failures`; the others still count."""
    row, _result = run_assessment(
        session,
        settings=svc.settings,
        actor=who.actor,
        since=body.since,
        until=body.until,
        bucket_days=body.bucket_days,
        only=body.evaluators,
    )
    top = assessments.ranking(session, assessment_id=row.id, top=body.top) if body.top else []
    answer = AssessAnswer(
        assessment=AssessmentRecord.model_validate(assessments.header(row)),
        accounts=[_ranked(r) for r in top],
    )
    session.commit()
    return answer


@router.get("/context/accounts")
def list_accounts(
    session: WriterDb,
    who: ReviewP,
    top: Annotated[int, Query(ge=1, le=10000)] = 50,
    role: Annotated[Literal["viewer", "facilitator", "unknown"] | None, Query()] = None,
) -> Ranking:
    """The latest assessment's ranking, highest score first: each account's score, role,
    indicators and reasons (without rows). Audited as `context.accounts.list`."""
    row, risks = ranking(
        session, actor=who.actor, top=top, role=Role(role) if role is not None else None
    )
    answer = Ranking(
        assessment=AssessmentRecord.model_validate(assessments.header(row)) if row else None,
        accounts=[_ranked(r) for r in risks],
    )
    session.commit()
    return answer


@router.get("/context/accounts/{ref:path}")
def show_account(
    ref: Annotated[
        str,
        Path(
            min_length=1,
            max_length=255,
            description="The account's ref; one that holds a '/' (a party named 'A/B "
            "Trading') is sent as is or as %2F.",
        ),
    ],
    svc: Svc,
    session: WriterDb,
    who: ReviewP,
) -> AccountAnswer:
    """One account: its reasons with their rows, its score per bucket, its counterparties
    and its ego graph. 404 when no record and no assessment names it. Audited as
    `context.account.view`."""
    view = account_view(session, settings=svc.settings, actor=who.actor, account=ref)
    answer = AccountAnswer.model_validate(view.as_json())
    session.commit()
    return answer
