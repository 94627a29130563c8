"""Decisions on cases and what follows them: confirm (with a category in the bank's profile;
two reviewers when ``review_two_person`` is on), false positive (optionally disabling the
banked items that caused it), escalate, second opinion; then the signed webhooks of a
confirmation and "add to bank".

Each decision is a `Decision` row, a timeline event and an audit entry with the status
before and after, written in the caller's transaction (no commit here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.banks.bank import get_bank
from vangnet.banks.categories import Category, get_profile
from vangnet.banks.contents import add_content, set_content_enabled
from vangnet.banks.features import FeatureSeal
from vangnet.cases.filing import DECIDED_STATES, iso, record_event
from vangnet.config import Settings
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.jsonlimits import check_text
from vangnet.review import outcomes
from vangnet.review.cases import case_items, case_profiles, get_case
from vangnet.signals.hashes import Hashes
from vangnet.store.models import DECISIONS, Alert, Case, CaseMatch, Decision, utcnow

MAX_NOTE = 4000


@dataclass
class Outcome:
    case_id: int
    decision: str
    status_before: str
    status: str
    category: str | None
    disabled_content: list[int] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    undo_until: str | None = None  # the person who decided may undo it until then
    held_seconds: float = 0  # the webhooks wait this long in the outbox (undo window)
    queued: list[tuple[str, str]] = field(default_factory=list)  # (event, idempotency key)
    acknowledged: list[int] = field(default_factory=list)  # alerts acknowledged by it
    held_until: datetime | None = None  # end of the undo window (None: no undo)

    def to_dict(self) -> dict[str, Any]:
        verdict = outcomes.verdict(self.status, self.category)
        return {
            "case_id": self.case_id,
            "decision": self.decision,
            "status_before": self.status_before,
            "status": self.status,
            "category": self.category,
            "verdict": verdict.value if verdict else None,
            "report_allowed": verdict == outcomes.Verdict.ILLEGAL,
            "disabled_content": self.disabled_content,
            "webhooks": self.webhooks,
            "held_seconds": self.held_seconds,
            "undo_until": self.undo_until,
        }


def resolve_category(session: Session, case: Case, raw: str | None) -> str | None:
    """``raw`` ("vics:1", "1", "uk:A", "A") checked against the profiles of the banks the
    case matched; returns ``profile:code``. A case whose banks do not categorise takes none."""
    profiles = [p for p in case_profiles(session, case.id) if p != "none"]
    if not raw or not raw.strip():
        if profiles:
            raise ValidationError(
                "confirming needs a category in the bank's profile: "
                + "; ".join(
                    f"{p}: {', '.join(c.code for c in get_profile(p).codes)}" for p in profiles
                )
            )
        return None
    raw = raw.strip()
    profile_name, sep, code = raw.partition(":")
    if not sep:
        profile_name, code = "", raw
    candidates = [profile_name] if profile_name else (profiles or ["vics"])
    problems = []
    for name in candidates:
        if profiles and name not in profiles:
            problems.append(f"the case's banks use {', '.join(profiles)}, not {name}")
            continue
        try:
            found = Category.of(name, code)
            return f"{found.profile}:{found.code}"
        except ValidationError as exc:
            problems.append(exc.message)
    raise ValidationError("; ".join(problems) or f"unknown category {raw!r}")


def decide(
    session: Session,
    case_id: int,
    *,
    decision: str,
    actor: str,
    category: str | None = None,
    note: str | None = None,
    disable_content: bool = False,
    settings: Settings,
    person: str | None = None,
) -> Outcome:
    """``person`` names who decides as a person (``user:<id>``: the same for their web
    sign-in and their API keys); the two-person rule counts persons. Default: ``actor``."""
    cfg = settings
    person = person or actor
    if decision not in DECISIONS:
        raise ValidationError(f"unknown decision {decision!r} (known: {', '.join(DECISIONS)})")
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationError(f"a note is at most {MAX_NOTE} characters")
    check_text(note, what="the note", max_chars=MAX_NOTE)  # no NUL (PostgreSQL cannot store it)
    check_text(category, what="the category", max_chars=64)
    note = (note or "").strip() or None
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    outcomes.require_reviewable(case)
    before = {"status": case.status, "category": case.category, "pending_by": case.pending_by}
    restore = {  # what an undo puts back (`vangnet.review.undo`)
        **before,
        "pending_category": case.pending_category,
        "decided_at": iso(case.decided_at),
    }
    if case.status in DECIDED_STATES and decision in ("confirm", "false_positive"):
        raise ConflictError(
            f"case {case.id} is already {case.status.replace('_', ' ')}; it reopens when a new "
            "signal arrives"
        )
    outcome = Outcome(case.id, decision, case.status, case.status, case.category)
    outcome.held_until = outcomes.hold_until(cfg)
    details: dict[str, Any] = {}
    chosen: str | None = None
    details["person"] = person
    if decision == "confirm":
        chosen = resolve_category(session, case, category)
        if cfg.review_two_person and case.status != "pending_confirmation":
            case.status = "pending_confirmation"
            case.pending_by, case.pending_category = actor, chosen
            case.pending_person = person
            details["two_person"] = "first"
        elif cfg.review_two_person:
            if (case.pending_person or case.pending_by) in (person, actor):
                raise ConflictError(
                    "two-person rule: a second reviewer must confirm this case, another person "
                    f"(first confirmed by {case.pending_by}; a web sign-in and that person's "
                    "API keys are one person)"
                )
            if case.pending_category != chosen:
                raise ConflictError(
                    f"the first reviewer confirmed category {case.pending_category}, you chose "
                    f"{chosen}: decide together, or escalate"
                )
            details["two_person"] = f"second (first: {case.pending_by})"
            _confirm(session, case, chosen, actor, cfg, outcome)
        else:
            _confirm(session, case, chosen, actor, cfg, outcome)
    elif decision == "false_positive":
        case.status = "false_positive"
        case.category = None
        case.pending_by = case.pending_category = case.pending_person = None
        case.decided_at = utcnow()
        if disable_content:
            outcome.disabled_content = _disable_matched(session, case, actor, note)
            details["disabled_content"] = outcome.disabled_content
        outcome.acknowledged = _acknowledge_alerts(session, case, actor)
    elif decision == "escalate":
        case.status = "escalated"
    else:
        case.status = "second_opinion"
    if outcome.held_until is not None:
        outcome.undo_until = iso(outcome.held_until)
        details["undo"] = {
            "before": restore,
            "until": outcome.undo_until,
            "alerts": outcome.acknowledged,
            "disabled_content": outcome.disabled_content,
            "webhooks": [key for _event, key in outcome.queued],
        }
    session.add(
        Decision(
            case_id=case.id,
            actor=actor,
            decision=decision,
            category=chosen,
            note=note,
            details=details,
        )
    )
    words = decision.replace("_", " ")
    record_event(
        session,
        case,
        "decision",
        f"{actor}: {words}"
        + (f" ({chosen})" if chosen else "")
        + (" — waiting for a second reviewer" if case.status == "pending_confirmation" else "")
        + (f": {note}" if note else ""),
        actor=actor,
        details=details,
    )
    outcome.status, outcome.category = case.status, case.category
    session.flush()
    chain.record(
        session,
        actor=actor,
        action=f"case.{decision}",
        target=f"case:{case.id}",
        before=before,
        after={"status": case.status, "category": case.category, "pending_by": case.pending_by},
        details={"note": note, **details},
    )
    return outcome


def _confirm(
    session: Session, case: Case, category: str | None, actor: str, cfg: Settings, out: Outcome
) -> None:
    case.status = "confirmed"
    case.category = category
    case.pending_by = case.pending_category = case.pending_person = None
    case.decided_at = utcnow()
    out.acknowledged = _acknowledge_alerts(session, case, actor)
    if not outcomes.reportable(category):
        record_event(
            session,
            case,
            "action",
            f"{category} is not illegal material: no enforcement webhooks, no NCMEC report",
            actor=actor,
        )
        return
    payload = {
        "case": {
            "id": case.id,
            "key": case.key,
            "kind": case.kind,
            "title": case.title,
            "category": category,
            "decided_at": iso(case.decided_at),
            "decided_by": actor,
        },
        "subject": case.subject or {},
        "items": [
            {"id": i.id, "sha256": i.sha256, "md5": i.md5, "kind": i.kind}
            for i in case_items(session, case.id)
        ],
    }
    seq = len(list(session.scalars(select(Decision.id).where(Decision.case_id == case.id))))
    held = out.held_until
    out.queued = outcomes.queue_enforcement(
        session,
        case_id=case.id,
        seq=seq,
        category=category,
        payload=payload,
        settings=cfg,
        held_until=held,
    )
    out.webhooks = [event for event, _key in out.queued]
    if out.webhooks:
        out.held_seconds = cfg.review_undo_seconds if held is not None else 0
        record_event(
            session,
            case,
            "action",
            f"webhooks queued: {', '.join(out.webhooks)}"
            + (f" (held until {iso(held)} for undo)" if held is not None else ""),
            actor=actor,
        )


def _acknowledge_alerts(session: Session, case: Case, actor: str) -> list[int]:
    acknowledged = []
    for alert in session.scalars(
        select(Alert).where(Alert.case_id == case.id, Alert.status == "open")
    ):
        alert.status = "acknowledged"
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = actor
        acknowledged.append(alert.id)
    return acknowledged


def _disable_matched(session: Session, case: Case, actor: str, note: str | None) -> list[int]:
    ids = sorted(
        set(session.scalars(select(CaseMatch.content_id).where(CaseMatch.case_id == case.id)))
    )
    disabled = []
    for content_id in ids:
        try:
            view = set_content_enabled(session, content_id, enabled=False)
        except NotFoundError:
            continue
        disabled.append(content_id)
        chain.record(
            session,
            actor=actor,
            action="content.disable",
            target=f"content:{content_id}",
            before={"enabled": True},
            after={"enabled": view.enabled},
            details={"case": case.id, "reason": "false positive", "note": note},
        )
    if disabled:
        record_event(
            session,
            case,
            "action",
            f"disabled banked items {', '.join(map(str, disabled))} (false positive)",
            actor=actor,
        )
    return disabled


def add_to_bank(
    session: Session,
    case_id: int,
    *,
    bank: str,
    actor: str,
    read_item: Callable[[int], bytes],
    hash_item: Callable[[bytes], Hashes],
    seal: FeatureSeal,
    items: Sequence[int] | None = None,
) -> list[int]:
    """Bank the media of a confirmed case so it is matched from then on; returns the content
    ids. ``read_item`` decrypts an item (and logs custody), ``hash_item`` hashes its bytes
    for a bank, ``seal`` seals the local features kept of each picture. Caller's
    transaction."""
    case = get_case(session, case_id)
    if case.status != "confirmed":
        raise ConflictError(f"case {case.id} is {case.status}: only confirmed material is banked")
    bank_view = get_bank(session, bank)
    category = None
    if case.category:
        profile, _, code = case.category.partition(":")
        if profile == bank_view.category_profile:
            category = Category(profile, code)
    chosen = [i for i in case_items(session, case.id) if items is None or i.id in set(items)]
    if not chosen:
        raise ValidationError(f"case {case.id} holds no media to bank")
    added = []
    for item in chosen:
        hashed = hash_item(read_item(item.id))
        content_id = add_content(
            session,
            bank=bank,
            signals=hashed.signal_values(),
            features=hashed.kept_features(),
            seal=seal,
            category=category,
            source=f"vangnet case {case.id}",
            note=f"confirmed in case {case.id} ({case.title})",
            external_id=f"case-{case.id}-item-{item.id}",
        )
        added.append(content_id)
    record_event(
        session,
        case,
        "action",
        f"added {len(added)} items to bank {bank}: content {', '.join(map(str, added))}",
        actor=actor,
    )
    chain.record(
        session,
        actor=actor,
        action="case.add_to_bank",
        target=f"case:{case.id}",
        after={"bank": bank, "content_ids": added},
    )
    return added


def preview(
    session: Session,
    case_id: int,
    *,
    decision: str,
    actor: str,
    category: str | None = None,
    note: str | None = None,
    disable_content: bool = False,
    settings: Settings,
) -> dict[str, Any]:
    """What `decide` would do, without doing it: the decision runs
    in a savepoint that is rolled back, so the preview is the real outcome (status, verdict,
    webhooks, report eligibility, undo window). Validation errors are raised as by ``decide``.
    """
    cfg = settings
    savepoint = session.begin_nested()
    try:
        outcome = decide(
            session,
            case_id,
            decision=decision,
            actor=actor,
            category=category,
            note=note,
            disable_content=disable_content,
            settings=cfg,
        )
    finally:
        savepoint.rollback()
    out = outcome.to_dict()
    out["dry_run"] = True
    out["undo_until"] = None  # nothing was decided
    out["held_seconds"] = cfg.review_undo_seconds if outcome.webhooks else 0
    return out
