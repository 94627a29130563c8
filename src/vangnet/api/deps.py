"""What every route needs: the services of this process, a database session, the caller."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.auth.keys import ApiKeyView, Permission, has_permission, verify_key
from vangnet.config import Settings
from vangnet.errors import AuthError, ForbiddenError
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher


@dataclass
class Services:
    settings: Settings
    engine: Engine
    indexes: SignalIndexes
    matcher: Matcher
    auth_required: bool


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def db_session(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A session per request; the route commits what it changes."""
    with Session(svc.engine) as session:
        yield session


@dataclass(frozen=True)
class Caller:
    key: ApiKeyView | None  # None in demo mode (no keys, loopback only)

    def can(self, permission: Permission) -> bool:
        return self.key is None or has_permission(self.key.role, permission)


def _secret_from(request: Request) -> str | None:
    header = request.headers.get("x-api-key")
    if header:
        return header.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def caller(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    session: Annotated[Session, Depends(db_session)],
) -> Caller:
    secret = _secret_from(request)
    if secret is None:
        if not svc.auth_required:
            return Caller(key=None)
        raise AuthError("an API key is required: send it as 'X-API-Key: <key>' or a bearer token")
    key = verify_key(session, secret)
    if key is None:
        raise AuthError("the API key is not valid or has been revoked")
    session.commit()  # last_used_at
    return Caller(key=key)


def require(permission: Permission) -> Callable[..., Caller]:
    """Dependency: the caller must hold ``permission``."""

    def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not who.can(permission):
            role = who.key.role if who.key else "none"
            raise ForbiddenError(f"role {role!s} may not {permission.value.replace('_', ' ')}")
        return who

    return check
