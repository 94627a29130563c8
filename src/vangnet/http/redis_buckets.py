"""Token buckets in Redis: one rate limit shared by several `vangnet serve` hosts behind a load
balancer (``VANGNET_RATE_LIMIT_REDIS_URL``).

One request is one atomic step in Redis: a Lua script (sent once, then called by its SHA-1 with
``EVALSHA``) refills the bucket, spends a token when there is one and stores it, with an expiry
at the time it would be full again (a full bucket and a missing one are the same, so Redis keeps
only the buckets of clients that are being limited, for as long as that matters). The
semantics (burst, rate, the wait returned for ``Retry-After``) are those of `LocalBuckets`, and
the same conformance tests run against all three kinds.

Time: the callers pass their own clock (`time.monotonic`, which differs between hosts). It is
mapped onto Redis's clock (``TIME``) with an offset measured when the first bucket is used and
again every `RESYNC_SECONDS`, so every host counts in Redis's time and no host clock needs to
agree with another's. The offset is rounded to 1/1024 s so that times keep exact binary
fractions (no rounding error between two updates of one bucket).

Names are stored as keyed hashes (BLAKE2b keyed with the prefix): no address or key id in
clear among Redis's keys. The prefix is not a secret, so this hides names from a casual look,
not from someone who can read Redis and guess addresses: keep Redis private (password, TLS or a
private network).

When Redis cannot be reached, answers an error, or is slower than the timeout, the request is
limited by the ``fallback`` buckets of this process (the server's own: `SharedBuckets` for
several workers, else `LocalBuckets`), never answered 500 and never left waiting: for
``retry_seconds`` after a failure Redis is not asked at all. Each such check is counted
(`fallbacks`, in ``GET /v1/metrics``) and a warning is logged at most once a minute.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from vangnet.http.buckets import Buckets

log = logging.getLogger(__name__)

#: Re-measure the offset between the callers' clock and Redis's this often (seconds).
RESYNC_SECONDS = 600.0
#: At most one warning about Redis failures this often (seconds).
LOG_EVERY_SECONDS = 60.0
#: Expiry of a bucket that never refills (rate 0): a day.
NO_REFILL_TTL_MS = 86_400_000

# KEYS[1]: the bucket. ARGV: rate, burst, now (Redis's clock, seconds), spend (1/0).
# Returns the wait in seconds as text (Lua numbers would be cut to integers in the reply).
_STEP = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = burst
local held = redis.call('HMGET', KEYS[1], 't', 'at')
if held[1] and held[2] then
  local elapsed = now - tonumber(held[2])
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tonumber(held[1]) + elapsed * rate)
end
local wait = 0
if tokens < 1 then
  if rate > 0 then wait = (1 - tokens) / rate else wait = math.huge end
end
if ARGV[4] == '1' then
  if wait == 0 then tokens = tokens - 1 end
  if tokens >= burst then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens),
               'at', string.format('%.17g', now))
    local ttl = NO_REFILL_TTL
    if rate > 0 then ttl = math.ceil((burst - tokens) / rate * 1000) + 1000 end
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
return string.format('%.17g', wait)
""".replace("NO_REFILL_TTL", str(NO_REFILL_TTL_MS))


class RedisBuckets:
    """Token buckets in Redis, shared by every server using the same Redis and prefix."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str,
        fallback: Buckets,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self._clock = clock  # real time, for the back-off and resync (not the callers' now)
        self._step = client.register_script(_STEP)
        self._salt = hashlib.blake2b(prefix.encode(), digest_size=32).digest()
        self._lock = threading.Lock()
        self._offset: float | None = None  # Redis's clock minus the callers'
        self._synced_at = 0.0
        self._down_until = 0.0
        self._logged_at: float | None = None
        self._unlogged = 0
        self.fallbacks = 0  # requests limited by the fallback buckets
        self.errors = 0  # failed calls to Redis (each starts a back-off)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        prefix: str,
        fallback: Buckets,
        timeout: float = 0.1,
        retry_seconds: float = 5.0,
    ) -> RedisBuckets:
        """Buckets at ``url`` (no connection is made until the first request): every wait
        on Redis is bounded by ``timeout``, and a failed call is not retried (the fallback
        answers instead)."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
            decode_responses=True,
        )
        return cls(client, prefix=prefix, fallback=fallback, retry_seconds=retry_seconds)

    @property
    def where(self) -> str:
        """Redis's address for logs and messages (never its password)."""
        kwargs = self.client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    @property
    def available(self) -> bool:
        """False while failures keep Redis out of use (the back-off after a failure)."""
        return self._clock() >= self._down_until

    def take(self, name: str, *, rate: float, burst: float, now: float) -> float:
        return self._use(name, rate=rate, burst=burst, now=now, spend=True)

    def peek(self, name: str, *, rate: float, burst: float, now: float) -> float:
        return self._use(name, rate=rate, burst=burst, now=now, spend=False)

    def close(self) -> None:
        """Close the open connections (the next request opens one again)."""
        self.client.connection_pool.disconnect()
        self.fallback.close()

    def delete_all(self) -> int:
        """Remove every bucket under this prefix (tests and operators); the number removed."""
        removed = 0
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            removed += int(self.client.delete(key))
        return removed

    def key(self, name: str) -> str:
        """The Redis key of bucket ``name``."""
        return (
            self.prefix + hashlib.blake2b(name.encode(), digest_size=16, key=self._salt).hexdigest()
        )

    def _use(self, name: str, *, rate: float, burst: float, now: float, spend: bool) -> float:
        if self.available:
            try:
                at = now + self._redis_offset(now)
                args = [repr(float(rate)), repr(float(burst)), repr(at), "1" if spend else "0"]
                answer = self._step(keys=[self.key(name)], args=args)
                return float(answer)
            except (redis.RedisError, OSError, ValueError) as exc:
                self._failed(exc)
        self._count_fallback()
        return (
            self.fallback.take(name, rate=rate, burst=burst, now=now)
            if spend
            else self.fallback.peek(name, rate=rate, burst=burst, now=now)
        )

    def _redis_offset(self, now: float) -> float:
        real = self._clock()
        with self._lock:
            if self._offset is not None and real - self._synced_at < RESYNC_SECONDS:
                return self._offset
        seconds, micros = self.client.time()
        offset = round((seconds + micros / 1e6 - now) * 1024) / 1024
        with self._lock:
            self._offset, self._synced_at = offset, real
        return offset

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.errors += 1
            self._down_until = self._clock() + self.retry_seconds
        self.client.connection_pool.disconnect()  # a timed-out connection may be half-read
        self._log(f"{type(exc).__name__}: {exc}")

    def _count_fallback(self) -> None:
        with self._lock:
            self.fallbacks += 1
            self._unlogged += 1

    def _log(self, reason: str) -> None:
        now = self._clock()
        with self._lock:
            if self._logged_at is not None and now - self._logged_at < LOG_EVERY_SECONDS:
                return
            self._logged_at, unlogged, self._unlogged = now, self._unlogged, 0
        log.warning(
            "rate limits: Redis at %s failed (%s); this process limits requests with its own "
            "buckets for %g s before trying again (%d requests limited locally since the last "
            "warning, %d in all)",
            self.where,
            reason,
            self.retry_seconds,
            unlogged,
            self.fallbacks,
        )
