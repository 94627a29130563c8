"""A bank's content items and their signals: add, read, list, find by value, enable or
disable, replace signals, delete.

Functions take a `Session` first and keyword arguments after; the caller owns the
transaction (nothing here commits). Every change to what is matchable is logged for the
indexes in the same transaction (`vangnet.banks.changes`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.banks.bank import bank_by_name
from vangnet.banks.bulk import chunks, held_keys
from vangnet.banks.categories import Category
from vangnet.banks.changes import lock_change_log, log_changes
from vangnet.banks.features import FeatureSeal, keep_features
from vangnet.banks.pending import take_pending
from vangnet.banks.validation import signal_pairs, validator
from vangnet.banks.views import ContentView, category_of
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.jsonlimits import check_text
from vangnet.store.models import Bank, BankContent, ChangeOp, ContentSignal, signal_key, utcnow
from vangnet.store.visibility import visible


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
    features: Mapping[str, bytes] | None = None,
    seal: FeatureSeal | None = None,
) -> int:
    """Add one content item with its signals; return its id. ``features`` (kind -> packed
    bytes, `vangnet.banks.features`) are the local features of a picture banked from its
    pixels, kept with it in the same transaction, sealed with ``seal`` (required with them:
    `FeatureSeal.from_settings`).

    Idempotent: when the bank already holds any of the signals, nothing is added and the
    existing content's id is returned (its missing features are kept, so adding a picture
    again gives an older item its features). Raises `InvalidHashError` for a malformed value.
    """
    if features and seal is None:
        raise ValueError("features are stored sealed: pass seal=FeatureSeal.from_settings(...)")
    pairs = signal_pairs(signals)
    for what, given in (("source", source), ("series", series), ("note", note)):
        check_text(given, what=what)
    check_text(external_id, what="external_id", max_chars=255)
    lock_change_log(session)
    row = bank_by_name(session, bank)
    for attempt in (1, 2):
        for signal_type, value in pairs:  # a value an import is still writing: this add wins
            take_pending(session, row.id, signal_type, [signal_key(value)])
        existing = _existing_content(session, row.id, pairs)
        if existing is not None:
            if features and seal is not None:
                added = keep_features(
                    session, content_id=existing, bank_id=row.id, features=features, seal=seal
                )
                if added and row.enabled:  # its signals are now verifiable: logged again, so
                    # every process's feature index takes them (an add replaces in an index)
                    log_changes(
                        session,
                        ChangeOp.ADD,
                        ContentSignal.content_id == existing,
                        BankContent.enabled.is_(True),
                    )
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
                if features and seal is not None:
                    keep_features(
                        session,
                        content_id=content.id,
                        bank_id=row.id,
                        features=features,
                        seal=seal,
                    )
            break
        except IntegrityError:  # PostgreSQL: an import's chunk wrote the value meanwhile
            if attempt == 2:
                raise ConflictError("the value is being written by another writer") from None
    if row.enabled and content.enabled:
        log_changes(session, ChangeOp.ADD, ContentSignal.content_id == content.id)
    return content.id


def _content_row(session: Session, content_id: int, bank: str | None) -> BankContent:
    content = session.scalars(
        select(BankContent).where(BankContent.id == content_id, visible(BankContent.import_id))
    ).one_or_none()
    if content is None:
        raise NotFoundError(f"no content with id {content_id}")
    if bank is not None and bank_by_name(session, bank).id != content.bank_id:
        raise NotFoundError(f"bank {bank!r} has no content with id {content_id}")
    return content


def _content_views(session: Session, contents: Sequence[BankContent]) -> list[ContentView]:
    if not contents:
        return []
    ids = [c.id for c in contents]
    signals: dict[int, list[tuple[str, str]]] = {i: [] for i in ids}
    for chunk in chunks(ids):
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
            category=category_of(c.category_profile, c.category_code),
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
    lock_change_log(session)
    content = _content_row(session, content_id, bank)
    if content.enabled != enabled:
        bank_row = session.get_one(Bank, content.bank_id)
        if bank_row.enabled:
            log_changes(
                session,
                ChangeOp.ADD if enabled else ChangeOp.REMOVE,
                ContentSignal.content_id == content.id,
            )
        content.enabled = enabled
        content.updated_at = utcnow()
        session.flush()
    return get_content(session, content_id)


def delete_content(session: Session, content_id: int, *, bank: str | None = None) -> None:
    lock_change_log(session)
    content = _content_row(session, content_id, bank)
    if content.enabled and session.get_one(Bank, content.bank_id).enabled:
        log_changes(session, ChangeOp.REMOVE, ContentSignal.content_id == content.id)
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
    pairs = signal_pairs(signals)
    stray = sorted({t for t, _ in pairs} - replaced)
    if stray:
        raise ValidationError(f"signals of types not being replaced: {', '.join(stray)}")
    lock_change_log(session)
    content = _content_row(session, content_id, bank)
    matchable = content.enabled and session.get_one(Bank, content.bank_id).enabled
    mine = ContentSignal.content_id == content.id, ContentSignal.signal_type.in_(replaced)
    if matchable:
        log_changes(session, ChangeOp.REMOVE, *mine)
    session.execute(delete(ContentSignal).where(*mine))
    stored = []
    for signal_type, value in pairs:
        if held_keys(session, content.bank_id, signal_type, [signal_key(value)]):
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
        log_changes(session, ChangeOp.ADD, *mine)
    content.updated_at = utcnow()
    session.flush()
    return stored


def list_content(
    session: Session, *, bank: str, after_id: int = 0, limit: int = 100
) -> list[ContentView]:
    """One page of a bank's content, by id; pass the last id seen as ``after_id``."""
    if limit < 1:
        raise ValidationError("limit must be at least 1")
    bank_id = bank_by_name(session, bank).id
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
    canonical = validator(signal_type)(value)
    stmt = select(ContentSignal.content_id).where(
        ContentSignal.signal_type == signal_type,
        ContentSignal.value_key == signal_key(canonical),
        visible(ContentSignal.import_id),
    )
    if bank is not None:
        stmt = stmt.where(ContentSignal.bank_id == bank_by_name(session, bank).id)
    ids = list(session.scalars(stmt))
    contents = session.scalars(
        select(BankContent).where(BankContent.id.in_(ids)).order_by(BankContent.id)
    ).all()
    return _content_views(session, contents)
