"""What a decision means and what it triggers: decisions mean what they say.

- A confirmation with a category its profile marks as not reportable (``vics:0``
  non-pertinent, ``vics:4`` comparison images; `vangnet.banks.categories`) is a *not illegal*
  outcome: no enforcement webhooks (``case.confirmed``, ``content.remove``,
  ``account.suspend``) and no NCMEC report.
- Enforcement webhooks of a decision are held in the outbox for ``review_undo_seconds``, so
  the person who decided can undo it before anything is sent (`vangnet.review.undo`).
- Investigation cases are worked in the investigation workbench, not decided here.
- `vangnet.review.decisions.preview` says what a decision would do, without doing it.

Everything here works in the caller's transaction (no commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from vangnet.actions import webhooks
from vangnet.banks.categories import Category, get_profile
from vangnet.config import Settings
from vangnet.errors import ConflictError, ValidationError
from vangnet.store.models import Case, utcnow

CONFIRMED_EVENT = "case.confirmed"


class Verdict(StrEnum):
    """What a decided case says about the material."""

    ILLEGAL = "illegal"  # confirmed with a reportable category (or an uncategorised bank)
    NOT_ILLEGAL = "not_illegal"  # confirmed with a category its profile marks not reportable
    FALSE_POSITIVE = "false_positive"  # the match was wrong


class InvestigationCaseError(ConflictError):
    """Investigation cases are worked in the investigation workbench, not the review queue."""

    code = "investigation_case"


def reportable(category: str | None) -> bool:
    """Whether a confirmation with ``category`` (``profile:code``; None for a bank that does
    not categorise) is an illegal outcome: enforcement and a report may follow."""
    if not category:
        return True
    try:
        return Category.parse(category).reportable
    except ValidationError:  # a category no profile knows any more: never act on it
        return False


def verdict(status: str, category: str | None) -> Verdict | None:
    """The verdict of a case in ``status`` with ``category``; None while undecided."""
    if status == "false_positive":
        return Verdict.FALSE_POSITIVE
    if status == "confirmed":
        return Verdict.ILLEGAL if reportable(category) else Verdict.NOT_ILLEGAL
    return None


def require_reviewable(case: Case) -> None:
    """Refuse review decisions on an investigation case."""
    if case.kind == "investigation":
        raise InvestigationCaseError(
            f"case {case.id} is an investigation: it is worked in the investigation workbench "
            "(/ui/investigations), not decided or reported from the review queue"
        )


def enforcement_events(category: str | None, settings: Settings) -> list[str]:
    """The webhook events a confirmation with ``category`` sends (none if not illegal)."""
    if not reportable(category):
        return []
    return [CONFIRMED_EVENT, *settings.review_confirm_actions]


def hold_until(settings: Settings, *, now: datetime | None = None) -> datetime | None:
    """When held webhooks of a decision made ``now`` are released (None: not held)."""
    if settings.review_undo_seconds <= 0:
        return None
    return (now or utcnow()) + timedelta(seconds=settings.review_undo_seconds)


def queue_enforcement(
    session: Session,
    *,
    case_id: int,
    seq: int,
    category: str | None,
    payload: dict[str, Any],
    settings: Settings,
    held_until: datetime | None,
) -> list[tuple[str, str]]:
    """Queue the enforcement webhooks of a confirmation, held until ``held_until``; returns
    the (event, idempotency key) pairs queued (none without a webhook URL or if the outcome
    is not illegal)."""
    queued = []
    for event in enforcement_events(category, settings):
        key = f"case-{case_id}-{seq}-{event}"[:64]
        found = webhooks.enqueue(
            session,
            event=event,
            payload=payload,
            idempotency_key=key,
            url=settings.webhook_url,
            not_before=held_until,
        )
        if found is not None:
            queued.append((event, key))
    return queued


def describe(effects: dict[str, Any]) -> str:
    """One line for people: what a decision does (or would do), after its status change."""
    parts = []
    if effects.get("category"):
        parts.append(f"category {effects['category']}")
    verdict_ = effects.get("verdict")
    if verdict_ == Verdict.NOT_ILLEGAL:
        parts.append("not illegal: no enforcement, no report")
    webhook_list: Sequence[str] = effects.get("webhooks") or []
    if webhook_list:
        held = effects.get("held_seconds") or 0
        parts.append(
            f"webhooks {', '.join(webhook_list)}" + (f" (held {held:g} s for undo)" if held else "")
        )
    elif effects.get("status") == "confirmed":
        parts.append("no webhooks")
    parts.append("NCMEC report allowed" if effects.get("report_allowed") else "no NCMEC report")
    return "; ".join(parts)


def category_effects(profiles: Sequence[str], settings: Settings) -> list[dict[str, Any]]:
    """For the decision form: per category of the case's profiles, what confirming with it
    triggers (webhooks, report eligibility, held for undo)."""
    rows = []
    for name in profiles:
        if name == "none":
            continue
        for code in get_profile(name).codes:
            category = f"{name}:{code.code}"
            events = enforcement_events(category, settings) if settings.webhook_url else []
            rows.append(
                {
                    "category": category,
                    "label": code.label,
                    "verdict": Verdict.ILLEGAL if code.reportable else Verdict.NOT_ILLEGAL,
                    "webhooks": events,
                    "report_allowed": code.reportable,
                    "held_seconds": settings.review_undo_seconds if events else 0,
                }
            )
    return rows
