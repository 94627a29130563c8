"""Banks service: banks, their content and signals, bulk import/export, the index change log.

Functions take a `Session` first and keyword arguments after; the caller owns the
transaction (nothing here commits). Every change to which signals are matchable appends
rows to ``index_changes`` in the same transaction, so the log and the data never disagree.

Matchable means: the signal's content is enabled and its bank's ``matching_enabled_ratio``
is above zero. The log records transitions of that set only (``add`` when a signal becomes
matchable, ``remove`` when it stops being matchable).
"""

from __future__ import annotations

import enum
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ColumnElement,
    Engine,
    String,
    Table,
    TypeDecorator,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.banks.categories import Category, get_profile
from vangnet.banks.formats.base import BankRecord
from vangnet.config import get_settings
from vangnet.errors import ConflictError, NotFoundError, ValidationError, VangnetError
from vangnet.jsonlimits import check_text
from vangnet.signals.registry import get_signal_type, signal_types
from vangnet.store.db import is_postgresql, writer
from vangnet.store.models import (
    Bank,
    BankContent,
    BankImport,
    Base,
    ChangeOp,
    ContentSignal,
    ImportState,
    IndexChangeEntry,
    UTCDateTime,
    signal_key,
    utcnow,
)
from vangnet.store.visibility import published_imports, unpublished, visible

BANK_NAME = re.compile(r"[A-Z0-9_]{1,255}")
_IN_CHUNK = 1000  # values per IN (...) list

# Allowed per-signal-type threshold settings and their ranges.
_THRESHOLD_KEYS: dict[str, tuple[type, float, float]] = {
    "threshold": (int, 0, 256),
    "quality_floor": (int, 0, 100),
    "dihedral": (bool, 0, 1),
    "query_match_pct": (float, 0.0, 100.0),
    "index_match_pct": (float, 0.0, 100.0),
}


class Unset(enum.Enum):
    """Marks an argument that was not given (distinct from None, which clears a field)."""

    UNSET = enum.auto()


UNSET = Unset.UNSET
_T = TypeVar("_T")


# -- views ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BankView:
    id: int
    name: str
    matching_enabled_ratio: float
    category_profile: str
    high_confidence: bool
    thresholds: dict[str, dict[str, Any]]
    note: str | None
    created_at: datetime
    updated_at: datetime
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.matching_enabled_ratio > 0

    @classmethod
    def of(cls, bank: Bank) -> BankView:
        return cls(
            id=bank.id,
            name=bank.name,
            matching_enabled_ratio=bank.matching_enabled_ratio,
            category_profile=bank.category_profile,
            high_confidence=bank.high_confidence,
            thresholds={k: dict(v) for k, v in bank.thresholds.items()},
            note=bank.note,
            created_at=bank.created_at,
            updated_at=bank.updated_at,
            policy=dict(bank.policy or {}),
        )


@dataclass(frozen=True, slots=True)
class ContentView:
    id: int
    bank_id: int
    bank_name: str
    category: Category | None
    source: str | None
    series: str | None
    note: str | None
    external_id: str | None
    enabled: bool
    signals: tuple[tuple[str, str], ...]  # (signal type, value), in insertion order
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int  # signals added
    skipped_existing: int  # records whose value the bank already held (or repeated)
    total: int  # records read


@dataclass(frozen=True, slots=True)
class IndexChange:
    seq: int
    op: ChangeOp
    signal_type: str
    signal_id: int
    bank_id: int
    value: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SignalInfo:
    signal_id: int
    signal_type: str
    value: str
    content_id: int
    bank_id: int
    bank_name: str
    category: Category | None
    enabled: bool  # matchable now: content enabled and bank enabled


class CurrentSignal(NamedTuple):
    signal_id: int
    value: str
    bank_id: int


# -- helpers -------------------------------------------------------------------------------


def _category(profile: str, code: str | None) -> Category | None:
    return None if code is None else Category(profile, code)


def _chunks(items: Sequence[_T], size: int = _IN_CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _validator(signal_type: str) -> Callable[[str], str]:
    return get_signal_type(signal_type).validate


def _lock_change_log(session: Session) -> None:
    """Serialise writers of the change log so ``seq`` order is commit order.

    Readers tail the log by ``seq``; on PostgreSQL a transaction that took a lower sequence
    value could otherwise commit after a reader has moved past it. SQLite has one writer.
    """
    if is_postgresql(session):
        session.execute(text("LOCK TABLE index_changes IN EXCLUSIVE MODE"))


def _log(session: Session, op: ChangeOp, *where: ColumnElement[bool]) -> None:
    """Append one ``op`` row per signal selected by ``where`` (joined to its content)."""
    rows = (
        select(
            ContentSignal.signal_type,
            ContentSignal.id,
            ContentSignal.bank_id,
            literal(op.value, String()),
            ContentSignal.value,
            literal(utcnow(), UTCDateTime()),
        )
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .where(visible(ContentSignal.import_id), *where)
        .order_by(ContentSignal.id)
    )
    columns = ["signal_type", "signal_id", "bank_id", "op", "value", "created_at"]
    session.execute(insert(IndexChangeEntry).from_select(columns, rows))


def _bank_row(session: Session, name: str) -> Bank:
    bank = session.scalars(select(Bank).where(Bank.name == name)).one_or_none()
    if bank is None:
        raise NotFoundError(f"no bank named {name!r}")
    return bank


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not BANK_NAME.fullmatch(name):
        raise ValidationError(
            f"invalid bank name {name!r}: use 1-255 capital letters, digits and underscores"
        )
    return name


def _check_profile(profile: str) -> str:
    return get_profile(profile).name


def _check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ValidationError("matching_enabled_ratio must be a number from 0 to 1")
    return float(ratio)


def default_thresholds() -> dict[str, dict[str, Any]]:
    """Thresholds a new bank starts with: each signal type's `bank_defaults` from settings."""
    s = get_settings()
    return {name: rules for name, cls in signal_types().items() if (rules := cls.bank_defaults(s))}


def _merge_thresholds(
    base: Mapping[str, Mapping[str, Any]], given: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``base`` updated per signal type with the validated settings in ``given``."""
    if not isinstance(given, Mapping):
        raise ValidationError("thresholds must map signal types to settings")
    merged = {name: dict(settings) for name, settings in base.items()}
    known = signal_types()
    for name, settings in given.items():
        if name not in known:
            raise ValidationError(f"thresholds name unknown signal type {name!r}")
        if not isinstance(settings, Mapping):
            raise ValidationError(f"thresholds for {name} must be an object")
        target = merged.setdefault(name, {})
        for key, value in settings.items():
            if key not in _THRESHOLD_KEYS:
                allowed = ", ".join(_THRESHOLD_KEYS)
                raise ValidationError(f"unknown threshold setting {key!r} (allowed: {allowed})")
            kind, low, high = _THRESHOLD_KEYS[key]
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValidationError(f"{name}.{key} must be true or false")
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind is int and value != int(value))
                or not low <= value <= high
            ):
                raise ValidationError(f"{name}.{key} must be a {kind.__name__} in {low}..{high}")
            target[key] = kind(value)
    return merged


#: Actions a bank's live alert may ask the platform for (webhook events besides alert.created).
ACTIONS = ("stream.terminate", "account.suspend", "content.remove")


def _merge_policy(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with the validated policy keys in ``given`` (None removes a key):
    ``live_min_frames`` and ``live_window`` (ints 1-1000), ``actions`` (a list of `ACTIONS`)."""
    if not isinstance(given, Mapping):
        raise ValidationError("policy must be an object")
    merged = dict(base)
    for key, value in given.items():
        if value is None:
            merged.pop(key, None)
        elif key in ("live_min_frames", "live_window"):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
                raise ValidationError(f"policy.{key} must be an integer from 1 to 1000")
            merged[key] = value
        elif key == "actions":
            if not isinstance(value, list | tuple) or any(a not in ACTIONS for a in value):
                raise ValidationError(f"policy.actions must be a list of: {', '.join(ACTIONS)}")
            merged[key] = list(dict.fromkeys(value))
        else:
            allowed = "live_min_frames, live_window, actions"
            raise ValidationError(f"unknown policy setting {key!r} (allowed: {allowed})")
    if merged.get("live_min_frames", 1) > merged.get("live_window", 1000):
        raise ValidationError("policy.live_min_frames cannot exceed policy.live_window")
    return merged


def _pairs(signals: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Validated, canonical, de-duplicated (signal type, value) pairs."""
    items = signals.items() if isinstance(signals, Mapping) else signals
    out: dict[tuple[str, str], None] = {}
    for signal_type, value in items:
        out[(signal_type, _validator(signal_type)(value))] = None
    if not out:
        raise ValidationError("content needs at least one signal")
    return list(out)


# -- banks ---------------------------------------------------------------------------------


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
) -> BankView:
    """Create a bank. Names follow HMA's rule: capital letters, digits, underscores."""
    bank = Bank(
        policy=_merge_policy({}, policy or {}),
        name=_check_name(name),
        category_profile=_check_profile(category_profile),
        high_confidence=bool(high_confidence),
        thresholds=_merge_thresholds(default_thresholds(), thresholds or {}),
        note=check_text(note, what="note"),
        matching_enabled_ratio=_check_ratio(matching_enabled_ratio),
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
    return BankView.of(_bank_row(session, name))


def bank_stats(session: Session, name: str) -> dict[str, Any]:
    """Counts for listings: ``content``, ``enabled_content``, ``signals``, ``signals_by_type``.

    Rows added by hand and rows of published imports are counted with index seeks of their
    own, so a large unpublished import is skipped, not read."""
    bank_id = _bank_row(session, name).id
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
        _lock_change_log(session)
        session.flush()
        _log(
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
    bank = _bank_row(session, name)
    if new_name is not None and new_name != bank.name:
        _check_name(new_name)
        if session.scalar(select(Bank.id).where(Bank.name == new_name)) is not None:
            raise ConflictError(f"a bank named {new_name!r} already exists")
        bank.name = new_name
    if category_profile is not None:
        bank.category_profile = _check_profile(category_profile)
    if high_confidence is not None:
        bank.high_confidence = bool(high_confidence)
    if thresholds is not None:
        bank.thresholds = _merge_thresholds(bank.thresholds, thresholds)
    if policy is not None:
        bank.policy = _merge_policy(bank.policy or {}, policy)
    if not isinstance(note, Unset):
        bank.note = check_text(note, what="note")
    if matching_enabled_ratio is not None:
        _set_ratio(session, bank, _check_ratio(matching_enabled_ratio))
    bank.updated_at = utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"a bank named {new_name!r} already exists") from None
    return BankView.of(bank)


def set_bank_enabled(session: Session, name: str, *, enabled: bool) -> BankView:
    """Enable (ratio 1, or keep a ratio already above 0) or disable (ratio 0) matching."""
    bank = _bank_row(session, name)
    if enabled != bank.enabled:
        _set_ratio(session, bank, 1.0 if enabled else 0.0)
        bank.updated_at = utcnow()
        session.flush()
    return BankView.of(bank)


def delete_bank(session: Session, name: str) -> None:
    """Delete a bank with its content and signals; matchable signals are logged as removed."""
    bank = _bank_row(session, name)
    _lock_change_log(session)
    if bank.enabled:
        _log(
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


# -- content -------------------------------------------------------------------------------


def _existing_content(
    session: Session, bank_id: int, pairs: Sequence[tuple[str, str]]
) -> int | None:
    by_type: dict[str, list[str]] = {}
    for signal_type, value in pairs:
        by_type.setdefault(signal_type, []).append(signal_key(value))
    for signal_type, keys in by_type.items():
        found = session.scalar(
            select(func.min(ContentSignal.content_id)).where(
                ContentSignal.bank_id == bank_id,
                ContentSignal.signal_type == signal_type,
                ContentSignal.value_key.in_(keys),
                visible(ContentSignal.import_id),
            )
        )
        if found is not None:
            return int(found)
    return None


def add_content(
    session: Session,
    *,
    bank: str,
    signals: Mapping[str, str] | Iterable[tuple[str, str]],
    category: Category | None = None,
    source: str | None = None,
    series: str | None = None,
    note: str | None = None,
    external_id: str | None = None,
    enabled: bool = True,
) -> int:
    """Add one content item with its signals; return its id.

    Idempotent: when the bank already holds any of the signals, nothing is added and the
    existing content's id is returned. Raises `InvalidHashError` for a malformed value.
    """
    pairs = _pairs(signals)
    for what, given in (("source", source), ("series", series), ("note", note)):
        check_text(given, what=what)
    check_text(external_id, what="external_id", max_chars=255)
    _lock_change_log(session)
    row = _bank_row(session, bank)
    for attempt in (1, 2):
        for signal_type, value in pairs:  # a value an import is still writing: this add wins
            _take_pending(session, row.id, signal_type, [signal_key(value)])
        existing = _existing_content(session, row.id, pairs)
        if existing is not None:
            return existing
        content = BankContent(
            bank_id=row.id,
            category_profile=category.profile if category else row.category_profile,
            category_code=category.code if category else None,
            source=source,
            series=series,
            note=note,
            external_id=external_id,
            enabled=bool(enabled),
        )
        try:
            with session.begin_nested():
                session.add(content)
                session.flush()
                session.add_all(
                    ContentSignal(
                        content_id=content.id,
                        bank_id=row.id,
                        signal_type=signal_type,
                        value=value,
                        value_key=signal_key(value),
                    )
                    for signal_type, value in pairs
                )
                session.flush()
            break
        except IntegrityError:  # PostgreSQL: an import's chunk wrote the value meanwhile
            if attempt == 2:
                raise ConflictError("the value is being written by another writer") from None
    if row.enabled and content.enabled:
        _log(session, ChangeOp.ADD, ContentSignal.content_id == content.id)
    return content.id


def _content_row(session: Session, content_id: int, bank: str | None) -> BankContent:
    content = session.scalars(
        select(BankContent).where(BankContent.id == content_id, visible(BankContent.import_id))
    ).one_or_none()
    if content is None:
        raise NotFoundError(f"no content with id {content_id}")
    if bank is not None and _bank_row(session, bank).id != content.bank_id:
        raise NotFoundError(f"bank {bank!r} has no content with id {content_id}")
    return content


def _content_views(session: Session, contents: Sequence[BankContent]) -> list[ContentView]:
    if not contents:
        return []
    ids = [c.id for c in contents]
    signals: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(ContentSignal.content_id, ContentSignal.signal_type, ContentSignal.value)
            .where(ContentSignal.content_id.in_(chunk), visible(ContentSignal.import_id))
            .order_by(ContentSignal.id)
        )
        for content_id, signal_type, value in rows:
            signals[content_id].append((signal_type, value))
    bank_ids = {c.bank_id for c in contents}
    names: dict[int, str] = {
        bank_id: name
        for bank_id, name in session.execute(
            select(Bank.id, Bank.name).where(Bank.id.in_(bank_ids))
        )
    }
    return [
        ContentView(
            id=c.id,
            bank_id=c.bank_id,
            bank_name=names[c.bank_id],
            category=_category(c.category_profile, c.category_code),
            source=c.source,
            series=c.series,
            note=c.note,
            external_id=c.external_id,
            enabled=c.enabled,
            signals=tuple(signals[c.id]),
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in contents
    ]


def get_content(session: Session, content_id: int, *, bank: str | None = None) -> ContentView:
    return _content_views(session, [_content_row(session, content_id, bank)])[0]


def set_content_enabled(
    session: Session, content_id: int, *, enabled: bool, bank: str | None = None
) -> ContentView:
    _lock_change_log(session)
    content = _content_row(session, content_id, bank)
    if content.enabled != enabled:
        bank_row = session.get_one(Bank, content.bank_id)
        if bank_row.enabled:
            _log(
                session,
                ChangeOp.ADD if enabled else ChangeOp.REMOVE,
                ContentSignal.content_id == content.id,
            )
        content.enabled = enabled
        content.updated_at = utcnow()
        session.flush()
    return get_content(session, content_id)


def delete_content(session: Session, content_id: int, *, bank: str | None = None) -> None:
    _lock_change_log(session)
    content = _content_row(session, content_id, bank)
    if content.enabled and session.get_one(Bank, content.bank_id).enabled:
        _log(session, ChangeOp.REMOVE, ContentSignal.content_id == content.id)
    session.execute(delete(ContentSignal).where(ContentSignal.content_id == content.id))
    session.delete(content)
    session.flush()


def replace_signals(
    session: Session,
    content_id: int,
    *,
    signals: Mapping[str, str],
    types: Iterable[str],
    bank: str | None = None,
) -> list[str]:
    """Replace the content's signals of ``types`` by ``signals`` (whose types must be among
    them): old values are removed, new ones added, both logged for the indexes. A value the
    bank already holds for other content is left out (a bank holds a value once). Returns
    the signal types stored."""
    replaced = set(types)
    pairs = _pairs(signals)
    stray = sorted({t for t, _ in pairs} - replaced)
    if stray:
        raise ValidationError(f"signals of types not being replaced: {', '.join(stray)}")
    _lock_change_log(session)
    content = _content_row(session, content_id, bank)
    matchable = content.enabled and session.get_one(Bank, content.bank_id).enabled
    mine = ContentSignal.content_id == content.id, ContentSignal.signal_type.in_(replaced)
    if matchable:
        _log(session, ChangeOp.REMOVE, *mine)
    session.execute(delete(ContentSignal).where(*mine))
    stored = []
    for signal_type, value in pairs:
        if _held_keys(session, content.bank_id, signal_type, [signal_key(value)]):
            continue
        session.add(
            ContentSignal(
                content_id=content.id,
                bank_id=content.bank_id,
                signal_type=signal_type,
                value=value,
                value_key=signal_key(value),
            )
        )
        stored.append(signal_type)
    session.flush()
    if matchable and stored:
        _log(session, ChangeOp.ADD, *mine)
    content.updated_at = utcnow()
    session.flush()
    return stored


def list_content(
    session: Session, *, bank: str, after_id: int = 0, limit: int = 100
) -> list[ContentView]:
    """One page of a bank's content, by id; pass the last id seen as ``after_id``."""
    if limit < 1:
        raise ValidationError("limit must be at least 1")
    bank_id = _bank_row(session, bank).id
    contents = session.scalars(
        select(BankContent)
        .where(
            BankContent.bank_id == bank_id,
            BankContent.id > after_id,
            visible(BankContent.import_id),
        )
        .order_by(BankContent.id)
        .limit(limit)
    ).all()
    return _content_views(session, contents)


def find_content_by_signal(
    session: Session, signal_type: str, value: str, *, bank: str | None = None
) -> list[ContentView]:
    """Content holding exactly this value (in one bank or all), by id."""
    canonical = _validator(signal_type)(value)
    stmt = select(ContentSignal.content_id).where(
        ContentSignal.signal_type == signal_type,
        ContentSignal.value_key == signal_key(canonical),
        visible(ContentSignal.import_id),
    )
    if bank is not None:
        stmt = stmt.where(ContentSignal.bank_id == _bank_row(session, bank).id)
    ids = list(session.scalars(stmt))
    contents = session.scalars(
        select(BankContent).where(BankContent.id.in_(ids)).order_by(BankContent.id)
    ).all()
    return _content_views(session, contents)


# -- bulk import / export ------------------------------------------------------------------


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _bulk_insert(
    session: Session, table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """Insert ``rows`` without a round trip per row.

    PostgreSQL: one ``INSERT ... SELECT unnest(array), ...`` (one parameter per column, so
    psycopg never parses a huge statement). SQLite: the driver's executemany loop in C.
    """
    if not rows:
        return
    columns = list(rows[0])
    if is_postgresql(session):
        arrays = []
        for i, name in enumerate(columns):
            kind = table.c[name].type
            if isinstance(kind, TypeDecorator):
                kind = kind.impl_instance
            values = [row[name] for row in rows]
            arrays.append(func.unnest(bindparam(f"a{i}", values, type_=ARRAY(kind))))
        pg_stmt = pg_insert(table).from_select(columns, select(*arrays))
        if ignore_conflicts:
            pg_stmt = pg_stmt.on_conflict_do_nothing()
        session.execute(pg_stmt)
        return
    lite_stmt = sqlite_insert(table)
    if ignore_conflicts:
        lite_stmt = lite_stmt.on_conflict_do_nothing()
    session.execute(lite_stmt, rows)


def _allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new ids for ``table.id``, so bulk inserts need no RETURNING.

    Writers are serialised (`_lock_change_log` on PostgreSQL; SQLite has one writer), so the
    ids are also free of concurrent use.
    """
    if is_postgresql(session):
        sequence = func.pg_get_serial_sequence(table.name, "id")
        stmt = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        return sorted(int(i) for i in session.scalars(stmt))
    # SQLite: continue from the largest id, as SQLite itself does for INTEGER PRIMARY KEY.
    start = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    return list(range(start, start + count))


def _import_batch(session: Session, bank: Bank, batch: list[BankRecord]) -> int:
    """Insert the new records of one batch; return how many signals were added."""
    validators: dict[str, Callable[[str], str]] = {}
    fresh: dict[tuple[str, str], tuple[BankRecord, str]] = {}  # (type, key) -> record, value
    for record in batch:
        check = validators.get(record.signal_type)
        if check is None:
            check = validators[record.signal_type] = _validator(record.signal_type)
        value = check(record.value)
        fresh.setdefault((record.signal_type, signal_key(value)), (record, value))

    by_type: dict[str, list[str]] = {}
    for signal_type, key in fresh:
        by_type.setdefault(signal_type, []).append(key)
    for signal_type, keys in by_type.items():
        _take_pending(session, bank.id, signal_type, keys)  # this transaction publishes first
        for key in _held_keys(session, bank.id, signal_type, keys):
            del fresh[(signal_type, key)]
    if not fresh:
        return 0

    # Records sharing an external id are one content item (e.g. a VICS media item with its
    # MD5, SHA-1 and PDQ); reuse the bank's existing item with that id if there is one.
    content_of: dict[str, tuple[int, bool]] = {}  # external id -> (content id, enabled)
    external = sorted({r.external_id for r, _ in fresh.values() if r.external_id is not None})
    for chunk in _chunks(external):
        rows = session.execute(
            select(BankContent.external_id, BankContent.id, BankContent.enabled)
            .where(
                BankContent.bank_id == bank.id,
                BankContent.external_id.in_(chunk),
                visible(BankContent.import_id),
            )
            .order_by(BankContent.id.desc())
        )
        for external_id, content_id, enabled in rows:
            content_of[str(external_id)] = (content_id, enabled)

    now = utcnow()
    new_contents: list[dict[str, Any]] = []
    owners: list[BankRecord] = []
    pending: set[str] = set()
    for record, _value in fresh.values():
        if record.external_id is not None:
            if record.external_id in content_of or record.external_id in pending:
                continue
            pending.add(record.external_id)
        owners.append(record)
        category = record.category
        new_contents.append(
            {
                "bank_id": bank.id,
                "category_profile": category.profile if category else bank.category_profile,
                "category_code": category.code if category else None,
                "source": record.source,
                "series": record.series,
                "note": record.note,
                "external_id": record.external_id,
                "enabled": bool(record.enabled),
                "created_at": now,
                "updated_at": now,
            }
        )
    content_for_record: dict[int, tuple[int, bool]] = {}
    if new_contents:
        ids = _allocate_ids(session, _table("bank_content"), len(new_contents))
        for row, content_id in zip(new_contents, ids, strict=True):
            row["id"] = content_id
        _bulk_insert(session, _table("bank_content"), new_contents)
        for record, content_id in zip(owners, ids, strict=True):
            content_for_record[id(record)] = (content_id, bool(record.enabled))
            if record.external_id is not None:
                content_of[record.external_id] = (content_id, bool(record.enabled))

    signal_ids = _allocate_ids(session, _table("content_signals"), len(fresh))
    signal_rows: list[dict[str, Any]] = []
    for signal_id, ((signal_type, key), (record, value)) in zip(
        signal_ids, fresh.items(), strict=True
    ):
        if record.external_id is not None:
            content_id, _enabled = content_of[record.external_id]
        else:
            content_id, _enabled = content_for_record[id(record)]
        signal_rows.append(
            {
                "id": signal_id,
                "content_id": content_id,
                "bank_id": bank.id,
                "signal_type": signal_type,
                "value": value,
                "value_key": key,
            }
        )
    _bulk_insert(session, _table("content_signals"), signal_rows, ignore_conflicts=True)
    in_batch = ContentSignal.id.between(signal_ids[0], signal_ids[-1])
    added = session.scalar(select(func.count()).where(ContentSignal.bank_id == bank.id, in_batch))
    if bank.enabled:
        _log(
            session,
            ChangeOp.ADD,
            ContentSignal.bank_id == bank.id,
            in_batch,
            BankContent.enabled.is_(True),
        )
    return int(added or 0)


def import_records(
    session: Session, *, bank: str, records: Iterable[BankRecord], batch_size: int = 5000
) -> ImportResult:
    """Add ``records`` to ``bank`` in batches, within the caller's transaction.

    Values the bank already holds are skipped, so importing a list twice adds nothing. If
    ``records`` raises (e.g. `ImportFormatError`), the exception propagates and the caller's
    rollback discards everything this call wrote.
    """
    if batch_size < 1:
        raise ValidationError("batch_size must be at least 1")
    _lock_change_log(session)
    row = _bank_row(session, bank)
    total = added = 0
    for batch in _batches(records, batch_size):
        total += len(batch)
        added += _import_batch(session, row, batch)
    return ImportResult(added=added, skipped_existing=total - added, total=total)


#: An import that has written nothing for this long has stopped (killed); the next import
#: removes its rows.
STALE_STAGING = timedelta(minutes=10)


def _stage_rows(
    key: str, bank_id: int, batch: list[BankRecord], now: datetime
) -> list[dict[str, Any]]:
    """Validated, canonical rows of one batch of records (no database access)."""
    validators: dict[str, Callable[[str], str]] = {}
    rows = []
    for record in batch:
        check = validators.get(record.signal_type)
        if check is None:
            check = validators[record.signal_type] = _validator(record.signal_type)
        value = check(record.value)
        for what, given in (
            ("source", record.source),
            ("series", record.series),
            ("note", record.note),
        ):
            check_text(given, what=what)
        check_text(record.external_id, what="external_id", max_chars=255)
        category = record.category
        rows.append(
            {
                "import_key": key,
                "bank_id": bank_id,
                "signal_type": record.signal_type,
                "value": value,
                "value_key": signal_key(value),
                "external_id": record.external_id,
                "category_profile": category.profile if category else None,
                "category_code": category.code if category else None,
                "source": record.source,
                "series": record.series,
                "note": record.note,
                "enabled": bool(record.enabled),
                "owner": record.external_id is None,  # its own content item
                "content_id": None,
                "staged_at": now,
            }
        )
    return rows


@dataclass(slots=True)
class _Import:
    """One bulk write in progress: its id marks every row it writes."""

    id: int
    key: str
    bank_id: int
    group: bool  # records sharing an external id are one item
    placed: int = 0  # signals written by its chunks
    signal_types: set[str] = field(default_factory=set)


def _begin_import(engine: Engine, bank_id: int, *, group: bool) -> _Import:
    key = uuid.uuid4().hex
    with Session(writer(engine)) as session, session.begin():
        row = BankImport(key=key, bank_id=bank_id, state=ImportState.STAGING.value)
        session.add(row)
        session.flush()
        return _Import(id=row.id, key=key, bank_id=bank_id, group=group)


def _holders(
    session: Session, bank_id: int, signal_type: str, keys: Sequence[str]
) -> dict[str, int | None]:
    """Which of ``keys`` the bank holds for ``signal_type``, with the holding row's import
    (None: added by hand), published or not."""
    held: dict[str, int | None] = {}
    if is_postgresql(session):
        # Join with the unnested array: a hash join whatever the planner thinks of the table
        # (a large IN list over a table grown inside this transaction can be planned as a
        # sequential scan per batch, which makes big imports quadratic).
        array = bindparam("keys", list(keys), type_=ARRAY(String()))
        wanted = func.unnest(array).table_valued("k").render_derived(name="wanted")
        stmt = (
            select(ContentSignal.value_key, ContentSignal.import_id)
            .join(wanted, wanted.c.k == ContentSignal.value_key)
            .where(ContentSignal.bank_id == bank_id, ContentSignal.signal_type == signal_type)
        )
        held.update({str(k): i for k, i in session.execute(stmt)})
        return held
    for chunk in _chunks(keys):
        held.update(
            {
                str(k): i
                for k, i in session.execute(
                    select(ContentSignal.value_key, ContentSignal.import_id).where(
                        ContentSignal.bank_id == bank_id,
                        ContentSignal.signal_type == signal_type,
                        ContentSignal.value_key.in_(chunk),
                    )
                )
            }
        )
    return held


def _held_keys(session: Session, bank_id: int, signal_type: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` the bank already holds for ``signal_type``."""
    return set(_holders(session, bank_id, signal_type, keys))


def _take_pending(session: Session, bank_id: int, signal_type: str, keys: Sequence[str]) -> None:
    """Take the values among ``keys`` that unpublished imports hold, so a writer about to
    publish (a hand add, an import's publishing transaction) holds them instead: a value ends
    up once, held by whoever publishes first, and is not lost if the import fails. The
    import is told (a ``taken`` row) so it can drop an item left with no signals.

    Callers hold the change-log lock (`_lock_change_log`), which every publish takes too, so
    no import is published meanwhile."""
    staging = _table("bank_import_rows")
    for chunk in _chunks(keys):
        rows = session.execute(
            select(
                ContentSignal.id,
                ContentSignal.import_id,
                ContentSignal.content_id,
                ContentSignal.value,
                ContentSignal.value_key,
            ).where(
                ContentSignal.bank_id == bank_id,
                ContentSignal.signal_type == signal_type,
                ContentSignal.value_key.in_(chunk),
                unpublished(ContentSignal.import_id),
            )
        ).all()
        if not rows:
            continue
        import_keys: dict[int, str] = {
            int(i): str(k)
            for i, k in session.execute(
                select(BankImport.id, BankImport.key).where(
                    BankImport.id.in_({r.import_id for r in rows})
                )
            )
        }
        now = utcnow()
        markers = [
            {
                "import_key": import_keys[r.import_id],
                "bank_id": bank_id,
                "signal_type": signal_type,
                "value": r.value,
                "value_key": r.value_key,
                "content_id": r.content_id,
                "staged_at": now,
                "status": "taken",
            }
            for r in rows
            if r.import_id in import_keys
        ]
        _bulk_insert(session, staging, markers, ignore_conflicts=True)
        session.execute(delete(ContentSignal).where(ContentSignal.id.in_([r.id for r in rows])))


def _content_row_values(bank: Bank, row: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    return {
        "bank_id": bank.id,
        "category_profile": row["category_profile"] or bank.category_profile,
        "category_code": row["category_code"],
        "source": row["source"],
        "series": row["series"],
        "note": row["note"],
        "external_id": row["external_id"],
        "enabled": bool(row["enabled"]),
        "created_at": now,
        "updated_at": now,
    }


#: After each chunk an import on SQLite leaves the write lock free this long: a writer waiting
#: for it (a live alert, a sign-in) polls with growing sleeps (up to 100 ms) and would
#: otherwise keep missing the moment between two chunks.
SQLITE_CHUNK_GAP_SECONDS = 0.05


def _place_chunk(engine: Engine, job: _Import, rows: list[dict[str, Any]]) -> None:
    """Write one chunk of records as content and signals marked with the import's id, in
    one short transaction (invisible until the import is published).

    A value the bank holds (by hand, published, or earlier in this import) is skipped; one
    that another unpublished import holds is kept aside (``deferred``) and settled when this
    import publishes."""
    staging = _table("bank_import_rows")
    with Session(writer(engine)) as session, session.begin():
        _publish_cache(session, PUBLISH_CACHE_KB)
        alive = session.execute(
            update(BankImport)
            .where(BankImport.id == job.id, BankImport.state == ImportState.STAGING.value)
            .values(touched_at=utcnow())
        )
        if alive.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError("the import was stopped (removed as abandoned); run it again")
        bank = session.get(Bank, job.bank_id)
        if bank is None:
            raise NotFoundError("the bank was deleted during the import")
        fresh: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            fresh.setdefault((row["signal_type"], row["value_key"]), row)
        by_type: dict[str, list[str]] = {}
        for signal_type, key in fresh:
            by_type.setdefault(signal_type, []).append(key)
        deferred: list[dict[str, Any]] = []
        others: dict[tuple[str, str], int] = {}
        for signal_type, keys in by_type.items():
            for key, holder in _holders(session, bank.id, signal_type, keys).items():
                row = fresh.pop((signal_type, key))
                if holder is not None and holder != job.id:
                    others[(signal_type, key)] = holder
                    row["status"] = "deferred"
                    deferred.append(row)
        if others:  # held by a published import: skipped like a hand-added value
            published = set(
                session.scalars(published_imports().where(BankImport.id.in_(set(others.values()))))
            )
            deferred = [
                row
                for row in deferred
                if others[(row["signal_type"], row["value_key"])] not in published
            ]
        _bulk_insert(session, staging, deferred, ignore_conflicts=True)
        if fresh:
            _write_rows(session, job, bank, list(fresh.values()))
        _publish_cache(session, None)
    if engine.dialect.name == "sqlite":
        time.sleep(SQLITE_CHUNK_GAP_SECONDS)


def _write_rows(session: Session, job: _Import, bank: Bank, rows: list[dict[str, Any]]) -> None:
    """Content (grouped by external id) and signals for ``rows``, marked with the import."""
    content_of: dict[str, int] = {}  # external id -> content id
    external = sorted({r["external_id"] for r in rows if r["external_id"] is not None})
    if job.group:
        for chunk in _chunks(external):
            found = session.execute(
                select(BankContent.external_id, BankContent.id)
                .where(
                    BankContent.bank_id == bank.id,
                    BankContent.external_id.in_(chunk),
                    visible(BankContent.import_id) | (BankContent.import_id == job.id),
                )
                .order_by(BankContent.id.desc())
            )
            for external_id, content_id in found:
                content_of.setdefault(str(external_id), int(content_id))
    now = utcnow()
    owners: list[dict[str, Any]] = []
    for row in rows:
        external_id = row["external_id"] if job.group else None
        if external_id is not None and external_id in content_of:
            continue
        if external_id is not None:
            content_of[external_id] = 0  # created below
        owners.append(row)
    new_ids: list[int] = []
    if owners:
        new_ids = _allocate_ids(session, _table("bank_content"), len(owners))
        contents = []
        for row, content_id in zip(owners, new_ids, strict=True):
            row["content_id"] = content_id
            if job.group and row["external_id"] is not None:
                content_of[row["external_id"]] = content_id
            contents.append(
                {"id": content_id, **_content_row_values(bank, row, now), "import_id": job.id}
            )
        _bulk_insert(session, _table("bank_content"), contents)
    for row in rows:
        if row["content_id"] is None:
            row["content_id"] = content_of[row["external_id"]]
    signal_ids = _allocate_ids(session, _table("content_signals"), len(rows))
    signals = [
        {
            "id": signal_id,
            "content_id": row["content_id"],
            "bank_id": bank.id,
            "signal_type": row["signal_type"],
            "value": row["value"],
            "value_key": row["value_key"],
            "import_id": job.id,
        }
        for signal_id, row in zip(signal_ids, rows, strict=True)
    ]
    # in index order: the unique index takes them as appends, not random inserts
    signals.sort(key=lambda s: (s["signal_type"], s["value_key"]))
    _bulk_insert(session, _table("content_signals"), signals, ignore_conflicts=True)
    mine = (
        ContentSignal.import_id == job.id,
        ContentSignal.id.between(signal_ids[0], signal_ids[-1]),
    )
    written = int(session.scalar(select(func.count()).where(*mine)) or 0)
    if written < len(rows):  # PostgreSQL: another writer took a value meanwhile
        placed = set(session.scalars(select(ContentSignal.id).where(*mine)))
        lost = [row for sid, row in zip(signal_ids, rows, strict=True) if sid not in placed]
        for row in lost:
            row["status"] = "deferred"
        _bulk_insert(session, _table("bank_import_rows"), lost, ignore_conflicts=True)
        has_signal = (
            select(literal(1))
            .select_from(ContentSignal)
            .where(ContentSignal.content_id == BankContent.id)
            .exists()
        )
        for chunk in _chunks(new_ids):
            session.execute(delete(BankContent).where(BankContent.id.in_(chunk), ~has_signal))
    job.placed += written
    job.signal_types.update(row["signal_type"] for row in rows)


def _publish(session: Session, job: _Import) -> int:
    """Publish import ``job`` in the caller's transaction: mark it published (its rows become
    visible at once), settle the few values other writers took or held meanwhile, and log
    one ``import`` change per signal type. Returns the signals added.

    Its cost does not grow with the import's size, only with the values it shares with
    other unpublished imports and hand adds made while it ran."""
    _lock_change_log(session)
    bank = session.get(Bank, job.bank_id)
    if bank is None:
        raise NotFoundError("the bank was deleted during the import")
    flipped = session.execute(
        update(BankImport)
        .where(BankImport.id == job.id, BankImport.state == ImportState.STAGING.value)
        .values(state=ImportState.PUBLISHED.value, published_at=utcnow())
    )
    if flipped.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError("the import was stopped (removed as abandoned); run it again")
    r = _table("bank_import_rows")
    mine = r.c.import_key == job.key
    taken = int(session.scalar(select(func.count()).where(mine, r.c.status == "taken")) or 0)
    if taken:  # items whose every value was taken by another writer: drop them
        left = select(r.c.content_id).where(mine, r.c.status == "taken")
        has_signal = (
            select(literal(1))
            .select_from(ContentSignal)
            .where(ContentSignal.content_id == BankContent.id)
            .exists()
        )
        session.execute(
            delete(BankContent).where(
                BankContent.id.in_(left), BankContent.import_id == job.id, ~has_signal
            )
        )
    added = job.placed - taken
    deferred = session.execute(
        select(r).where(mine, r.c.status == "deferred").order_by(r.c.id)
    ).mappings()
    for row in list(deferred):
        if _place_deferred(session, job, bank, row):
            added += 1
            job.signal_types.add(row["signal_type"])
    if bank.enabled:
        session.add_all(
            IndexChangeEntry(
                signal_type=signal_type,
                signal_id=job.id,
                bank_id=bank.id,
                op=ChangeOp.IMPORT.value,
                value=job.key,
            )
            for signal_type in sorted(job.signal_types)
        )
    session.flush()
    return added


def _place_deferred(session: Session, job: _Import, bank: Bank, row: Mapping[Any, Any]) -> bool:
    """Write one value that another unpublished import held when its chunk was written
    (taking it from that import if it still does); False when the bank holds it now."""
    signal_type, key = row["signal_type"], row["value_key"]
    _take_pending(session, bank.id, signal_type, [key])
    if _held_keys(session, bank.id, signal_type, [key]):
        return False
    content_id: int | None = None
    if job.group and row["external_id"] is not None:
        content_id = session.scalar(
            select(func.max(BankContent.id)).where(
                BankContent.bank_id == bank.id,
                BankContent.external_id == row["external_id"],
                visible(BankContent.import_id),
            )
        )
    if content_id is None:
        content = BankContent(**_content_row_values(bank, row, utcnow()), import_id=job.id)
        session.add(content)
        session.flush()
        content_id = content.id
    session.add(
        ContentSignal(
            content_id=content_id,
            bank_id=bank.id,
            signal_type=signal_type,
            value=row["value"],
            value_key=key,
            import_id=job.id,
        )
    )
    session.flush()
    return True


def _delete_batches(engine: Engine, table: Table, where: ColumnElement[bool], chunk: int) -> None:
    """Delete the rows of ``table`` matching ``where``, a chunk per short transaction."""
    while True:
        with Session(writer(engine)) as session, session.begin():
            ids = list(session.scalars(select(table.c.id).where(where).limit(chunk)))
            if not ids:
                return
            session.execute(delete(table).where(table.c.id.in_(ids)))


def _discard_staging(engine: Engine, key: str, chunk: int) -> None:
    """Delete the deferred and taken rows of import ``key``."""
    staging = _table("bank_import_rows")
    _delete_batches(engine, staging, staging.c.import_key == key, chunk)


def _discard_import(engine: Engine, job_id: int, key: str, chunk: int) -> None:
    """Remove an unpublished import: mark it failed (so it can never be published), then
    delete its signals, content and rows in short transactions, and itself last."""
    with Session(writer(engine)) as session, session.begin():
        state = session.scalar(select(BankImport.state).where(BankImport.id == job_id))
        if state == ImportState.PUBLISHED.value:  # (published meanwhile: keep its rows)
            published = True
        else:
            published = False
            session.execute(
                update(BankImport)
                .where(BankImport.id == job_id)
                .values(state=ImportState.FAILED.value)
            )
    if not published:
        _delete_batches(engine, _table("content_signals"), ContentSignal.import_id == job_id, chunk)
        _delete_batches(engine, _table("bank_content"), BankContent.import_id == job_id, chunk)
    _discard_staging(engine, key, chunk)
    if not published:
        with Session(writer(engine)) as session, session.begin():
            session.execute(delete(BankImport).where(BankImport.id == job_id))


def _discard_stale(engine: Engine, chunk: int) -> None:
    """Remove what imports that stopped without cleaning up (killed) left behind."""
    cutoff = utcnow() - STALE_STAGING
    staging = _table("bank_import_rows")
    with Session(engine) as session:
        stale = session.execute(
            select(BankImport.id, BankImport.key).where(
                (BankImport.state == ImportState.FAILED.value)
                | (
                    (BankImport.state == ImportState.STAGING.value)
                    & (BankImport.touched_at < cutoff)
                )
            )
        ).all()
        orphans = list(
            session.scalars(
                select(staging.c.import_key)
                .where(staging.c.import_key.not_in(select(BankImport.key)))
                .group_by(staging.c.import_key)
                .having(func.max(staging.c.staged_at) < cutoff)
            )
        )
    for job_id, key in stale:
        with Session(writer(engine)) as session, session.begin():  # still stale: claim it
            claimed = session.execute(
                update(BankImport)
                .where(
                    BankImport.id == job_id,
                    (BankImport.state == ImportState.FAILED.value)
                    | (BankImport.touched_at < cutoff),
                    BankImport.state != ImportState.PUBLISHED.value,
                )
                .values(state=ImportState.FAILED.value)
            )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            _discard_import(engine, job_id, key, chunk)
    for key in orphans:
        _discard_staging(engine, key, chunk)


#: SQLite page cache of an import's connection: the indexes it extends stay in memory, so
#: writing a chunk is bound by CPU, not by re-reading pages (the default cache is 2 MB).
PUBLISH_CACHE_KB = 256 * 1024


def _publish_cache(session: Session, kib: int | None) -> None:
    """Set (or, with None, restore) the SQLite page cache of ``session``'s connection."""
    if not is_postgresql(session):
        size = -2000 if kib is None else -int(kib)
        session.execute(text(f"PRAGMA cache_size={size}"))


def _content_ids(session: Session, bank_id: int, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """The content id holding each row's value in the bank (visible rows only)."""
    by_type: dict[str, list[str]] = {}
    for row in rows:
        by_type.setdefault(row["signal_type"], []).append(row["value_key"])
    found: dict[tuple[str, str], int] = {}
    for signal_type, keys in by_type.items():
        for chunk in _chunks(sorted(set(keys))):
            for key, content_id in session.execute(
                select(ContentSignal.value_key, ContentSignal.content_id).where(
                    ContentSignal.bank_id == bank_id,
                    ContentSignal.signal_type == signal_type,
                    ContentSignal.value_key.in_(chunk),
                    visible(ContentSignal.import_id),
                )
            ):
                found[(signal_type, str(key))] = int(content_id)
    return [found[(row["signal_type"], row["value_key"])] for row in rows]


def add_many(
    engine: Engine,
    *,
    bank: str,
    items: Sequence[BankRecord],
    chunk: int,
    on_publish: Callable[[Session, list[int]], None] | None = None,
) -> list[int]:
    """Add each item as its own content item, as `add_content` would one by one (an item
    whose value the bank already holds, or that repeats an earlier item, gives that
    content's id), all or nothing; returns the content ids in item order.

    Written in short transactions as an unpublished import and published in one tiny
    transaction (with ``on_publish``, e.g. the audit entry), so a large batch does not hold
    the write lock while it is validated and copied. A bad item raises before anything is
    written, naming its position (``items[3]: ...``).
    """
    with Session(engine) as session:
        bank_id = _bank_row(session, bank).id
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            (row,) = _stage_rows("", bank_id, [item], now)
        except VangnetError as error:
            raise type(error)(f"items[{position}]: {error.message}") from None
        row["owner"] = True  # its own item, whatever its external id
        rows.append(row)
    size = chunk
    job = _begin_import(engine, bank_id, group=False)
    for row in rows:
        row["import_key"] = job.key
    try:
        for part in _chunks(rows, size):
            _place_chunk(engine, job, list(part))
        with Session(writer(engine)) as session, session.begin():
            _publish(session, job)
            ids = _content_ids(session, bank_id, rows)
            if on_publish is not None:
                on_publish(session, ids)
    except BaseException:
        _discard_import(engine, job.id, job.key, size)
        raise
    _discard_staging(engine, job.key, size)
    return ids


def import_staged(
    engine: Engine,
    *,
    bank: str,
    records: Iterable[BankRecord],
    chunk: int,
    on_publish: Callable[[Session, ImportResult], None] | None = None,
) -> ImportResult:
    """Import ``records`` into ``bank`` holding the write lock only briefly.

    Records are validated and written ``chunk`` at a time, each chunk in its own short
    transaction, as content and signals marked with a new import's id, which every reader
    ignores (`vangnet.store.visibility`); then one tiny transaction publishes the import
    (its rows become visible, one ``import`` change-log entry per signal type, and whatever
    ``on_publish`` adds, e.g. the audit entry) and commits. All-or-nothing: an error while
    reading or writing removes the import's rows and re-raises; a killed import is never
    published, and the next import removes its rows once it is stale. Values the bank
    already holds are skipped.
    ``chunk`` is the setting ``bank_import_chunk``, passed in by the caller.
    """
    size = chunk
    if size < 1:
        raise ValidationError("chunk must be at least 1")
    with Session(engine) as session:
        bank_id = _bank_row(session, bank).id
    _discard_stale(engine, size)
    job = _begin_import(engine, bank_id, group=True)
    total = 0
    try:
        for batch in _batches(records, size):
            rows = _stage_rows(job.key, bank_id, batch, utcnow())  # ValidationError: nothing kept
            total += len(batch)
            _place_chunk(engine, job, rows)
        with Session(writer(engine)) as session, session.begin():
            added = _publish(session, job)
            result = ImportResult(added=added, skipped_existing=total - added, total=total)
            if on_publish is not None:
                on_publish(session, result)
    except BaseException:
        _discard_import(engine, job.id, job.key, size)
        raise
    _discard_staging(engine, job.key, size)
    return result


def export_records(session: Session, *, bank: str) -> Iterator[BankRecord]:
    """Every signal of ``bank`` as a record, streamed in content order.

    Content without an external id is exported with ``vangnet:<content id>`` as its id, so
    the signals of one item (e.g. its PDQ and digests) stay one item through a round trip.
    """
    bank_id = _bank_row(session, bank).id
    stmt = (
        select(
            ContentSignal.signal_type,
            ContentSignal.value,
            BankContent.category_profile,
            BankContent.category_code,
            BankContent.source,
            BankContent.series,
            BankContent.note,
            BankContent.enabled,
            BankContent.external_id,
            BankContent.id.label("content_id"),
        )
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .where(ContentSignal.bank_id == bank_id, visible(ContentSignal.import_id))
        .order_by(ContentSignal.content_id, ContentSignal.id)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(stmt):
        yield BankRecord(
            signal_type=row.signal_type,
            value=row.value,
            category=_category(row.category_profile, row.category_code),
            source=row.source,
            series=row.series,
            note=row.note,
            enabled=row.enabled,
            external_id=row.external_id or f"vangnet:{row.content_id}",
        )


# -- the index change log ------------------------------------------------------------------


def last_change_seq(session: Session) -> int:
    """The newest ``seq`` in the log (0 when empty). Read it *before* `current_signals`."""
    return int(session.scalar(select(func.coalesce(func.max(IndexChangeEntry.seq), 0))) or 0)


def changes_since(session: Session, seq: int, *, limit: int = 10_000) -> list[IndexChange]:
    """Log entries after ``seq``, oldest first."""
    rows = session.scalars(
        select(IndexChangeEntry)
        .where(IndexChangeEntry.seq > seq)
        .order_by(IndexChangeEntry.seq)
        .limit(limit)
    )
    return [
        IndexChange(
            seq=r.seq,
            op=ChangeOp(r.op),
            signal_type=r.signal_type,
            signal_id=r.signal_id,
            bank_id=r.bank_id,
            value=r.value,
            created_at=r.created_at,
        )
        for r in rows
    ]


def current_signals(session: Session, signal_type: str) -> Iterator[CurrentSignal]:
    """Every matchable signal of a type: its id, value and bank id (streamed)."""
    stmt = (
        select(ContentSignal.id, ContentSignal.value, ContentSignal.bank_id)
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .join(Bank, Bank.id == ContentSignal.bank_id)
        .where(
            ContentSignal.signal_type == signal_type,
            BankContent.enabled.is_(True),
            Bank.matching_enabled_ratio > 0,
            visible(ContentSignal.import_id),
        )
        .order_by(ContentSignal.id)
        .execution_options(yield_per=10_000)
    )
    for signal_id, value, bank_id in session.execute(stmt):
        yield CurrentSignal(signal_id, value, bank_id)


def import_signals(
    session: Session, *, import_id: int, signal_type: str, after_id: int = 0, limit: int = 10_000
) -> list[CurrentSignal]:
    """The matchable signals of one published import (an ``import`` change-log entry), by
    id after ``after_id``: what a change-log follower adds for that entry."""
    stmt = (
        select(ContentSignal.id, ContentSignal.value, ContentSignal.bank_id)
        .join(BankContent, BankContent.id == ContentSignal.content_id)
        .join(Bank, Bank.id == ContentSignal.bank_id)
        .where(
            ContentSignal.import_id == import_id,
            ContentSignal.import_id.in_(published_imports()),
            ContentSignal.signal_type == signal_type,
            ContentSignal.id > after_id,
            BankContent.enabled.is_(True),
            Bank.matching_enabled_ratio > 0,
        )
        .order_by(ContentSignal.id)
        .limit(limit)
    )
    return [CurrentSignal(i, v, b) for i, v, b in session.execute(stmt)]


def describe_signals(session: Session, ids: Iterable[int]) -> dict[int, SignalInfo]:
    """Content, bank and category of each signal id (ids no longer stored are left out)."""
    wanted = sorted(set(ids))
    out: dict[int, SignalInfo] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(
                ContentSignal.id,
                ContentSignal.signal_type,
                ContentSignal.value,
                ContentSignal.content_id,
                ContentSignal.bank_id,
                Bank.name,
                Bank.matching_enabled_ratio,
                BankContent.category_profile,
                BankContent.category_code,
                BankContent.enabled,
            )
            .join(BankContent, BankContent.id == ContentSignal.content_id)
            .join(Bank, Bank.id == ContentSignal.bank_id)
            .where(ContentSignal.id.in_(chunk), visible(ContentSignal.import_id))
        )
        for r in rows:
            out[r.id] = SignalInfo(
                signal_id=r.id,
                signal_type=r.signal_type,
                value=r.value,
                content_id=r.content_id,
                bank_id=r.bank_id,
                bank_name=r.name,
                category=_category(r.category_profile, r.category_code),
                enabled=bool(r.enabled) and r.matching_enabled_ratio > 0,
            )
    return out


__all__ = [
    "UNSET",
    "BankView",
    "ContentView",
    "CurrentSignal",
    "ImportResult",
    "IndexChange",
    "SignalInfo",
    "add_content",
    "add_many",
    "bank_stats",
    "changes_since",
    "create_bank",
    "current_signals",
    "default_thresholds",
    "delete_bank",
    "delete_content",
    "describe_signals",
    "export_records",
    "find_content_by_signal",
    "get_bank",
    "get_content",
    "import_records",
    "import_signals",
    "import_staged",
    "last_change_seq",
    "list_banks",
    "list_content",
    "set_bank_enabled",
    "set_content_enabled",
    "update_bank",
]
