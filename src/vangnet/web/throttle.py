"""Sign-in throttling that cannot be turned against a known user name.

Failed sign-ins (wrong password, or wrong second-factor code) are rows of ``login_attempts``
(user name, client address, time), so every worker process sees the same counts. Three
counters decide how long the next attempt must wait, never whether the account is usable:

- per (name, address): ``review_login_attempts`` free failures, then a delay of
  ``signin_base_delay_seconds`` that doubles with each further failure, capped at
  ``signin_max_delay_seconds``. The real user, signing in from their own address, has no
  failures there and is not held back while an attacker's address is.
- per address (any names): the same doubling delay after ``signin_address_failures``, so one
  address cannot spray many names.
- per name (all addresses together): past ``signin_name_anomaly_failures`` the name counts as
  under attack and each address gets only one free failure for it. This raises the delay for
  addresses that fail; an address with no failures for the name is still not slowed.

An IPv6 client counts as its /64 in every counter (one host may send from any address of
its block). A refused attempt (still waiting) does not check the password and is not
counted; failures older than ``signin_window_minutes`` are forgotten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.net import limited_as
from vangnet.store.db import is_postgresql
from vangnet.store.models import LoginAttempt, utcnow

_MAX_DOUBLINGS = 62  # 2**62 seconds is beyond any cap: no float overflow


class TooManyAttempts(VangnetError):
    """Sign-in refused for now: this address failed too often (for this name)."""

    code = "too_many_attempts"
    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Counts:
    """Failures within the window, and when the latest of each kind happened."""

    pair: int
    pair_last: datetime | None
    address: int
    address_last: datetime | None
    name: int

    def under_attack(self, settings: Settings) -> bool:
        return self.name >= settings.signin_name_anomaly_failures


def delay_after(failures: int, free: int, settings: Settings) -> float:
    """Seconds the next attempt waits after ``failures`` when ``free`` are allowed."""
    if failures < free:
        return 0.0
    doublings = min(failures - free, _MAX_DOUBLINGS)
    return float(
        min(settings.signin_max_delay_seconds, settings.signin_base_delay_seconds * 2**doublings)
    )


def _key(username: str, client: str) -> tuple[str, str]:
    """The (name, address) failures are counted under: an IPv6 client as its /64, since one
    host may send from any address of its block (`vangnet.net.limited_as`)."""
    return username[:64], limited_as(client)[:64]


def counts(session: Session, *, username: str, client: str, settings: Settings) -> Counts:
    name, address = _key(username, client)
    since = utcnow() - timedelta(minutes=settings.signin_window_minutes)
    recent = select(func.count(), func.max(LoginAttempt.at)).where(LoginAttempt.at >= since)
    pair_n, pair_last = session.execute(
        recent.where(LoginAttempt.username == name, LoginAttempt.client == address)
    ).one()
    addr_n, addr_last = session.execute(recent.where(LoginAttempt.client == address)).one()
    name_n = session.scalar(
        select(func.count()).where(LoginAttempt.at >= since, LoginAttempt.username == name)
    )
    return Counts(int(pair_n or 0), pair_last, int(addr_n or 0), addr_last, int(name_n or 0))


def wait_seconds(c: Counts, settings: Settings, *, now: datetime | None = None) -> float:
    """How long (seconds) before this name may be tried from this address again; 0: now."""
    now = utcnow() if now is None else now
    free = 1 if c.under_attack(settings) else settings.review_login_attempts
    waits = [0.0]
    if c.pair_last is not None:
        until = c.pair_last + timedelta(seconds=delay_after(c.pair, free, settings))
        waits.append((until - now).total_seconds())
    if c.address_last is not None:
        delay = delay_after(c.address, settings.signin_address_failures, settings)
        waits.append((c.address_last + timedelta(seconds=delay) - now).total_seconds())
    return max(waits)


def _serialise(session: Session, name: str, address: str) -> None:
    """Attempts for one (name, address) run one at a time, across worker processes, so a
    burst of parallel guesses cannot all pass the check before any failure is recorded.
    PostgreSQL: a transaction-scoped advisory lock; SQLite: sign-ins already run in
    IMMEDIATE (write-locked) transactions."""
    if is_postgresql(session):
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"vangnet-signin:{name}\n{address}"},
        )


def check(session: Session, *, username: str, client: str, settings: Settings) -> Counts:
    """Raise TooManyAttempts (429, with the wait) if this attempt must wait; else the counts.
    Call first in the sign-in transaction (it serialises attempts for this name and address
    until the transaction ends)."""
    _serialise(session, *_key(username, client))
    c = counts(session, username=username, client=client, settings=settings)
    wait = wait_seconds(c, settings)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooManyAttempts(
            "too many failed sign-ins for this user from this address; "
            f"try again in {seconds} seconds",
            retry_after=seconds,
        )
    return c


def record_failure(session: Session, *, username: str, client: str, settings: Settings) -> float:
    """Count one failure; returns the wait it imposes on the next attempt (0: none yet)."""
    name, address = _key(username, client)
    now = utcnow()
    window = timedelta(minutes=settings.signin_window_minutes)
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - window))
    session.add(LoginAttempt(username=name, client=address, at=now))
    session.flush()
    return max(
        0.0,
        wait_seconds(
            counts(session, username=name, client=address, settings=settings), settings, now=now
        ),
    )


def record_success(session: Session, *, username: str, client: str) -> None:
    """A completed sign-in forgets the failures of this name from this address."""
    name, address = _key(username, client)
    session.execute(
        delete(LoginAttempt).where(LoginAttempt.username == name, LoginAttempt.client == address)
    )
