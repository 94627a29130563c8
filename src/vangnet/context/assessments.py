"""Stored assessments (tables ``context_assessments`` and ``context_risks``): `save` one,
read the latest, its ranking and one account's risk. Keyword-only, in the caller's
transaction (the caller commits)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.context.assess import Assessment
from vangnet.context.findings import Role
from vangnet.store.models import ContextAssessment, ContextRisk


@dataclass(frozen=True, slots=True)
class StoredRisk:
    """One account's stored risk: score, role, reasons (JSON) and scores per bucket."""

    account: str
    score: float
    role: Role
    reasons: list[dict[str, Any]]
    weekly: list[dict[str, Any]]

    @property
    def indicators(self) -> list[str]:
        return list(dict.fromkeys(str(r["indicator"]) for r in self.reasons))

    def as_json(self, *, rows: bool = True) -> dict[str, Any]:
        reasons = self.reasons if rows else [{**r, "rows": []} for r in self.reasons]
        return {
            "account": self.account,
            "score": self.score,
            "role": self.role.value,
            "indicators": self.indicators,
            "reasons": reasons,
            "weekly": self.weekly,
        }


def _risk(row: ContextRisk) -> StoredRisk:
    return StoredRisk(
        account=row.account,
        score=row.score,
        role=Role(row.role),
        reasons=list(row.reasons or []),
        weekly=list(row.weekly or []),
    )


def save(session: Session, *, assessment: Assessment, actor: str) -> ContextAssessment:
    """Store ``assessment`` (flushed, not committed)."""
    row = ContextAssessment(
        actor=actor,
        since=assessment.since,
        until=assessment.until,
        figures=assessment.figures(),
    )
    session.add(row)
    session.flush()
    session.add_all(
        ContextRisk(
            assessment_id=row.id,
            account=risk.account,
            score=round(risk.score, 4),
            role=risk.role.value,
            reasons=[r.as_json() for r in risk.reasons],
            weekly=[
                {"end": end.isoformat(), "score": score}
                for end, score in assessment.timeline(risk.account)
            ],
        )
        for risk in assessment.risks
    )
    session.flush()
    return row


def latest(session: Session) -> ContextAssessment | None:
    """The newest stored assessment, or None."""
    return session.scalars(
        select(ContextAssessment).order_by(ContextAssessment.id.desc()).limit(1)
    ).first()


def ranking(
    session: Session, *, assessment_id: int, top: int | None = None, role: Role | None = None
) -> list[StoredRisk]:
    """The assessment's accounts, highest score first (ties by account), optionally of one
    ``role`` only and the ``top`` N."""
    query = select(ContextRisk).where(ContextRisk.assessment_id == assessment_id)
    if role is not None:
        query = query.where(ContextRisk.role == role.value)
    query = query.order_by(ContextRisk.score.desc(), ContextRisk.account)
    if top is not None:
        query = query.limit(top)
    return [_risk(r) for r in session.scalars(query)]


def risk_of(session: Session, *, assessment_id: int, account: str) -> StoredRisk | None:
    row = session.scalars(
        select(ContextRisk).where(
            ContextRisk.assessment_id == assessment_id, ContextRisk.account == account
        )
    ).first()
    return None if row is None else _risk(row)


def header(row: ContextAssessment) -> dict[str, Any]:
    """An assessment's record as JSON."""
    return {
        "id": row.id,
        "created_at": _iso(row.created_at),
        "actor": row.actor,
        "since": _iso(row.since),
        "until": _iso(row.until),
        "figures": dict(row.figures or {}),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
