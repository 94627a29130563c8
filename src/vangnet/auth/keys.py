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
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.store.models import ApiKey, utcnow

__all__ = [
    "ROLE_PERMISSIONS",
    "ApiKeyView",
    "Permission",
    "Role",
    "create_key",
    "has_permission",
    "list_keys",
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

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def can(self, permission: Permission) -> bool:
        return not self.revoked and has_permission(self.role, permission)

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyView:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            role=Role(key.role),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            last_used_at=key.last_used_at,
        )


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValidationError(f"unknown role {role!r} (known: {known})") from None


def create_key(session: Session, *, name: str, role: Role | str) -> tuple[ApiKeyView, str]:
    """Create a key; return it and its secret (shown once, never stored)."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 255:
        raise ValidationError("a key needs a name of 1-255 characters")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name, prefix=secret[:SHOWN_CHARS], key_hash=hash_secret(secret), role=_role(role)
    )
    session.add(key)
    session.flush()
    return ApiKeyView.of(key), secret


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKeyView]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return [ApiKeyView.of(k) for k in session.scalars(stmt)]


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
    return ApiKeyView.of(row)


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
    return ApiKeyView.of(row)
