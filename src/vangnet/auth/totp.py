"""A second factor for web users: TOTP (RFC 6238, 6 digits, 30-second steps, SHA-1 as every
authenticator app expects) and one-time recovery codes.

- The secret is stored AES-256-GCM encrypted (associated data: the user's id) with a key that
  is not in the database: HKDF-SHA256 of the vault key (``VANGNET_VAULT_KEY``, else
  ``VANGNET_VAULT_KEY_FILE``, else ``$VANGNET_HOME/vault.key``, mode 0600). A copy of the
  database alone does not give the secrets.
- A code is accepted for the current step and one step either side (clock drift), and only
  for a step later than the last one used: a code, once used, is refused (no replay). The
  step is claimed with a compare-and-set UPDATE, so two workers cannot both accept it.
- Recovery codes (10 random characters each) are shown once; only their SHA-256 is kept,
  and each works once.

Every change is audited in the caller's transaction (no commit here).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.auth.roles import Role
from vangnet.config import Settings
from vangnet.errors import ConflictError, NotFoundError, ValidationError, VangnetError
from vangnet.store.models import User, WebSession, utcnow
from vangnet.store.vault import derived_key

ISSUER = "Vangnet"
STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 8
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_LENGTH = 10
_SEALED = "v1:"
_NONCE = 12


class TotpState(StrEnum):
    NONE = "none"  # no second factor
    PENDING = "pending"  # enrolment started, first code not yet given
    ACTIVE = "active"


class TotpKeyError(VangnetError):
    """A stored secret cannot be decrypted (the vault key changed, or the row was altered)."""

    code = "totp_key_error"
    status = 500


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str  # base32, to type into an authenticator app
    uri: str  # otpauth://totp/... (what a QR code would hold)


def _aead(settings: Settings) -> AESGCM:
    return AESGCM(derived_key(settings, "totp-secrets"))


def _seal(settings: Settings, user_id: int, secret: str) -> str:
    nonce = secrets.token_bytes(_NONCE)
    sealed = _aead(settings).encrypt(nonce, secret.encode(), f"totp:{user_id}".encode())
    return _SEALED + base64.b64encode(nonce + sealed).decode("ascii")


def _unseal(settings: Settings, user_id: int, stored: str) -> str:
    if not stored.startswith(_SEALED):
        raise TotpKeyError("stored second-factor secret has an unknown format")
    try:
        blob = base64.b64decode(stored[len(_SEALED) :], validate=True)
        plain = _aead(settings).decrypt(blob[:_NONCE], blob[_NONCE:], f"totp:{user_id}".encode())
    except (ValueError, InvalidTag):
        raise TotpKeyError(
            "cannot decrypt the second-factor secret (wrong vault key, or the row was altered); "
            "reset it with `vangnet user totp-reset`"
        ) from None
    return plain.decode("ascii")


def _row(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def state_of(user: User) -> TotpState:
    if user.totp_confirmed_at is not None and user.totp_secret:
        return TotpState.ACTIVE
    return TotpState.PENDING if user.totp_secret else TotpState.NONE


def state(session: Session, user_id: int) -> TotpState:
    user = session.get(User, user_id)
    return TotpState.NONE if user is None else state_of(user)


def required_for(role: Role, settings: Settings) -> bool:
    return role.value in settings.web_totp_required_roles


def _uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def begin_enrolment(
    session: Session, username: str, *, settings: Settings, actor: str
) -> Enrolment:
    """A new secret for ``username`` (or the one already pending), to confirm with a code."""
    user = _row(session, username)
    current = state_of(user)
    if current is TotpState.ACTIVE:
        raise ConflictError(
            f"user {username!r} already has a second factor; an admin resets it with "
            "`vangnet user totp-reset`"
        )
    if current is TotpState.PENDING and user.totp_secret:
        secret = _unseal(settings, user.id, user.totp_secret)
    else:
        secret = pyotp.random_base32(length=32)
        user.totp_secret = _seal(settings, user.id, secret)
        user.totp_last_step = None
        user.updated_at = utcnow()
        session.flush()
        chain.record(session, actor=actor, action="user.totp.begin", target=f"user:{username}")
    return Enrolment(secret=secret, uri=_uri(secret, username))


def enrol_now(
    session: Session, username: str, *, settings: Settings, actor: str
) -> tuple[Enrolment, list[str]]:
    """Give ``username`` an active second factor now, set up by an administrator (no trust
    on first use: whoever learns the password before the person signs in cannot enrol a
    device of their own). Returns the secret and link to hand to the person, and their
    recovery codes (shown once). ConflictError if they already have one."""
    user = _row(session, username)
    if state_of(user) is TotpState.ACTIVE:
        raise ConflictError(
            f"user {username!r} already has a second factor; reset it first with "
            "`vangnet user totp-reset`"
        )
    secret = pyotp.random_base32(length=32)
    codes = _recovery_codes()
    user.totp_secret = _seal(settings, user.id, secret)
    user.totp_last_step = None
    user.totp_confirmed_at = utcnow()
    user.totp_recovery = [_digest(c) for c in codes]
    user.updated_at = utcnow()
    session.flush()
    chain.record(
        session,
        actor=actor,
        action="user.totp.enrol",
        target=f"user:{username}",
        after={"totp": TotpState.ACTIVE.value, "recovery_codes": len(codes)},
        details={"enrolled_by": "administrator"},
    )
    return Enrolment(secret=secret, uri=_uri(secret, username)), codes


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, after: int | None, now: float) -> int | None:
    """The earliest step within the drift window, later than ``after``, whose code is ``code``."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    return found


def _claim_step(session: Session, user_id: int, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was (atomic)."""
    result = session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return cast("CursorResult[Any]", result).rowcount == 1


def _recovery_codes() -> list[str]:
    return [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]


def _digest(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def confirm_enrolment(
    session: Session,
    username: str,
    code: str,
    *,
    settings: Settings,
    actor: str,
    now: float | None = None,
) -> list[str]:
    """Turn the pending secret on with its first right code; returns the recovery codes
    (shown once, kept only as hashes). ValidationError if the code is wrong."""
    user = _row(session, username)
    if state_of(user) is not TotpState.PENDING or not user.totp_secret:
        raise ConflictError("no second-factor enrolment is pending for this user")
    secret = _unseal(settings, user.id, user.totp_secret)
    step = _matching_step(secret, _normalise(code), user.totp_last_step, _now(now))
    if step is None or not _claim_step(session, user.id, step):
        raise ValidationError("wrong code: type the 6 digits your authenticator app shows now")
    session.refresh(user)
    codes = _recovery_codes()
    user.totp_confirmed_at = utcnow()
    user.totp_recovery = [_digest(c) for c in codes]
    user.updated_at = utcnow()
    session.flush()
    chain.record(
        session,
        actor=actor,
        action="user.totp.enrol",
        target=f"user:{username}",
        after={"totp": TotpState.ACTIVE.value, "recovery_codes": len(codes)},
    )
    return codes


class Factor(StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery_code"


def verify(
    session: Session, user_id: int, code: str, *, settings: Settings, now: float | None = None
) -> Factor | None:
    """Check a sign-in code: a TOTP code (each step once) or an unused recovery code (which
    is then used up). Returns what was accepted, or None."""
    user = session.get(User, user_id, with_for_update=True)
    if user is None or state_of(user) is not TotpState.ACTIVE or not user.totp_secret:
        return None
    given = _normalise(code)
    secret = _unseal(settings, user.id, user.totp_secret)
    step = _matching_step(secret, given, user.totp_last_step, _now(now))
    if step is not None:
        return Factor.TOTP if _claim_step(session, user.id, step) else None
    if len(given) != _RECOVERY_LENGTH:
        return None
    digest = _digest(given)
    left = list(user.totp_recovery or [])
    if not any(hmac.compare_digest(digest, d) for d in left):
        return None
    user.totp_recovery = [d for d in left if not hmac.compare_digest(digest, d)]
    user.updated_at = utcnow()
    session.flush()
    chain.record(
        session,
        actor=user.username,
        action="user.totp.recovery_used",
        target=f"user:{user.username}",
        after={"recovery_codes_left": len(user.totp_recovery)},
    )
    return Factor.RECOVERY


def recovery_left(session: Session, user_id: int) -> int:
    user = session.get(User, user_id)
    return len(user.totp_recovery or []) if user is not None else 0


def reset(session: Session, username: str, *, actor: str) -> bool:
    """Remove ``username``'s second factor (lost device) and end their web sessions; they set
    up a new one at their next sign-in. Returns whether there was one to remove."""
    user = _row(session, username)
    before = state_of(user)
    user.totp_secret = None
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.totp_recovery = None
    user.updated_at = utcnow()
    for web in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
        session.delete(web)
    session.flush()
    chain.record(
        session,
        actor=actor,
        action="user.totp.reset",
        target=f"user:{username}",
        before={"totp": before.value},
        after={"totp": TotpState.NONE.value},
    )
    return before is not TotpState.NONE


def _now(now: float | None) -> float:
    return time.time() if now is None else now
