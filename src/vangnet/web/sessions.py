"""Web sessions: a random token in an HttpOnly, SameSite=Strict cookie; the database keeps
its SHA-256, the user, a CSRF token, the expiry and how many items were opened (for the
break reminder). Failed sign-ins are throttled in `vangnet.web.throttle`.

A session has a stage: ``full`` (signed in), or half-way through signing in after a right
password: ``totp`` (the second-factor code is still to come) or ``enrol`` (the user's role
requires a second factor and they have none yet). Half-way sessions last a few minutes, open
no page but the step they are at (`lookup` does not return them), and are replaced by a new
token once the step is done.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete
from sqlalchemy.orm import Session

from vangnet.auth.users import UserView
from vangnet.config import Settings
from vangnet.store.models import User, WebSession, utcnow
from vangnet.web.throttle import TooManyAttempts

__all__ = ["COOKIE", "PENDING_MINUTES", "Stage", "TooManyAttempts", "WebIdentity"]

COOKIE = "vangnet_session"
PENDING_MINUTES = 10  # a half-way sign-in must be finished within this


class Stage(StrEnum):
    FULL = "full"
    TOTP = "totp"
    ENROL = "enrol"


@dataclass(frozen=True)
class WebIdentity:
    user: UserView
    token_hash: str
    csrf: str
    items_viewed: int
    stage: Stage = Stage.FULL


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(
    session: Session,
    user: UserView,
    *,
    client: str,
    settings: Settings,
    stage: Stage = Stage.FULL,
) -> str:
    """A new session for ``user`` at ``stage``; returns the cookie token (stored only as a
    hash). Half-way stages expire after `PENDING_MINUTES`."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    if stage is Stage.FULL:
        expires = now + timedelta(hours=settings.review_session_hours)
    else:
        expires = now + timedelta(minutes=PENDING_MINUTES)
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf=secrets.token_urlsafe(32),
            client=client[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            stage=stage.value,
        )
    )
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.flush()
    return token


def lookup(session: Session, token: str | None, *, settings: Settings) -> WebIdentity | None:
    """The signed-in user of ``token``, or None (unknown, expired, idle, user disabled, or
    only half-way signed in). Refreshes the idle clock at most once a minute (the caller
    commits)."""
    found = lookup_any(session, token, settings=settings)
    return found if found is not None and found.stage is Stage.FULL else None


def lookup_any(session: Session, token: str | None, *, settings: Settings) -> WebIdentity | None:
    """Like `lookup`, but half-way sessions too (the sign-in steps use it)."""
    if not token or len(token) > 128:
        return None
    row = session.get(WebSession, _digest(token))
    if row is None:
        return None
    now = utcnow()
    idle = timedelta(minutes=settings.review_idle_minutes)
    user = session.get(User, row.user_id)
    if row.expires_at < now or now - row.last_seen_at > idle or user is None or user.disabled:
        session.delete(row)
        session.flush()
        return None
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
        session.flush()
    return WebIdentity(
        UserView.of(user), row.token_hash, row.csrf, row.items_viewed, Stage(row.stage)
    )


def end(session: Session, token_hash: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def count_item(session: Session, token_hash: str) -> int:
    """One more item opened in this session; returns the new count."""
    row = session.get(WebSession, token_hash)
    if row is None:
        return 0
    row.items_viewed += 1
    session.flush()
    return row.items_viewed


def reset_items(session: Session, token_hash: str) -> None:
    row = session.get(WebSession, token_hash)
    if row is not None:
        row.items_viewed = 0
        session.flush()


def csrf_ok(identity: WebIdentity, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(identity.csrf, str(given))
