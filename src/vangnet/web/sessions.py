"""Web sessions: a random token in an HttpOnly, SameSite=Strict cookie; the database keeps
its SHA-256, the user, a CSRF token, the expiry and how many items were opened (for the
break reminder). Failed sign-ins are counted per user name and per client address.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.review.users import UserView
from vangnet.store.models import LoginAttempt, User, WebSession, utcnow

COOKIE = "vangnet_session"
LOGIN_WINDOW = timedelta(minutes=15)


class TooManyAttempts(VangnetError):
    code = "too_many_attempts"
    status = 429


@dataclass(frozen=True)
class WebIdentity:
    user: UserView
    token_hash: str
    csrf: str
    items_viewed: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_rate(session: Session, *, username: str, client: str, settings: Settings) -> None:
    """Refuse (429) when this name or this address failed too often lately."""
    since = utcnow() - LOGIN_WINDOW
    failures = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.at >= since,
            or_(LoginAttempt.username == username[:64], LoginAttempt.client == client[:64]),
        )
    )
    if int(failures or 0) >= settings.review_login_attempts:
        raise TooManyAttempts(
            "too many failed sign-ins for this user or address; wait 15 minutes and try again"
        )


def record_failure(session: Session, *, username: str, client: str) -> None:
    session.add(LoginAttempt(username=username[:64], client=client[:64]))
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - LOGIN_WINDOW))


def start(session: Session, user: UserView, *, client: str, settings: Settings) -> str:
    """A new session for ``user``; returns the cookie token (stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf=secrets.token_urlsafe(32),
            client=client[:64],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.review_session_hours),
        )
    )
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.flush()
    return token


def lookup(session: Session, token: str | None, *, settings: Settings) -> WebIdentity | None:
    """The signed-in user of ``token``, or None (unknown, expired, idle, user disabled).
    Refreshes the idle clock at most once a minute (the caller commits)."""
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
    return WebIdentity(UserView.of(user), row.token_hash, row.csrf, row.items_viewed)


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
