"""Per-API-key request rates: a token bucket per key, per server (`vangnet.http.buckets`:
shared by the worker processes of ``vangnet serve --workers N``), or shared by several servers
through Redis (`vangnet.http.redis_buckets`).

A key may make ``burst`` requests at once and ``rate`` per second on average; beyond that it
is answered 429 ``rate_limited`` with ``Retry-After`` (seconds until a request fits again).
Limits for traffic without a key (per address) are applied in front of the routes, not here.
"""

from __future__ import annotations

import math
import time

from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.http.buckets import Buckets, LocalBuckets
from vangnet.http.redis_buckets import RedisBuckets


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


class RateLimiter:
    """Token buckets per key id; `take` is called once per authenticated request."""

    def __init__(self, rate: float, burst: int, buckets: Buckets | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: Buckets = buckets if buckets is not None else LocalBuckets()

    @classmethod
    def from_settings(cls, settings: Settings, buckets: Buckets | None = None) -> RateLimiter:
        return cls(settings.key_rate_per_second, settings.key_rate_burst, buckets)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def remote(self) -> bool:
        """True when `take` waits on the network (Redis): callers on an event loop run it in
        a thread, so a slow Redis slows the requests it counts, not every other one."""
        return self.enabled and isinstance(self.buckets, RedisBuckets)

    def take(self, key_id: int, *, now: float | None = None) -> None:
        """Spend one request of ``key_id``; `RateLimitedError` when it has none left."""
        if not self.enabled:
            return
        now = time.monotonic() if now is None else now
        wait = self.buckets.take(f"key:{key_id}", rate=self.rate, burst=self.burst, now=now)
        if wait > 0:
            raise RateLimitedError(
                f"this API key made more than {self.rate:g} requests per second "
                f"(burst {self.burst}); retry in {wait:.1f} s",
                retry_after=wait,
            )
