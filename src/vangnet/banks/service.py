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
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    ColumnElement,
    Engine,
    Integer,
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
    Base,
    ChangeOp,
    ContentSignal,
    IndexChangeEntry,
    UTCDateTime,
    signal_key,
    utcnow,
)

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
        .where(*where)
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
    """Thresholds a new bank starts with, from settings."""
    s = get_settings()
    return {
        "pdq": {
            "threshold": s.pdq_threshold,
            "quality_floor": s.pdq_quality_floor,
            "dihedral": False,
        },
        "vpdq": {
            "threshold": s.pdq_threshold,
            "quality_floor": s.pdq_quality_floor,
            "query_match_pct": s.vpdq_query_match_pct,
            "index_match_pct": s.vpdq_index_match_pct,
        },
        "vpdq_regions": {
            "threshold": s.pdq_threshold,
            "quality_floor": s.pdq_quality_floor,
            "query_match_pct": s.vpdq_query_match_pct,
            "index_match_pct": s.vpdq_index_match_pct,
        },
    }


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
    """Counts for listings: ``content``, ``enabled_content``, ``signals``, ``signals_by_type``."""
    bank_id = _bank_row(session, name).id
    content, enabled = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((BankContent.enabled.is_(True), 1), else_=0)), 0),
        ).where(BankContent.bank_id == bank_id)
    ).one()
    by_type = {
        str(signal_type): int(count)
        for signal_type, count in session.execute(
            select(ContentSignal.signal_type, func.count())
            .where(ContentSignal.bank_id == bank_id)
            .group_by(ContentSignal.signal_type)
            .order_by(ContentSignal.signal_type)
        )
    }
    return {
        "content": int(content),
        "enabled_content": int(enabled),
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
    if row.enabled and content.enabled:
        _log(session, ChangeOp.ADD, ContentSignal.content_id == content.id)
    return content.id


def _content_row(session: Session, content_id: int, bank: str | None) -> BankContent:
    content = session.get(BankContent, content_id)
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
            .where(ContentSignal.content_id.in_(chunk))
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


def list_content(
    session: Session, *, bank: str, after_id: int = 0, limit: int = 100
) -> list[ContentView]:
    """One page of a bank's content, by id; pass the last id seen as ``after_id``."""
    if limit < 1:
        raise ValidationError("limit must be at least 1")
    bank_id = _bank_row(session, bank).id
    contents = session.scalars(
        select(BankContent)
        .where(BankContent.bank_id == bank_id, BankContent.id > after_id)
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


def _held_keys(session: Session, bank_id: int, signal_type: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` the bank already holds for ``signal_type``."""
    held: set[str] = set()
    if is_postgresql(session):
        # Join with the unnested array: a hash join whatever the planner thinks of the table
        # (a large IN list over a table grown inside this transaction can be planned as a
        # sequential scan per batch, which makes big imports quadratic).
        array = bindparam("keys", keys, type_=ARRAY(String()))
        wanted = func.unnest(array).table_valued("k").render_derived(name="wanted")
        stmt = (
            select(ContentSignal.value_key)
            .join(wanted, wanted.c.k == ContentSignal.value_key)
            .where(ContentSignal.bank_id == bank_id, ContentSignal.signal_type == signal_type)
        )
        held.update(session.scalars(stmt))
        return held
    for chunk in _chunks(keys):
        held.update(
            session.scalars(
                select(ContentSignal.value_key).where(
                    ContentSignal.bank_id == bank_id,
                    ContentSignal.signal_type == signal_type,
                    ContentSignal.value_key.in_(chunk),
                )
            )
        )
    return held


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
            .where(BankContent.bank_id == bank.id, BankContent.external_id.in_(chunk))
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


#: Staged rows of an import that has not written for this long belong to a stopped import.
STALE_STAGING = timedelta(minutes=10)


def _stage_rows(
    key: str, bank_id: int, batch: list[BankRecord], now: datetime
) -> list[dict[str, Any]]:
    """Validated, canonical staging rows of one batch of records (no database access)."""
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


def _discard_staged(engine: Engine, key: str, chunk: int) -> None:
    """Delete the staged rows of import ``key``, a chunk per short transaction."""
    staging = _table("bank_import_rows")
    while True:
        with Session(writer(engine)) as session, session.begin():
            ids = list(
                session.scalars(
                    select(staging.c.id).where(staging.c.import_key == key).limit(chunk)
                )
            )
            if not ids:
                return
            session.execute(delete(staging).where(staging.c.id.in_(ids)))


def _discard_stale(engine: Engine, chunk: int) -> None:
    """Remove what imports that stopped without cleaning up (killed) left staged."""
    staging = _table("bank_import_rows")
    cutoff = utcnow() - STALE_STAGING
    with Session(engine) as session:
        stale = list(
            session.scalars(
                select(staging.c.import_key)
                .group_by(staging.c.import_key)
                .having(func.max(staging.c.staged_at) < cutoff)
            )
        )
    for key in stale:
        _discard_staged(engine, key, chunk)


#: SQLite page cache of the publishing connection: the indexes it extends stay in memory, so
#: publishing is bound by CPU, not by re-reading pages (the default cache is 2 MB).
PUBLISH_CACHE_KB = 256 * 1024


def _publish_cache(session: Session, kib: int | None) -> None:
    """Set (or, with None, restore) the SQLite page cache of ``session``'s connection."""
    if not is_postgresql(session):
        size = -2000 if kib is None else -int(kib)
        session.execute(text(f"PRAGMA cache_size={size}"))


def _publish(
    session: Session,
    bank: Bank,
    key: str,
    *,
    group: bool = True,
    held_by: dict[tuple[str, str], int] | None = None,
) -> int:
    """Turn the staged rows of import ``key`` into content, signals and change-log entries,
    in set-based statements of the caller's (one, short) transaction. Returns signals added.

    ``group``: records sharing an external id are one item (and join the bank's item with
    that id); otherwise every staged owner row is its own item. ``held_by`` receives the
    content id of each (signal type, value key) the bank already held."""
    r = _table("bank_import_rows")
    mine = r.c.import_key == key
    # 1. values the bank already holds (added since they were staged, or before)
    held = (
        select(literal(1))
        .select_from(ContentSignal)
        .where(
            ContentSignal.bank_id == bank.id,
            ContentSignal.signal_type == r.c.signal_type,
            ContentSignal.value_key == r.c.value_key,
        )
        .exists()
    )
    if held_by is not None:
        found = session.execute(
            select(r.c.signal_type, r.c.value_key, ContentSignal.content_id)
            .join(
                ContentSignal,
                (ContentSignal.bank_id == bank.id)
                & (ContentSignal.signal_type == r.c.signal_type)
                & (ContentSignal.value_key == r.c.value_key),
            )
            .where(mine)
        )
        held_by.update({(t, k): int(c) for t, k, c in found})
    session.execute(delete(r).where(mine, held))
    if group:
        _group_by_external_id(session, bank, key)
    return _publish_owned(session, bank, key)


def _group_by_external_id(session: Session, bank: Bank, key: str) -> None:
    r = _table("bank_import_rows")
    mine = r.c.import_key == key
    # 2. records sharing an external id are one item: the bank's newest one with that id...
    existing = (
        select(func.max(BankContent.id))
        .where(BankContent.bank_id == bank.id, BankContent.external_id == r.c.external_id)
        .scalar_subquery()
    )
    session.execute(update(r).where(mine, r.c.external_id.is_not(None)).values(content_id=existing))
    # ... else a new one, created by the first staged record with that id
    r2 = r.alias("r2")
    first = (
        select(func.min(r2.c.id))
        .where(r2.c.import_key == key, r2.c.external_id == r.c.external_id)
        .scalar_subquery()
    )
    # (records without an external id were staged as owners of their own item)
    session.execute(
        update(r)
        .where(mine, r.c.content_id.is_(None), r.c.external_id.is_not(None), r.c.id == first)
        .values(owner=True)
    )


def _publish_owned(session: Session, bank: Bank, key: str) -> int:
    """Content ids for the owner rows, then content, signals and change-log entries."""
    r = _table("bank_import_rows")
    r2 = r.alias("r2")
    mine = r.c.import_key == key
    no_id = (mine, r.c.owner.is_(True), r.c.content_id.is_(None))
    owners = select(func.count()).select_from(r).where(mine, r.c.owner.is_(True))
    if int(session.scalar(owners) or 0):
        if is_postgresql(session):  # (most were given ids from the sequence when staged)
            sequence = func.pg_get_serial_sequence("bank_content", "id")
            session.execute(update(r).where(*no_id).values(content_id=func.nextval(sequence)))
        else:  # one writer: continue from the largest id, as SQLite does
            base = int(session.scalar(select(func.coalesce(func.max(BankContent.id), 0))) or 0)
            ranked = (
                select(r.c.id.label("rid"), func.row_number().over(order_by=r.c.id).label("rn"))
                .where(*no_id)
                .subquery()
            )
            session.execute(
                update(r).where(r.c.id == ranked.c.rid).values(content_id=base + ranked.c.rn)
            )
        owner_of = (
            select(r2.c.content_id)
            .where(
                r2.c.import_key == key,
                r2.c.external_id == r.c.external_id,
                r2.c.owner.is_(True),
            )
            .scalar_subquery()
        )
        session.execute(update(r).where(mine, r.c.content_id.is_(None)).values(content_id=owner_of))
        now = utcnow()
        content_columns = [
            "id",
            "bank_id",
            "category_profile",
            "category_code",
            "source",
            "series",
            "note",
            "external_id",
            "enabled",
            "created_at",
            "updated_at",
        ]
        session.execute(
            insert(BankContent).from_select(
                content_columns,
                select(
                    r.c.content_id,
                    literal(bank.id, Integer()),
                    func.coalesce(r.c.category_profile, literal(bank.category_profile)),
                    r.c.category_code,
                    r.c.source,
                    r.c.series,
                    r.c.note,
                    r.c.external_id,
                    r.c.enabled,
                    literal(now, UTCDateTime()),
                    literal(now, UTCDateTime()),
                )
                .where(mine, r.c.owner.is_(True))
                .order_by(r.c.id),
            )
        )
    before = int(session.scalar(select(func.coalesce(func.max(ContentSignal.id), 0))) or 0)
    signal_columns = ["content_id", "bank_id", "signal_type", "value", "value_key"]
    rows = (
        select(
            r.c.content_id,
            literal(bank.id, Integer()),
            r.c.signal_type,
            r.c.value,
            r.c.value_key,
        )
        .where(mine)
        # in index order: the unique index takes them as appends, not random inserts
        .order_by(r.c.signal_type, r.c.value_key)
    )
    if is_postgresql(session):
        session.execute(
            pg_insert(ContentSignal).from_select(signal_columns, rows).on_conflict_do_nothing()
        )
    else:
        session.execute(
            sqlite_insert(ContentSignal).from_select(signal_columns, rows).on_conflict_do_nothing()
        )
    added = session.scalar(
        select(func.count()).where(ContentSignal.bank_id == bank.id, ContentSignal.id > before)
    )
    if bank.enabled:
        _log(
            session,
            ChangeOp.ADD,
            ContentSignal.bank_id == bank.id,
            ContentSignal.id > before,
            BankContent.enabled.is_(True),
        )
    return int(added or 0)


def _stage_chunk(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Stage ``rows`` in one short transaction (a repeated value is kept once)."""
    with Session(writer(engine)) as session, session.begin():
        own = [row for row in rows if row["owner"]]
        if own and is_postgresql(session):  # ids from the sequence: no lock needed
            ids = _allocate_ids(session, _table("bank_content"), len(own))
            for row, content_id in zip(own, ids, strict=True):
                row["content_id"] = content_id
        _bulk_insert(session, _table("bank_import_rows"), rows, ignore_conflicts=True)


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

    Staged in short transactions and published in one (with ``on_publish``, e.g. the audit
    entry), so a large batch does not hold the write lock while it is validated and copied.
    A bad item raises before anything is staged, naming its position (``items[3]: ...``).
    ``chunk`` (``settings.bank_import_chunk``) items are staged per transaction.
    """
    key = uuid.uuid4().hex
    with Session(engine) as session:
        bank_id = _bank_row(session, bank).id
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            (row,) = _stage_rows(key, bank_id, [item], now)
        except VangnetError as error:
            raise type(error)(f"items[{position}]: {error.message}") from None
        row["owner"] = True  # its own item, whatever its external id
        rows.append(row)
    size = chunk
    try:
        for part in _chunks(rows, size):
            _stage_chunk(engine, list(part))
        with Session(writer(engine)) as session, session.begin():
            _lock_change_log(session)
            target = _bank_row(session, bank)
            held: dict[tuple[str, str], int] = {}
            _publish(session, target, key, group=False, held_by=held)
            r = _table("bank_import_rows")
            staged = {
                (t, k): int(c)
                for t, k, c in session.execute(
                    select(r.c.signal_type, r.c.value_key, r.c.content_id).where(
                        r.c.import_key == key
                    )
                )
            }
            ids = [
                held.get((row["signal_type"], row["value_key"]))
                or staged[(row["signal_type"], row["value_key"])]
                for row in rows
            ]
            if on_publish is not None:
                on_publish(session, ids)
    finally:
        _discard_staged(engine, key, size)
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

    Records are validated and staged ``chunk`` at a time, each chunk in its own short
    transaction, into ``bank_import_rows`` (invisible to every reader); then one transaction
    publishes them all (content, signals, change log, and whatever ``on_publish`` adds, e.g.
    the audit entry) and commits. All-or-nothing: an error while reading or staging discards
    the staged rows and re-raises; a killed import leaves only staged rows, which nothing
    shows and the next import removes. Values the bank already holds are skipped.
    ``chunk`` is the setting ``bank_import_chunk``, passed in by the caller.
    """
    size = chunk
    if size < 1:
        raise ValidationError("chunk must be at least 1")
    key = uuid.uuid4().hex
    with Session(engine) as session:
        bank_id = _bank_row(session, bank).id
    _discard_stale(engine, size)
    total = 0
    try:
        for batch in _batches(records, size):
            rows = _stage_rows(key, bank_id, batch, utcnow())  # ValidationError: nothing kept
            total += len(batch)
            _stage_chunk(engine, rows)
        with Session(writer(engine)) as session, session.begin():
            _lock_change_log(session)
            _publish_cache(session, PUBLISH_CACHE_KB)
            target = _bank_row(session, bank)  # NotFoundError if deleted meanwhile
            added = _publish(session, target, key)
            result = ImportResult(added=added, skipped_existing=total - added, total=total)
            if on_publish is not None:
                on_publish(session, result)
            _publish_cache(session, None)
    finally:
        _discard_staged(engine, key, size)
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
        .where(ContentSignal.bank_id == bank_id)
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
        )
        .order_by(ContentSignal.id)
        .execution_options(yield_per=10_000)
    )
    for signal_id, value, bank_id in session.execute(stmt):
        yield CurrentSignal(signal_id, value, bank_id)


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
            .where(ContentSignal.id.in_(chunk))
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
    "import_staged",
    "last_change_seq",
    "list_banks",
    "list_content",
    "set_bank_enabled",
    "set_content_enabled",
    "update_bank",
]
