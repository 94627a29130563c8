"""Stored context records as the typed records of `vangnet.sources.records.model`, and back.

`payment_row` / `payment_of` (and the same for messages, sessions and accounts) convert one
record; `payments`, `messages`, `sessions` and `accounts` read them back in time order, within
an optional ``since`` / ``until`` window, in the caller's session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.sources.records.model import Account, CallSession, Channel, Message, Payment
from vangnet.store.models import ContextAccount, ContextMessage, ContextPayment, ContextSession


def payment_row(p: Payment, *, import_id: int | None = None) -> ContextPayment:
    return ContextPayment(
        ref=p.ref,
        import_id=import_id,
        at=p.at,
        sender=p.sender,
        beneficiary=p.beneficiary,
        amount=p.amount,
        currency=p.currency,
        channel=p.channel.value,
        sender_country=p.sender_country,
        beneficiary_country=p.beneficiary_country,
        narrative=p.narrative,
        merchant_category=p.merchant_category,
        details=dict(p.details),
    )


def payment_of(row: ContextPayment) -> Payment:
    return Payment(
        ref=row.ref,
        at=row.at,
        sender=row.sender,
        beneficiary=row.beneficiary,
        amount=row.amount,
        currency=row.currency,
        channel=Channel(row.channel),
        sender_country=row.sender_country,
        beneficiary_country=row.beneficiary_country,
        narrative=row.narrative,
        merchant_category=row.merchant_category,
        details=dict(row.details or {}),
    )


def message_row(m: Message, *, import_id: int | None = None) -> ContextMessage:
    return ContextMessage(
        ref=m.ref,
        import_id=import_id,
        conversation=m.conversation,
        at=m.at,
        sender=m.sender,
        recipients=list(m.recipients),
        text=m.text,
        platform=m.platform,
        language=m.language,
        details=dict(m.details),
    )


def message_of(row: ContextMessage) -> Message:
    return Message(
        ref=row.ref,
        conversation=row.conversation,
        at=row.at,
        sender=row.sender,
        text=row.text,
        recipients=tuple(row.recipients or ()),
        platform=row.platform,
        language=row.language,
        details=dict(row.details or {}),
    )


def session_row(s: CallSession, *, import_id: int | None = None) -> ContextSession:
    return ContextSession(
        ref=s.ref,
        import_id=import_id,
        platform=s.platform,
        started_at=s.started_at,
        ended_at=s.ended_at,
        participants=list(s.participants),
        countries=list(s.countries),
        stream=s.stream,
        details=dict(s.details),
    )


def session_of(row: ContextSession) -> CallSession:
    return CallSession(
        ref=row.ref,
        platform=row.platform,
        started_at=row.started_at,
        participants=tuple(row.participants or ()),
        ended_at=row.ended_at,
        countries=tuple(row.countries or ()),
        stream=row.stream,
        details=dict(row.details or {}),
    )


def account_row(a: Account, *, import_id: int | None = None) -> ContextAccount:
    return ContextAccount(
        ref=a.ref,
        import_id=import_id,
        kind=a.kind,
        name=a.name,
        country=a.country,
        timezone=a.timezone,
        birth_year=a.birth_year,
        sex=a.sex,
        platform=a.platform,
        opened_at=a.created_at,
        handles=list(a.handles),
        devices=list(a.devices),
        details=dict(a.details),
    )


def account_of(row: ContextAccount) -> Account:
    return Account(
        ref=row.ref,
        kind=row.kind,
        name=row.name,
        country=row.country,
        timezone=row.timezone,
        birth_year=row.birth_year,
        sex=row.sex,
        platform=row.platform,
        created_at=row.opened_at,
        handles=tuple(row.handles or ()),
        devices=tuple(row.devices or ()),
        details=dict(row.details or {}),
    )


def payments(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[Payment]:
    """Stored payments in time order, ``since`` <= at < ``until``."""
    q = select(ContextPayment).order_by(ContextPayment.at, ContextPayment.id)
    if since is not None:
        q = q.where(ContextPayment.at >= since)
    if until is not None:
        q = q.where(ContextPayment.at < until)
    for row in session.scalars(q.execution_options(yield_per=5000)):
        yield payment_of(row)


def messages(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[Message]:
    """Stored messages in time order, ``since`` <= at < ``until``."""
    q = select(ContextMessage).order_by(ContextMessage.at, ContextMessage.id)
    if since is not None:
        q = q.where(ContextMessage.at >= since)
    if until is not None:
        q = q.where(ContextMessage.at < until)
    for row in session.scalars(q.execution_options(yield_per=5000)):
        yield message_of(row)


def sessions(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[CallSession]:
    """Stored call sessions in start order, ``since`` <= started_at < ``until``."""
    q = select(ContextSession).order_by(ContextSession.started_at, ContextSession.id)
    if since is not None:
        q = q.where(ContextSession.started_at >= since)
    if until is not None:
        q = q.where(ContextSession.started_at < until)
    for row in session.scalars(q.execution_options(yield_per=5000)):
        yield session_of(row)


def accounts(session: Session) -> Iterator[Account]:
    """Every stored account, by ref."""
    q = select(ContextAccount).order_by(ContextAccount.ref)
    for row in session.scalars(q.execution_options(yield_per=5000)):
        yield account_of(row)
