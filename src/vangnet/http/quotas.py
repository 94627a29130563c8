"""Per-API-key request rates: a token bucket per key in each server process.

A key may make ``burst`` requests at once and ``rate`` per second on average; beyond that it
is answered 429 ``rate_limited`` with ``Retry-After`` (seconds until a request fits again).
Limits for traffic without a key (per address) are applied in front of the routes, not here.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from vangnet.config import Settings
from vangnet.errors import VangnetError

#: Buckets kept before idle ones are dropped (a full bucket forgets nothing when dropped).
MAX_BUCKETS = 10_000


class RateLimitedError(VangnetError):
    """An API key made more requests than its rate allows."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per key id; `take` is called once per authenticated request."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(settings.key_rate_per_second, settings.key_rate_burst)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key_id: int, *, now: float | None = None) -> None:
        """Spend one request of ``key_id``; `RateLimitedError` when it has none left."""
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                if len(self._buckets) >= MAX_BUCKETS:
                    self._forget_full(now)
                bucket = self._buckets[key_id] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return
            wait = (1.0 - bucket.tokens) / self.rate
        raise RateLimitedError(
            f"this API key made more than {self.rate:g} requests per second "
            f"(burst {self.burst}); retry in {wait:.1f} s",
            retry_after=wait,
        )

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (forgetting them changes nothing)."""
        full = [
            k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst
        ]
        for key_id in full:
            del self._buckets[key_id]
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: start over rather than grow
            self._buckets.clear()
