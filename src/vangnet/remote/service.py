"""What every remote classifier shares: its key, an HTTP client under the egress policy, one
token bucket per adapter and process, bounded retries, and errors that say what went wrong.

`RemoteService.post` sends one request and gives back a 2xx answer, or raises
`RemoteClassifierError` (a `ClassifierError`): `score_pictures` then marks every picture of
that batch failed, with the message, and counts them (nothing is dropped silently).

- **Rate.** Every request, retries included, first takes a token from the adapter's
  `TokenBucket` (``requests_per_second``, no burst: requests are spaced evenly), shared by
  the threads of the process (one adapter instance per process and settings).
- **Retried**, at most ``max_retries`` more times: timeouts, connection errors, a host
  that does not resolve, HTTP 429 and 5xx. A ``Retry-After`` (seconds or an HTTP date) is
  honoured for the whole adapter (the bucket is held, so other threads wait too); one longer
  than `MAX_RETRY_AFTER` fails at once. Without it the wait starts at `BACKOFF_SECONDS` and
  doubles, up to `BACKOFF_MAX_SECONDS`.
- **Not retried**: any other 4xx (a bad key, a bad request: trying again changes nothing)
  and a destination the egress policy refuses (nothing is sent).
- **Secrets.** The key never appears in an error message or a log line of this module; the
  URL is named by its host only.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from PIL import Image
from pydantic import SecretStr

from vangnet.config import Settings
from vangnet.egress.client import egress_client
from vangnet.egress.policy import DestinationRefused, DestinationUnresolved, EgressPolicy
from vangnet.signals.classifiers.base import ClassifierError, Pixels

log = logging.getLogger(__name__)

#: The first wait before retrying a request that failed without a Retry-After (then doubled).
BACKOFF_SECONDS: Final = 0.25
BACKOFF_MAX_SECONDS: Final = 8.0
#: A Retry-After longer than this fails the request instead of holding every picture back.
MAX_RETRY_AFTER: Final = 60.0
#: How much of an error answer's body a message quotes.
_QUOTE = 200


class RemoteClassifierError(ClassifierError):
    """A remote classifier could not score pictures: the service refused, failed, was out of
    reach, or answered in a shape the adapter does not know (the message says which)."""


class TokenBucket:
    """``rate`` requests a second, spaced evenly, for every thread that shares it: `take`
    waits (sleeps) until the caller's turn; `hold` makes every later caller wait."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("a token bucket needs a positive rate")
        self._rate = rate
        self._tokens = 1.0
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(1.0, self._tokens + (now - self._at) * self._rate)
        self._at = now

    def take(self) -> None:
        """Wait for a token and spend it (a caller that must wait reserves its turn)."""
        with self._lock:
            self._refill(time.monotonic())
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0.0 else -self._tokens / self._rate
        if wait > 0.0:
            time.sleep(wait)

    def hold(self, seconds: float) -> None:
        """No token for anyone before ``seconds`` from now (a service's Retry-After)."""
        with self._lock:
            self._refill(time.monotonic())
            self._tokens = min(self._tokens, 1.0 - seconds * self._rate)


def read_key(key: SecretStr | None, key_file: Path | None) -> str:
    """The API key: ``key_file``'s content (stripped) when set, else ``key``."""
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as error:
            raise RemoteClassifierError(
                f"cannot read the API key file {key_file}: {error}"
            ) from None
        if text:
            return text
    if key is not None and key.get_secret_value().strip():
        return key.get_secret_value().strip()
    raise RemoteClassifierError("no API key is set")


def encode(picture: Pixels, *, image_format: str = "JPEG", quality: int = 90) -> bytes:
    """``picture`` (RGB ``uint8``) as a JPEG (at ``quality``) or PNG file, in memory only."""
    buffer = io.BytesIO()
    image = Image.fromarray(picture, "RGB")
    if image_format == "JPEG":
        image.save(buffer, "JPEG", quality=quality)
    else:
        image.save(buffer, image_format)
    return buffer.getvalue()


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date);
    None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Endpoint:
    """How one adapter reaches its service (from the deployment's settings)."""

    name: str  # the classifier's name, for messages
    url: str
    key: str
    timeout: float
    per_second: float
    max_retries: int

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"


def endpoint_key(settings: Settings, prefix: str) -> Hashable:
    """What of ``settings`` an adapter named ``prefix`` depends on: its own settings and the
    egress policy's (one instance per process for each distinct value)."""
    own = tuple(
        value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
        if name.startswith(f"{prefix}_")
    )
    egress = (
        tuple(settings.egress_allow),
        settings.egress_tls_verify,
        settings.egress_ca_file,
    )
    return (own, egress)


class RemoteService:
    """One service's HTTP client, token bucket and retry rule (thread-safe)."""

    def __init__(self, endpoint: Endpoint, policy: EgressPolicy) -> None:
        self.endpoint = endpoint
        self._bucket = TokenBucket(endpoint.per_second)
        self._client = egress_client(policy, timeout=endpoint.timeout)

    def close(self) -> None:
        self._client.close()

    def post(self, **request: Any) -> httpx.Response:
        """POST ``request`` (httpx keyword arguments) to the endpoint: the 2xx answer, or
        `RemoteClassifierError` once it failed for good (see the module's rules)."""
        point = self.endpoint
        attempt = 0
        while True:
            self._bucket.take()
            wait = min(BACKOFF_MAX_SECONDS, BACKOFF_SECONDS * 2**attempt)
            try:
                answer = self._client.post(point.url, **request)
            except DestinationUnresolved:
                problem = f"{point.host} did not resolve"
            except DestinationRefused:
                raise RemoteClassifierError(
                    f"{point.name}: the egress policy refuses {point.host} (VANGNET_EGRESS_ALLOW);"
                    " nothing was sent"
                ) from None
            except httpx.TimeoutException:
                problem = f"no answer within {point.timeout:g} s"
            except httpx.TransportError as error:
                problem = f"connection to {point.host} failed ({type(error).__name__}: {error})"
            else:
                status = answer.status_code
                if 200 <= status < 300:
                    return answer
                quoted = _quote(answer)
                if status != 429 and status < 500:
                    raise RemoteClassifierError(
                        f"{point.name}: {point.host} answered HTTP {status}{quoted} "
                        "(not retried: check the API key and the request)"
                    )
                problem = f"{point.host} answered HTTP {status}{quoted}"
                after = retry_after(answer.headers.get("Retry-After"))
                if after is not None:
                    if after > MAX_RETRY_AFTER:
                        raise RemoteClassifierError(
                            f"{point.name}: {problem} and asked to wait {after:g} s "
                            f"(more than {MAX_RETRY_AFTER:g} s: not waited for)"
                        )
                    self._bucket.hold(after)  # every thread of this adapter waits
                    wait = 0.0
            if attempt >= point.max_retries:
                tries = attempt + 1
                raise RemoteClassifierError(
                    f"{point.name}: {problem}; gave up after {tries} "
                    f"{'try' if tries == 1 else 'tries'}"
                )
            log.warning(
                "%s: %s; trying again (%d of %d)",
                point.name,
                problem,
                attempt + 1,
                point.max_retries,
            )
            attempt += 1
            if wait > 0.0:
                time.sleep(wait)

    def answer_json(self, answer: httpx.Response) -> Any:
        """The answer's JSON body, or an error saying it is not JSON."""
        try:
            return json.loads(answer.content)
        except (ValueError, UnicodeError) as error:
            raise RemoteClassifierError(
                f"{self.endpoint.name}: {self.endpoint.host} answered HTTP {answer.status_code} "
                f"with a body that is not JSON ({error})"
            ) from None


def _quote(answer: httpx.Response) -> str:
    text = answer.text.strip().replace("\n", " ")
    if not text:
        return ""
    return f": {text[:_QUOTE]}{'...' if len(text) > _QUOTE else ''}"
