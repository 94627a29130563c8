"""CSRF protection of the sign-in form, before there is a session: a signed double-submit
token.

GET /ui/login sets a random nonce in an HttpOnly, SameSite=Strict cookie (``vangnet_login``,
path /ui/login) and puts ``nonce.issued.mac`` in the form, where ``mac`` is HMAC-SHA256 over
``nonce.issued`` with a key derived from the vault key (not in the database, the same in
every worker process). POST /ui/login is refused (403, nothing counted) unless the form's
token is well signed, younger than `MAX_AGE`, and carries the cookie's nonce. Another site
can neither read the form token nor set a matching cookie-and-token pair (the MAC needs the
server's key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from vangnet.config import Settings
from vangnet.store.vault import derived_key

COOKIE = "vangnet_login"
COOKIE_PATH = "/ui/login"
MAX_AGE = 2 * 3600  # seconds a sign-in form stays valid
_NONCE_CHARS = 32


def _mac(settings: Settings, payload: str) -> str:
    digest = hmac.new(derived_key(settings, "login-csrf"), payload.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def _valid_nonce(nonce: str | None) -> bool:
    return (
        nonce is not None
        and len(nonce) == _NONCE_CHARS
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in nonce)
    )


def issue(settings: Settings, cookie: str | None, *, now: float | None = None) -> tuple[str, str]:
    """(cookie nonce, form token): the browser's nonce is kept if it has a valid one."""
    nonce = cookie if cookie is not None and _valid_nonce(cookie) else None
    if nonce is None:
        nonce = secrets.token_urlsafe(24)  # 32 characters
    issued = str(int(time.time() if now is None else now))
    payload = f"{nonce}.{issued}"
    return nonce, f"{payload}.{_mac(settings, payload)}"


def check(
    settings: Settings, cookie: str | None, token: str | None, *, now: float | None = None
) -> bool:
    """Whether ``token`` (from the form) is ours, fresh, and matches ``cookie``."""
    if not cookie or not token or len(token) > 256 or not _valid_nonce(cookie):
        return False
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    nonce, issued, mac = parts
    if not hmac.compare_digest(_mac(settings, f"{nonce}.{issued}"), mac):
        return False
    age = (time.time() if now is None else now) - int(issued)
    return -60 <= age <= MAX_AGE and hmac.compare_digest(nonce, cookie)
