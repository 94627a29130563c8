"""The test Redis on 127.0.0.1:6379 (loopback only), under a key prefix unique to each use and
emptied afterwards."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator

from vangnet.http.buckets import Buckets, LocalBuckets
from vangnet.http.redis_buckets import RedisBuckets

REDIS_URL = "redis://127.0.0.1:6379/0"


def unique_prefix() -> str:
    return f"vangnet-test-{os.getpid()}-{secrets.token_hex(6)}:"


@contextlib.contextmanager
def redis_buckets(
    *, prefix: str | None = None, fallback: Buckets | None = None
) -> Iterator[RedisBuckets]:
    """`RedisBuckets` on the test Redis; every key under its prefix is removed at the end
    (and checked gone)."""
    buckets = RedisBuckets.connect(
        REDIS_URL,
        prefix=prefix or unique_prefix(),
        fallback=fallback if fallback is not None else LocalBuckets(),
        timeout=2.0,
    )
    try:
        yield buckets
    finally:
        clean(buckets)


def clean(buckets: RedisBuckets) -> None:
    buckets.delete_all()
    assert not list(buckets.client.scan_iter(match=f"{buckets.prefix}*"))
    buckets.close()
