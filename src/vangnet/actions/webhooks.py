"""Signed webhooks through a transactional outbox.

`enqueue` adds a ``webhook_deliveries`` row in the caller's transaction (the one that writes
the alert); a `Deliverer` later POSTs it at least once, retrying with exponential backoff,
and moves it to the ``dead`` state after ``webhook_max_attempts`` failures (see `retry`).

For platform engineers: every delivery is ``POST <webhook_url>`` with a JSON body
``{"event": ..., "id": ..., "created_at": ..., "data": {...}}`` and these headers:

- ``X-Vangnet-Event``: the event name, e.g. ``stream.terminate``.
- ``Idempotency-Key``: equal to the body's ``id``; the same on every retry. Delivery is at
  least once, so act on a key once and answer 2xx again for a repeat.
- ``X-Vangnet-Timestamp``: unix seconds when this attempt was sent.
- ``X-Vangnet-Signature``: ``v1=`` + hex HMAC-SHA256 of ``<timestamp>.<raw body bytes>``
  under the shared secret (``webhook_secret`` or ``webhook_secret_file``).

To verify: take the raw request body bytes (before any JSON parsing), compute
``hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()``, compare
it with the header value after ``v1=`` in constant time (``hmac.compare_digest``), reject
timestamps more than five minutes from your clock, and remember the keys you have handled.
`verify` does all of this. Answer any 2xx to accept; anything else (including redirects,
which are not followed, and no answer within ``webhook_timeout_seconds``) is retried.

Deliveries go out under the egress policy (`vangnet.egress`): the webhook host's addresses
are checked (private, loopback, link-local... only when ``egress_allow`` allows them), the
connection goes to the checked address, and TLS certificates are verified. A delivery the
policy refuses is not sent: it is dead at once (``last_error`` says so), and can be retried
with `retry` once the setting or the URL is fixed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping, MutableSet
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.egress.client import egress_client
from vangnet.egress.policy import DestinationRefused, DestinationUnresolved, EgressPolicy
from vangnet.errors import AuthError, ConflictError, NotFoundError, ValidationError
from vangnet.store.models import WebhookDelivery, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vangnet-Signature"
TIMESTAMP_HEADER = "X-Vangnet-Timestamp"
EVENT_HEADER = "X-Vangnet-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_W = WebhookDelivery


class WebhookSignatureError(AuthError):
    """A received webhook is unsigned, wrongly signed, stale or a replay."""

    code = "invalid_signature"


def signing_secret(settings: Settings) -> bytes | None:
    """The HMAC key: ``webhook_secret``, else the stripped ``webhook_secret_file``, else None."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value().encode() or None
    if settings.webhook_secret_file is not None:
        try:
            return settings.webhook_secret_file.read_bytes().strip() or None
        except OSError as exc:
            raise ValidationError(f"cannot read webhook_secret_file: {exc.strerror}") from None
    return None


def sign(body: bytes, *, secret: bytes, timestamp: int) -> str:
    """The signature header value of ``body`` sent at ``timestamp`` (unix seconds)."""
    return "v1=" + hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: bytes,
    tolerance: float = 300,
    now: float | None = None,
    seen: MutableSet[str] | None = None,
) -> None:
    """Check a received webhook (for receivers); raises `WebhookSignatureError` if bad.

    With ``seen``, an ``Idempotency-Key`` already in it is a replay; a good one is added."""
    lower = {key.lower(): value for key, value in headers.items()}
    signature = lower.get(SIGNATURE_HEADER.lower(), "")
    raw_timestamp = lower.get(TIMESTAMP_HEADER.lower(), "")
    if not signature or not raw_timestamp:
        raise WebhookSignatureError("missing webhook signature or timestamp header")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise WebhookSignatureError("malformed webhook timestamp") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookSignatureError("webhook timestamp outside the allowed tolerance")
    if not hmac.compare_digest(
        signature.encode(), sign(body, secret=secret, timestamp=timestamp).encode()
    ):
        raise WebhookSignatureError("webhook signature does not match")
    if seen is not None:
        key = lower.get(IDEMPOTENCY_HEADER.lower(), "")
        if not key or key in seen:
            raise WebhookSignatureError("webhook idempotency key missing or already seen")
        seen.add(key)


def enqueue(
    session: Session,
    *,
    event: str,
    payload: Mapping[str, Any],
    idempotency_key: str,
    url: str,
    alert_id: int | None = None,
    not_before: datetime | None = None,
) -> int | None:
    """Add a pending delivery in the caller's transaction (not committed); returns its id,
    the existing row's id if the key was already queued, or None when ``url`` (the
    ``webhook_url`` setting, passed in by the caller) is empty.

    ``not_before`` holds the delivery in the outbox until then (a decision's undo window)."""
    if not url:
        return None
    if not 0 < len(idempotency_key) <= 64 or not 0 < len(event) <= 64:
        raise ValidationError("webhook event and idempotency key must be 1-64 characters")
    if not url.startswith(("http://", "https://")):
        raise ValidationError("webhook URL must be http or https")
    existing = session.scalar(select(_W.id).where(_W.idempotency_key == idempotency_key))
    if existing is not None:
        return existing
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    document = {"event": event, "id": idempotency_key, "created_at": created, "data": payload}
    try:
        body = json.dumps(document, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"webhook payload is not JSON: {exc}") from None
    row = _W(idempotency_key=idempotency_key, event=event, url=url, body=body, alert_id=alert_id)
    if not_before is not None:
        row.next_attempt_at = not_before
    try:
        with session.begin_nested():  # a concurrent enqueue of the same key may win
            session.add(row)
    except IntegrityError:
        return session.scalar(select(_W.id).where(_W.idempotency_key == idempotency_key))
    return row.id


def dead_letters(session: Session, *, limit: int = 100) -> list[WebhookDelivery]:
    """Deliveries that exhausted their attempts, oldest first."""
    return list(session.scalars(select(_W).where(_W.status == "dead").order_by(_W.id).limit(limit)))


def retry(session: Session, delivery_id: int) -> None:
    """Queue a dead delivery again, due now, with its attempts reset (not committed)."""
    row = session.get(_W, delivery_id)
    if row is None:
        raise NotFoundError(f"webhook delivery {delivery_id} not found")
    if row.status != "dead":
        raise ConflictError(f"webhook delivery {delivery_id} is {row.status}, not dead")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()


#: How long a claim lasts past its last renewal, in timeouts, plus a margin in seconds: a
#: claim of a process that died runs out this long after it last renewed it.
CLAIM_TIMEOUTS = 2
CLAIM_MARGIN_SECONDS = 2.0
#: Renewals per claim length: a sender renews its claim this many times before it would run out.
CLAIM_RENEWALS = 4


def claim_seconds(timeout_seconds: float) -> float:
    """How long a delivery claim lasts unless renewed (12 s for the default 5 s timeout)."""
    return CLAIM_TIMEOUTS * timeout_seconds + CLAIM_MARGIN_SECONDS


class _Claim:
    """One deliverer's claim on one outbox row while it sends it.

    The row's ``next_attempt_at`` is the claim's expiry. A heartbeat thread moves it forward
    every ``length / CLAIM_RENEWALS`` while the request is under way, with a compare-and-set
    on the value it last wrote, so a sender that is alive keeps its claim however long the
    attempt takes, and the claim of a process that died runs out ``length`` after its last
    renewal (then another deliverer sends the row: at least once, same idempotency key)."""

    def __init__(
        self, engine: Engine, row_id: int, expires: datetime, *, length: timedelta, skew: timedelta
    ) -> None:
        self.expires = expires
        self.lost = False
        self._engine, self._row_id, self._length, self._skew = engine, row_id, length, skew
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"vangnet-webhook-claim-{row_id}", daemon=True
        )

    def __enter__(self) -> _Claim:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def renew(self) -> bool:
        """Push the expiry forward; False if the claim is no longer ours."""
        expires = utcnow() + self._skew + self._length
        ours = update(_W).where(
            _W.id == self._row_id, _W.status == "pending", _W.next_attempt_at == self.expires
        )
        with self._engine.begin() as conn:
            if conn.execute(ours.values(next_attempt_at=expires)).rowcount != 1:
                return False
        self.expires = expires
        return True

    def _beat(self) -> None:
        every = self._length.total_seconds() / CLAIM_RENEWALS
        while not self._done.wait(every):
            try:
                if not self.renew():
                    self.lost = True
                    log.warning("webhook %s: claim lost while sending it", self._row_id)
                    return
            except Exception:  # the database is busy or away: try again at the next beat
                log.warning("webhook %s: claim renewal failed", self._row_id, exc_info=True)


class Deliverer:
    """Sends due outbox rows. Safe to run several on one database: each row is claimed
    (its ``next_attempt_at`` moved to a short expiry, renewed while the request is under
    way: see `_Claim`) before it is sent."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings,
        client: httpx.Client | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._timeout = self._settings.webhook_timeout_seconds
        self._lease = timedelta(seconds=claim_seconds(self._timeout))
        self._owns_client = client is None
        self._policy = EgressPolicy.from_settings(self._settings)
        self._client = client or egress_client(self._policy, timeout=self._timeout)
        self._warned = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Look for due deliveries now (a new alert), not at the next poll."""
        self._wake.set()

    def run_once(self, *, now: datetime | None = None, limit: int = 100) -> int:
        """Attempt every due pending delivery (up to ``limit``); returns how many.

        ``now`` fixes the scheduling clock (tests); signatures always use the real time."""
        at = now or utcnow()
        if self._owns_client and self._client.is_closed:
            self._client = egress_client(self._policy, timeout=self._timeout)
        with Session(self._engine) as session:  # read, then close before any HTTP call
            due = session.scalars(
                select(_W)
                .where(_W.status == "pending", _W.next_attempt_at <= at)
                .order_by(_W.next_attempt_at, _W.id)
                .limit(limit)
            ).all()
        if not due:
            return 0
        secret = signing_secret(self._settings)
        if secret is None and not self._warned:
            self._warned = True
            log.warning("no webhook_secret configured: webhooks are sent unsigned")
        attempted = 0
        for row in due:
            clock = now or utcnow()
            lease = clock + self._lease
            claim = update(_W).where(
                _W.id == row.id, _W.status == "pending", _W.next_attempt_at == row.next_attempt_at
            )
            with self._engine.begin() as conn:
                if conn.execute(claim.values(next_attempt_at=lease)).rowcount != 1:
                    continue  # another deliverer has it
            attempted += 1
            skew = clock - utcnow()  # renewals keep to the scheduling clock ``now`` sets
            with _Claim(self._engine, row.id, lease, length=self._lease, skew=skew) as held:
                status, error, refused = self._send(row, secret)
            self._record(row, held.expires, now or utcnow(), status, error, refused=refused)
        return attempted

    def _send(
        self, row: WebhookDelivery, secret: bytes | None
    ) -> tuple[int | None, str | None, bool]:
        """(HTTP status, error, refused by the egress policy)."""
        timestamp, body = int(time.time()), row.body.encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: row.event}
        headers |= {IDEMPOTENCY_HEADER: row.idempotency_key, TIMESTAMP_HEADER: str(timestamp)}
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, secret=secret, timestamp=timestamp)
        options: dict[str, Any] = {"timeout": self._timeout, "follow_redirects": False}
        try:  # streamed, so that the answer's body is never read
            with self._client.stream(
                "POST", row.url, content=body, headers=headers, **options
            ) as r:
                code = r.status_code
        except DestinationUnresolved:  # DNS may be back later: an ordinary failed attempt
            return None, "the webhook host could not be resolved", False
        except DestinationRefused as exc:  # not sent: the policy forbids the destination
            return None, f"{exc.code}: {exc.message}", True
        except Exception as exc:  # timeout, refused, bad URL...: all are failed attempts
            error = f"{type(exc).__name__}: {exc}"
            error = error.replace(secret.decode(errors="replace"), "***") if secret else error
            return None, error, False
        return code, None if 200 <= code < 300 else f"HTTP {code}", False

    def _record(
        self,
        row: WebhookDelivery,
        lease: datetime,
        at: datetime,
        code: int | None,
        error: str | None,
        *,
        refused: bool = False,
    ) -> None:
        mine = update(_W).where(_W.id == row.id, _W.status == "pending")
        values: dict[str, Any] = {"last_status": code, "last_error": error and error[:1000]}
        if error is None:
            values |= {"status": "delivered", "delivered_at": at}
        else:
            attempts = row.attempts + 1
            delay = self._settings.webhook_backoff_seconds * 2 ** (attempts - 1)
            dead = refused or attempts >= self._settings.webhook_max_attempts
            mine = mine.where(_W.next_attempt_at == lease)  # only while our claim holds
            values |= {"attempts": attempts, "status": "dead" if dead else "pending"}
            delay = min(delay, self._settings.webhook_backoff_max_seconds)
            values["next_attempt_at"] = at + timedelta(seconds=delay)
            (log.error if dead else log.warning)(
                "webhook %s (%s) failed, attempt %d: %s", row.id, row.event, attempts, error
            )
        with self._engine.begin() as conn:
            if conn.execute(mine.values(**values)).rowcount != 1:
                log.warning("webhook %s was changed by someone else during delivery", row.id)

    def start(self, *, poll_seconds: float = 0.5) -> None:
        """Deliver in a background daemon thread until `stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(poll_seconds,), name="vangnet-webhooks", daemon=True
        )
        self._thread.start()

    def _loop(self, poll_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the database may be away for a while; keep trying
                log.exception("webhook delivery round failed")
            self._wake.wait(poll_seconds)
            self._wake.clear()

    def stop(self) -> None:
        """Stop the background thread (after its current attempt) and close our client."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            # an attempt takes at most four timeouts (connect, write, read, pool)
            self._thread.join(timeout=4 * self._timeout + self._lease.total_seconds())
            self._thread = None
        if self._owns_client:
            self._client.close()
