"""What every route needs: the services of this process, a database session, the caller."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from vangnet.auth.keys import ApiKeyView, Permission, has_permission, hash_secret, verify_key
from vangnet.config import Settings
from vangnet.errors import AuthError, ForbiddenError
from vangnet.http.quotas import RateLimiter
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.signals.classifiers.base import Classifier
from vangnet.store.db import writer
from vangnet.store.models import ApiKey
from vangnet.store.vault import Vault

if TYPE_CHECKING:
    from vangnet.http.feed import EventHub
    from vangnet.live.monitor import Monitor


# A row id in a URL: larger numbers cannot exist in either database (and would overflow it).
MAX_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id.")]
#: Audit sequence numbers are 64-bit (BIGINT on PostgreSQL, INTEGER on SQLite).
MAX_SEQ = 2**63 - 1
#: A row id to page after (0: from the start); larger ids cannot exist.
AfterId = Annotated[int, Query(ge=0, le=MAX_ID, description="Page after this id.")]
#: A row id given as a filter in a query string.
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="A row id.")]
#: An audit sequence number in a query string.
SeqNo = Annotated[int | None, Query(ge=1, le=MAX_SEQ, description="An audit sequence number.")]


class KeyCache:
    """Verified keys kept in memory, so busy clients cost no database round trip per request.

    Revocations reach every server within `EPOCH_SECONDS`: the cache is dropped whenever the
    set of revoked keys in the database changes (checked at most that often).
    """

    EPOCH_SECONDS = 0.25
    TTL_SECONDS = 60.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._keys: dict[str, tuple[ApiKeyView, float]] = {}
        self._epoch: tuple[int, object] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def _current_epoch(self) -> tuple[int, object]:
        with Session(self._engine) as session:
            count, latest = session.execute(
                select(func.count(ApiKey.revoked_at), func.max(ApiKey.revoked_at))
            ).one()
        return int(count), latest

    def cached(self, secret: str) -> ApiKeyView | None:
        """The key if it was verified lately and no revocation happened since; no I/O."""
        now = time.monotonic()
        if now - self._checked > self.EPOCH_SECONDS:
            return None  # time to look at the revocation epoch: `verify` does
        found = self._keys.get(hash_secret(secret))
        return found[0] if found is not None and found[1] > now else None

    def verify(self, secret: str) -> ApiKeyView | None:
        digest = hash_secret(secret)
        now = time.monotonic()
        with self._lock:
            if now - self._checked > self.EPOCH_SECONDS:
                epoch = self._current_epoch()
                if epoch != self._epoch:
                    self._keys.clear()
                    self._epoch = epoch
                self._checked = now
            cached = self._keys.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        with Session(writer(self._engine)) as session:  # may write last_used_at
            key = verify_key(session, secret)
            session.commit()
        with self._lock:
            if key is None:
                self._keys.pop(digest, None)
            else:
                if len(self._keys) > 10_000:
                    self._keys.clear()
                self._keys[digest] = (key, now + self.TTL_SECONDS)
        return key


@dataclass
class Services:
    settings: Settings
    engine: Engine
    indexes: SignalIndexes
    matcher: Matcher
    auth_required: bool
    keys: KeyCache
    monitor: Monitor  # the live streams this process runs (push, API-started, resumed)
    events: EventHub  # the monitor's events, fanned out to /v1/alerts/feed subscribers
    _vault: Vault | None = None
    #: Request rates per API key (VANGNET_KEY_RATE_PER_SECOND, VANGNET_KEY_RATE_BURST).
    rates: RateLimiter = field(default_factory=lambda: RateLimiter(0, 1))
    #: The classifiers this deployment enables (setting ``classifiers``), built once.
    classifiers: tuple[Classifier, ...] = ()

    def vault(self) -> Vault:
        """The evidence vault (its key is loaded on first use)."""
        if self._vault is None:
            self._vault = Vault.from_settings(self.settings)
        return self._vault


# Dependencies are `async def` when they do not block: FastAPI runs a plain `def` dependency
# in a worker thread, and a hop per dependency costs more than the whole index lookup.


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def db_session(svc: Annotated[Services, Depends(services)]) -> AsyncIterator[Session]:
    """A session per request (it connects only when used); the route commits its changes."""
    session = Session(svc.engine)
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


async def writer_session(svc: Annotated[Services, Depends(services)]) -> AsyncIterator[Session]:
    """A session for a route that reads, then writes rows the live monitor also writes
    (streams, alerts, webhooks): on SQLite its transaction waits for the write lock instead
    of failing with "database is locked" (see `vangnet.store.db.writer`)."""
    session = Session(writer(svc.engine))
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


@dataclass(frozen=True)
class Caller:
    key: ApiKeyView | None  # None in demo mode (no keys, loopback only)

    def can(self, permission: Permission) -> bool:
        return self.key is None or has_permission(self.key.role, permission)

    @property
    def actor(self) -> str:
        """Who this is in the audit log and chains of custody."""
        if self.key is None:
            return "local (no API key, loopback demo mode)"
        owner = f" of {self.key.owner}" if self.key.owner else ""
        return f"key:{self.key.prefix} ({self.key.name}){owner}"


def api_secret(headers: Mapping[str, str]) -> str | None:
    """The API key a request carries (``X-API-Key`` or a bearer token), if any."""
    header = headers.get("x-api-key")
    if header:
        return header.strip()
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def caller(request: Request, svc: Annotated[Services, Depends(services)]) -> Caller:
    secret = api_secret(request.headers)
    if secret is None:
        if not svc.auth_required:
            return Caller(key=None)
        raise AuthError("an API key is required: send it as 'X-API-Key: <key>' or a bearer token")
    key = svc.keys.cached(secret)
    if key is None:  # not verified lately: ask the database, off the event loop
        key = await run_in_threadpool(svc.keys.verify, secret)
    if key is None:
        raise AuthError("the API key is not valid or has been revoked")
    if svc.rates.remote:  # Redis: never wait for it on the event loop
        await run_in_threadpool(svc.rates.take, key.id)
    else:
        svc.rates.take(key.id)  # RateLimitedError (429) beyond the key's rate
    return Caller(key=key)


_DOING = {
    Permission.STREAMS: "start, stop or push to streams",
    Permission.ALERTS: "read or acknowledge alerts",
    Permission.REVIEW: "read review cases",
    Permission.DECIDE: "decide review cases",
    Permission.AUDIT: "read the audit log",
}


def not_allowed(role: str, permissions: tuple[Permission, ...]) -> str:
    """Why a role is refused a route that requires one of ``permissions``."""
    doing = " or ".join(_DOING.get(p, p.value.replace("_", " ")) for p in permissions)
    return f"role {role!s} may not {doing}"


#: The permissions each `require` dependency asks for: the request guard checks them before
#: a body is read (`vangnet.api.guard`).
REQUIRED: dict[Callable[..., Awaitable[Caller]], tuple[Permission, ...]] = {}


def require(*permissions: Permission) -> Callable[..., Awaitable[Caller]]:
    """Dependency: the caller must hold one of ``permissions``."""
    if not permissions:
        raise ValueError("require() needs at least one permission")

    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not any(who.can(p) for p in permissions):
            raise ForbiddenError(not_allowed(who.key.role if who.key else "none", permissions))
        return who

    REQUIRED[check] = permissions
    return check
