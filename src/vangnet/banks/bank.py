"""Banks: create, list, show, count, change, enable or disable, delete.

Functions take a `Session` first and keyword arguments after; the caller owns the
transaction (nothing here commits). Enabling or disabling matching is logged for the
indexes (`vangnet.banks.changes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.banks.changes import lock_change_log, log_changes
from vangnet.banks.validation import (
    UNSET,
    Unset,
    check_name,
    check_profile,
    check_ratio,
    default_thresholds,
    documented_settings,
    merge_policy,
    merge_thresholds,
)
from vangnet.banks.views import BankView
from vangnet.config import Settings
from vangnet.errors import ConflictError, NotFoundError
from vangnet.jsonlimits import check_text
from vangnet.store.models import Bank, BankContent, ChangeOp, ContentSignal, utcnow
from vangnet.store.visibility import published_imports


def bank_by_name(session: Session, name: str) -> Bank:
    bank = session.scalars(select(Bank).where(Bank.name == name)).one_or_none()
    if bank is None:
        raise NotFoundError(f"no bank named {name!r}")
    return bank


def create_bank(
    session: Session,
    *,
    name: str,
    category_profile: str = "none",
    high_confidence: bool = False,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    note: str | None = None,
    matching_enabled_ratio: float = 1.0,
    policy: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> BankView:
    """Create a bank. Names follow HMA's rule: capital letters, digits, underscores.

    Its thresholds start from each signal type's defaults under ``settings`` (the caller's;
    the documented defaults when not given), updated with ``thresholds``."""
    defaults = default_thresholds(settings or documented_settings())
    bank = Bank(
        policy=merge_policy({}, policy or {}),
        name=check_name(name),
        category_profile=check_profile(category_profile),
        high_confidence=bool(high_confidence),
        thresholds=merge_thresholds(defaults, thresholds or {}),
        note=check_text(note, what="note"),
        matching_enabled_ratio=check_ratio(matching_enabled_ratio),
    )
    if session.scalar(select(Bank.id).where(Bank.name == name)) is not None:
        raise ConflictError(f"a bank named {name!r} already exists")
    try:
        with session.begin_nested():
            session.add(bank)
    except IntegrityError:  # created concurrently
        raise ConflictError(f"a bank named {name!r} already exists") from None
    return BankView.of(bank)


def list_banks(session: Session) -> list[BankView]:
    return [BankView.of(b) for b in session.scalars(select(Bank).order_by(Bank.name))]


def get_bank(session: Session, name: str) -> BankView:
    return BankView.of(bank_by_name(session, name))


def bank_stats(session: Session, name: str) -> dict[str, Any]:
    """Counts for listings: ``content``, ``enabled_content``, ``signals``, ``signals_by_type``.

    Rows added by hand and rows of published imports are counted with index seeks of their
    own, so a large unpublished import is skipped, not read."""
    bank_id = bank_by_name(session, name).id
    content = enabled = 0
    by_type: dict[str, int] = {}
    for part in (BankContent.import_id.is_(None), BankContent.import_id.in_(published_imports())):
        count, on = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((BankContent.enabled.is_(True), 1), else_=0)), 0),
            ).where(BankContent.bank_id == bank_id, part)
        ).one()
        content += int(count)
        enabled += int(on)
    for part in (
        ContentSignal.import_id.is_(None),
        ContentSignal.import_id.in_(published_imports()),
    ):
        for _import, signal_type, count in session.execute(
            select(ContentSignal.import_id, ContentSignal.signal_type, func.count())
            .where(ContentSignal.bank_id == bank_id, part)
            # in the order of the covering index (a GROUP BY type alone is planned otherwise)
            .group_by(ContentSignal.import_id, ContentSignal.signal_type)
        ):
            by_type[str(signal_type)] = by_type.get(str(signal_type), 0) + int(count)
    by_type = dict(sorted(by_type.items()))
    return {
        "content": content,
        "enabled_content": enabled,
        "signals": sum(by_type.values()),
        "signals_by_type": by_type,
    }


def _set_ratio(session: Session, bank: Bank, ratio: float) -> None:
    was, now = bank.enabled, ratio > 0
    if was != now:
        lock_change_log(session)
        session.flush()
        log_changes(
            session,
            ChangeOp.ADD if now else ChangeOp.REMOVE,
            ContentSignal.bank_id == bank.id,
            BankContent.enabled.is_(True),
        )
    bank.matching_enabled_ratio = ratio


def update_bank(
    session: Session,
    name: str,
    *,
    new_name: str | None = None,
    category_profile: str | None = None,
    high_confidence: bool | None = None,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    note: str | Unset | None = UNSET,
    matching_enabled_ratio: float | None = None,
    policy: Mapping[str, Any] | None = None,
) -> BankView:
    """Change the given fields. ``thresholds`` are merged per signal type into the current
    ones, ``policy`` keys into the current policy (a key set to None is removed);
    ``note=None`` clears the note."""
    bank = bank_by_name(session, name)
    if new_name is not None and new_name != bank.name:
        check_name(new_name)
        if session.scalar(select(Bank.id).where(Bank.name == new_name)) is not None:
            raise ConflictError(f"a bank named {new_name!r} already exists")
        bank.name = new_name
    if category_profile is not None:
        bank.category_profile = check_profile(category_profile)
    if high_confidence is not None:
        bank.high_confidence = bool(high_confidence)
    if thresholds is not None:
        bank.thresholds = merge_thresholds(bank.thresholds, thresholds)
    if policy is not None:
        bank.policy = merge_policy(bank.policy or {}, policy)
    if not isinstance(note, Unset):
        bank.note = check_text(note, what="note")
    if matching_enabled_ratio is not None:
        _set_ratio(session, bank, check_ratio(matching_enabled_ratio))
    bank.updated_at = utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"a bank named {new_name!r} already exists") from None
    return BankView.of(bank)


def set_bank_enabled(session: Session, name: str, *, enabled: bool) -> BankView:
    """Enable (ratio 1, or keep a ratio already above 0) or disable (ratio 0) matching."""
    bank = bank_by_name(session, name)
    if enabled != bank.enabled:
        _set_ratio(session, bank, 1.0 if enabled else 0.0)
        bank.updated_at = utcnow()
        session.flush()
    return BankView.of(bank)


def delete_bank(session: Session, name: str) -> None:
    """Delete a bank with its content and signals; matchable signals are logged as removed."""
    bank = bank_by_name(session, name)
    lock_change_log(session)
    if bank.enabled:
        log_changes(
            session,
            ChangeOp.REMOVE,
            ContentSignal.bank_id == bank.id,
            BankContent.enabled.is_(True),
        )
    bank_id = bank.id
    session.expunge(bank)
    # Explicit deletes keep this independent of ON DELETE CASCADE being enforced.
    session.execute(delete(ContentSignal).where(ContentSignal.bank_id == bank_id))
    session.execute(delete(BankContent).where(BankContent.bank_id == bank_id))
    session.execute(delete(Bank).where(Bank.id == bank_id))
