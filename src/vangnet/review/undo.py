"""Undo a decision within its window, before anything it triggered was sent.

A decision made with ``review_undo_seconds`` > 0 records what it changed (the case's status,
category and two-person state before it, the alerts it acknowledged, the banked items it
disabled, the idempotency keys of the webhooks it queued) and holds those webhooks in the
outbox until the window ends. `undo` lets the person who decided take it back inside the
window: the held webhooks are removed from the outbox (refused if one was already picked up
for delivery), the case, alerts and banked items are put back, and the undo is written to
the decision, the case timeline and the audit log (``case.undo``). Caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.banks.contents import set_content_enabled
from vangnet.cases.filing import iso, record_event
from vangnet.errors import ConflictError, NotFoundError
from vangnet.review.outcomes import require_reviewable
from vangnet.store.models import Alert, Case, Decision, Report, WebhookDelivery, utcnow


class UndoRefusedError(ConflictError):
    """The decision cannot be undone (window over, someone else's, already sent...)."""

    code = "undo_refused"


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def undo(session: Session, case_id: int, *, actor: str) -> dict[str, Any]:
    """Undo the latest decision on a case (by ``actor``, inside its window); returns what
    was put back. Raises `UndoRefusedError` with the reason otherwise."""
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    require_reviewable(case)
    last = session.scalars(
        select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc()).limit(1)
    ).one_or_none()
    if last is None:
        raise UndoRefusedError(f"case {case.id} has no decision to undo")
    info = dict((last.details or {}).get("undo") or {})
    if not info:
        raise UndoRefusedError(f"decision {last.id} on case {case.id} cannot be undone")
    if info.get("undone_at"):
        raise UndoRefusedError(f"decision {last.id} on case {case.id} was already undone")
    if last.actor != actor:
        raise UndoRefusedError(
            f"only {last.actor} can undo their decision {last.id}; decide again instead"
        )
    until = _parse(info.get("until"))
    now = utcnow()
    if until is None or now >= until:
        raise UndoRefusedError(
            f"the undo window of decision {last.id} ended at {info.get('until')}; "
            "decide again instead"
        )
    reported = session.scalar(
        select(Report.id).where(
            Report.case_id == case.id,
            Report.kind == "ncmec",
            Report.status.in_(("submitting", "submitted")),
            Report.at >= last.at,
        )
    )
    if reported is not None:
        raise UndoRefusedError(f"case {case.id} was reported to NCMEC (report {reported})")
    keys = [str(k) for k in info.get("webhooks") or []]
    cancelled: list[str] = []
    if keys:
        rows = list(
            session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.idempotency_key.in_(keys))
            )
        )
        for row in rows:
            if row.status != "pending" or row.attempts or row.next_attempt_at <= now:
                raise UndoRefusedError(
                    f"webhook {row.event} of decision {last.id} is already being sent"
                )
        for row in rows:
            gone = session.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.id == row.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempts == 0,
                    WebhookDelivery.next_attempt_at == row.next_attempt_at,
                )
            )
            if getattr(gone, "rowcount", 0) != 1:  # a deliverer claimed it just now
                raise UndoRefusedError(
                    f"webhook {row.event} of decision {last.id} is already being sent"
                )
            cancelled.append(row.event)
    before = {"status": case.status, "category": case.category, "pending_by": case.pending_by}
    restore = dict(info.get("before") or {})
    case.status = str(restore.get("status") or "open")
    case.category = restore.get("category")
    case.pending_by = restore.get("pending_by")
    case.pending_category = restore.get("pending_category")
    case.decided_at = _parse(restore.get("decided_at"))
    reopened = []
    for alert_id in info.get("alerts") or []:
        alert = session.get(Alert, int(alert_id))
        if alert is not None and alert.status == "acknowledged" and alert.acknowledged_by == actor:
            alert.status, alert.acknowledged_at, alert.acknowledged_by = "open", None, None
            reopened.append(alert.id)
    enabled = []
    for content_id in info.get("disabled_content") or []:
        try:
            set_content_enabled(session, int(content_id), enabled=True)
        except NotFoundError:
            continue
        enabled.append(int(content_id))
    done = {
        "case_id": case.id,
        "decision_id": last.id,
        "decision": last.decision,
        "status": case.status,
        "category": case.category,
        "cancelled_webhooks": cancelled,
        "reopened_alerts": reopened,
        "re_enabled_content": enabled,
    }
    last.details = {
        **(last.details or {}),
        "undo": {**info, "undone_at": iso(now), "undone_by": actor},
    }
    record_event(
        session,
        case,
        "decision",
        f"{actor}: undid {last.decision.replace('_', ' ')}"
        + (f" ({last.category})" if last.category else "")
        + (f"; webhooks not sent: {', '.join(cancelled)}" if cancelled else ""),
        actor=actor,
        details=done,
    )
    session.flush()
    chain.record(
        session,
        actor=actor,
        action="case.undo",
        target=f"case:{case.id}",
        before=before,
        after={"status": case.status, "category": case.category, "pending_by": case.pending_by},
        details=done,
    )
    return done
