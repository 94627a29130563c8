"""API keys: roles, permissions, and the key service (caller owns the transaction).

A key is shown once, when created: ``vn_`` followed by 43 URL-safe characters. The database
keeps only its SHA-256 (and its first 8 characters, to tell keys apart in listings), so a
leaked database does not leak usable keys. Keys are 256-bit random, so an unsalted fast hash
is sufficient; lookup is by hash, then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.auth.roles import ROLE_PERMISSIONS, Permission, Role, has_permission
from vangnet.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from vangnet.store.models import ApiKey, User, utcnow

__all__ = [
    "ROLE_PERMISSIONS",
    "ApiKeyView",
    "Permission",
    "Role",
    "create_key",
    "has_permission",
    "list_keys",
    "person_named",
    "person_of_key",
    "person_of_user",
    "revoke_key",
    "verify_key",
]

KEY_PREFIX = "vn_"
SHOWN_CHARS = 8
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    id: int
    name: str
    prefix: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    user_id: int | None = None  # the person the key belongs to (a web user), if any
    owner: str | None = None  # their user name

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def can(self, permission: Permission) -> bool:
        return not self.revoked and has_permission(self.role, permission)

    @classmethod
    def of(cls, key: ApiKey, owner: str | None = None) -> ApiKeyView:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            role=Role(key.role),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
            user_id=key.user_id,
            owner=owner,
        )


def person_of_user(user_id: int) -> str:
    """How the two-person rule names a person: one web user, however they act."""
    return f"user:{user_id}"


def person_named(session: Session, name: str) -> str | None:
    """The person a CLI ``--as NAME`` names, when NAME is a web user's name."""
    user_id = session.scalar(select(User.id).where(User.username == name))
    return person_of_user(user_id) if user_id is not None else None


def _owner(session: Session, key: ApiKey) -> str | None:
    if key.user_id is None:
        return None
    user = session.get(User, key.user_id)
    return user.username if user is not None else None


def _find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username.strip())).one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}: a key belongs to an existing web user")
    if user.disabled:
        raise ConflictError(f"user {username!r} is disabled")
    return user


def person_of_key(session: Session, key: ApiKeyView) -> str:
    """The person a deciding key acts for; refused (ForbiddenError) when the key belongs to
    nobody or to a disabled user, so every decision is one person's."""
    if key.user_id is None:
        raise ForbiddenError(
            f"API key {key.prefix} ({key.name}) belongs to no person, so it may not decide "
            "cases: create a key for a user (vangnet key create NAME --role reviewer --user "
            "USERNAME, or the keys page of the web UI)"
        )
    user = session.get(User, key.user_id)
    if user is None or user.disabled:
        raise ForbiddenError(
            f"the owner of API key {key.prefix} ({key.name}) is disabled or gone: it may not "
            "decide cases"
        )
    return person_of_user(user.id)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValidationError(f"unknown role {role!r} (known: {known})") from None


def create_key(
    session: Session, *, name: str, role: Role | str, user: str | None = None
) -> tuple[ApiKeyView, str]:
    """Create a key, owned by the web user named ``user`` when given (decisions made with
    it are that person's); return it and its secret (shown once, never stored)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 255:
        raise ValidationError("a key needs a name of 1-255 characters")
    owner = _find_user(session, user) if user else None
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        prefix=secret[:SHOWN_CHARS],
        key_hash=hash_secret(secret),
        role=_role(role),
        user_id=owner.id if owner is not None else None,
    )
    session.add(key)
    session.flush()
    return ApiKeyView.of(key, owner.username if owner is not None else None), secret


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyView]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    names = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    return [
        ApiKeyView.of(k, names.get(k.user_id) if k.user_id is not None else None)
        for k in session.scalars(stmt)
    ]


def revoke_key(session: Session, key: int | str) -> ApiKeyView:
    """Revoke a key by id or by its shown prefix. Revoking twice is harmless."""
    if isinstance(key, int):
        rows = list(session.scalars(select(ApiKey).where(ApiKey.id == key)))
    else:
        rows = list(session.scalars(select(ApiKey).where(ApiKey.prefix == key)))
    if not rows:
        raise NotFoundError(f"no API key {key!r}")
    if len(rows) > 1:
        raise ConflictError(f"several keys start with {key!r}; revoke by id")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return ApiKeyView.of(row, _owner(session, row))


def verify_key(session: Session, secret: str) -> ApiKeyView | None:
    """The key for ``secret`` if it exists and is not revoked, else None.

    Records the time of use at most once a minute (the caller commits).
    """
    if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
    return ApiKeyView.of(row, _owner(session, row))
