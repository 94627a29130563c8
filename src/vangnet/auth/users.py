"""People who sign in to the web UI: accounts, Argon2id password hashes, wellness settings.

Every change is written to the audit log in the caller's transaction (no commit here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.auth.roles import USER_ROLES, Role
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.store.models import User, WebSession, utcnow

_HASHER = PasswordHasher()  # Argon2id with the library's current defaults
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

# Wellness defaults: what a new reviewer sees before changing anything.
DEFAULT_PREFERENCES: dict[str, Any] = {"blur": 24, "greyscale": True}
# A dummy hash to verify against when the user does not exist (same time either way).
_DUMMY = _HASHER.hash("vangnet-no-such-user")


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    role: Role
    disabled: bool
    preferences: dict[str, Any]
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            id=user.id,
            username=user.username,
            role=Role(user.role),
            disabled=user.disabled,
            preferences={**DEFAULT_PREFERENCES, **(user.preferences or {})},
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "disabled": self.disabled,
            "preferences": self.preferences,
            "created_at": self.created_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


def _check_role(role: Role | str) -> Role:
    try:
        value = Role(role)
    except ValueError:
        value = None
    if value not in USER_ROLES:
        known = ", ".join(r.value for r in USER_ROLES)
        raise ValidationError(f"unknown user role {role!r} (known: {known})")
    assert value is not None
    return value


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(f"a password needs {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


def _row(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def create_user(
    session: Session, *, username: str, password: str, role: Role | str, actor: str
) -> UserView:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ValidationError(
            "a user name is 1-64 letters, digits and . _ @ - (starting with a letter or digit)"
        )
    value = _check_role(role)
    check_password(password)
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise ConflictError(f"user {username!r} already exists")
    user = User(
        username=username,
        password_hash=_HASHER.hash(password),
        role=value.value,
        preferences=dict(DEFAULT_PREFERENCES),
    )
    session.add(user)
    session.flush()
    chain.record(
        session,
        actor=actor,
        action="user.create",
        target=f"user:{username}",
        after={"role": value.value, "disabled": False},
    )
    return UserView.of(user)


def list_users(session: Session) -> list[UserView]:
    return [UserView.of(u) for u in session.scalars(select(User).order_by(User.id))]


def get_user(session: Session, username: str) -> UserView:
    return UserView.of(_row(session, username))


def user_by_id(session: Session, user_id: int) -> UserView | None:
    user = session.get(User, user_id)
    return UserView.of(user) if user is not None else None


def set_disabled(session: Session, username: str, *, disabled: bool, actor: str) -> UserView:
    """Disable (or enable) a user; disabling ends their web sessions at once."""
    user = _row(session, username)
    if user.disabled != disabled:
        before = user.disabled
        user.disabled = disabled
        user.updated_at = utcnow()
        if disabled:
            for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
                session.delete(web)
        session.flush()
        chain.record(
            session,
            actor=actor,
            action="user.disable" if disabled else "user.enable",
            target=f"user:{username}",
            before={"disabled": before},
            after={"disabled": disabled},
        )
    return UserView.of(user)


def set_role(session: Session, username: str, *, role: Role | str, actor: str) -> UserView:
    user = _row(session, username)
    value = _check_role(role)
    if user.role != value.value:
        before = user.role
        user.role = value.value
        user.updated_at = utcnow()
        session.flush()
        chain.record(
            session,
            actor=actor,
            action="user.role",
            target=f"user:{username}",
            before={"role": before},
            after={"role": value.value},
        )
    return UserView.of(user)


def set_password(session: Session, username: str, *, password: str, actor: str) -> None:
    user = _row(session, username)
    user.password_hash = _HASHER.hash(check_password(password))
    user.updated_at = utcnow()
    for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        session.delete(web)
    session.flush()
    chain.record(session, actor=actor, action="user.password", target=f"user:{username}")


def set_preferences(
    session: Session, username: str, *, blur: int, greyscale: bool, actor: str
) -> UserView:
    """Wellness settings: blur strength 0-64 and greyscale previews."""
    if not isinstance(blur, int) or not 0 <= blur <= 64:
        raise ValidationError("blur strength is 0-64")
    user = _row(session, username)
    before = {**DEFAULT_PREFERENCES, **(user.preferences or {})}
    after = {**before, "blur": blur, "greyscale": bool(greyscale)}
    if after != before:
        user.preferences = after
        user.updated_at = utcnow()
        session.flush()
        chain.record(
            session,
            actor=actor,
            action="user.preferences",
            target=f"user:{username}",
            before=before,
            after=after,
        )
    return UserView.of(user)


def authenticate(session: Session, username: str, password: str) -> UserView | None:
    """The user if the password is right and the account enabled, else None (the same work
    is done for unknown names, so timing does not tell which names exist)."""
    user = None
    if isinstance(username, str) and USERNAME.fullmatch(username):
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
    stored = user.password_hash if user is not None else _DUMMY
    try:
        _HASHER.verify(stored, password if isinstance(password, str) else "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = utcnow()
    session.flush()
    return UserView.of(user)
