"""Per-address limits on traffic that carries no valid credentials (the request guard's
bookkeeping). One instance per worker process; it lives on the event loop. The attempts per
minute are token buckets (`vangnet.http.buckets`), shared by the worker processes of one
server (and by several servers through Redis, `vangnet.http.redis_buckets`); the bodies being
read at once are counted per worker (each worker's own capacity)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.concurrency import run_in_threadpool

from vangnet.http.buckets import Buckets, LocalBuckets
from vangnet.http.redis_buckets import RedisBuckets

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 100_000  # bookkeeping never grows without bound (a flood of spoofed sources)


class AddressLimits:
    """Two limits per client address, for unauthenticated or failed-auth traffic only:

    - ``concurrent``: bodies being read at once without credentials (the sign-in form);
    - ``per_minute``: attempts (sign-in posts, requests refused for a missing/wrong key): up
      to ``per_minute`` at once, then ``per_minute`` a minute (a token bucket refilled
      continuously).
    """

    def __init__(
        self,
        *,
        concurrent: int,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        buckets: Buckets | None = None,
    ) -> None:
        self._concurrent = concurrent
        self._per_minute = per_minute
        self._clock = clock
        self._buckets: Buckets = buckets if buckets is not None else LocalBuckets()
        self._open: dict[str, int] = {}
        self.refused = 0  # requests answered 429 by these limits (a metric)

    def _bucket(self, address: str) -> dict[str, float]:
        rate = self._per_minute / WINDOW_SECONDS
        return {"rate": rate, "burst": float(self._per_minute), "now": self._clock()}

    def over_rate(self, address: str) -> bool:
        """True when ``address`` used up its attempts (counts a refusal)."""
        if self._buckets.peek(f"addr:{address}", **self._bucket(address)) > 0:
            self.refused += 1
            return True
        return False

    def attempt(self, address: str) -> None:
        """One more unauthenticated attempt by ``address``."""
        self._buckets.take(f"addr:{address}", **self._bucket(address))

    async def over_rate_soon(self, address: str) -> bool:
        """`over_rate` from the event loop: in a thread when the buckets are in Redis (a
        slow Redis must not hold up every other request of the worker)."""
        if isinstance(self._buckets, RedisBuckets):
            return await run_in_threadpool(self.over_rate, address)
        return self.over_rate(address)

    async def attempt_soon(self, address: str) -> None:
        """`attempt` from the event loop (see `over_rate_soon`)."""
        if isinstance(self._buckets, RedisBuckets):
            await run_in_threadpool(self.attempt, address)
        else:
            self.attempt(address)

    def enter(self, address: str) -> bool:
        """Start reading a body without credentials; False (and counted) when at the limit."""
        current = self._open.get(address, 0)
        if current >= self._concurrent:
            self.refused += 1
            return False
        if not current and len(self._open) >= MAX_ADDRESSES:
            self._open = {k: v for k, v in self._open.items() if v > 0}
        self._open[address] = current + 1
        return True

    def leave(self, address: str) -> None:
        current = self._open.get(address, 0) - 1
        if current > 0:
            self._open[address] = current
        else:
            self._open.pop(address, None)
