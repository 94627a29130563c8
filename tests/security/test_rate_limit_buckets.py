"""The token buckets behind the per-key and per-address rate limits (issue 10, point 2): one
set of conformance tests run against every kind -- `LocalBuckets` (one process),
`SharedBuckets` (the workers of one server) and `RedisBuckets` (several servers; the test Redis
on 127.0.0.1:6379, a key prefix unique to the run, emptied afterwards) -- so burst, rate and
the wait behind ``Retry-After`` are the same whichever a server uses. Then what a flood of
many distinct clients does to them: it must not reset a limited client's bucket."""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vangnet.http import buckets as buckets_module
from vangnet.http.buckets import Buckets, LocalBuckets, SharedBuckets
from vangnet.http.quotas import RateLimitedError, RateLimiter
from vangnet.http.redis_buckets import RedisBuckets

from ._redis import REDIS_URL, clean, redis_buckets, unique_prefix

KINDS = ["local", "shared", "redis"]


@pytest.fixture(params=KINDS)
def buckets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Buckets]:
    if request.param == "local":
        yield LocalBuckets()
    elif request.param == "shared":
        shared = SharedBuckets.create(tmp_path)
        yield shared
        shared.remove()
    else:
        with redis_buckets() as in_redis:
            yield in_redis
            assert in_redis.errors == 0 and in_redis.fallbacks == 0  # Redis answered it all


# -- conformance: every kind answers as LocalBuckets does -------------------------------------


def test_burst_then_the_wait_then_refill(buckets: Buckets) -> None:
    limit = {"rate": 2.0, "burst": 3.0}
    assert [buckets.take("a", **limit, now=10.0) for _ in range(3)] == [0.0] * 3
    assert buckets.take("a", **limit, now=10.0) == pytest.approx(0.5)  # 1 token at 2/s
    assert buckets.peek("a", **limit, now=10.25) == pytest.approx(0.25)
    assert buckets.take("b", **limit, now=10.25) == 0.0  # another client is not touched
    assert buckets.take("a", **limit, now=10.5) == 0.0  # refilled one
    assert buckets.take("a", **limit, now=10.5) == pytest.approx(0.5)
    assert buckets.peek("a", **limit, now=20.0) == 0.0  # full again, never above burst
    assert [buckets.take("a", **limit, now=20.0) for _ in range(4)] == [0.0] * 3 + [0.5]


def test_peek_spends_nothing(buckets: Buckets) -> None:
    limit = {"rate": 1.0, "burst": 2.0}
    assert [buckets.peek("p", **limit, now=5.0) for _ in range(10)] == [0.0] * 10
    assert [buckets.take("p", **limit, now=5.0) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert buckets.peek("p", **limit, now=5.0) == 1.0


def test_a_bucket_that_never_refills_waits_forever(buckets: Buckets) -> None:
    limit = {"rate": 0.0, "burst": 1.0}
    assert buckets.take("z", **limit, now=1.0) == 0.0
    assert buckets.take("z", **limit, now=1000.0) == float("inf")


def test_a_random_trace_is_answered_exactly_as_by_local_buckets(buckets: Buckets) -> None:
    """600 takes and peeks of 6 buckets (keys and addresses, different limits) at times
    moving forward by multiples of 1/64 s: every answer equals `LocalBuckets`'."""
    reference = LocalBuckets()
    rng = random.Random(20261207)
    limits = {"key:1": (5.0, 10.0), "key:2": (0.5, 3.0), "addr:a": (2.0, 4.0)}
    limits |= {"addr:b": (0.25, 1.0), "addr:c": (100.0, 1000.0), "key:3": (1.0, 1.0)}
    now = 100.0
    for step in range(600):
        now += rng.choice([0, 0, 0, 1, 2, 8, 64]) / 64
        name = rng.choice(sorted(limits))
        rate, burst = limits[name]
        op = "take" if rng.random() < 0.8 else "peek"
        got = getattr(buckets, op)(name, rate=rate, burst=burst, now=now)
        want = getattr(reference, op)(name, rate=rate, burst=burst, now=now)
        assert got == pytest.approx(want, abs=1e-9), (step, op, name, now)


def test_a_key_over_its_rate_gets_the_same_retry_after(buckets: Buckets) -> None:
    limiter, reference = RateLimiter(0.5, 5, buckets), RateLimiter(0.5, 5, LocalBuckets())
    for limiter_ in (limiter, reference):
        for _ in range(5):
            limiter_.take(7, now=50.0)
    answers = []
    for limiter_ in (limiter, reference):
        with pytest.raises(RateLimitedError) as refused:
            limiter_.take(7, now=50.5)
        answers.append((refused.value.retry_after, refused.value.retry_after_header))
    assert answers[0][0] == pytest.approx(answers[1][0]) == pytest.approx(1.5)
    assert answers[0][1] == answers[1][1] == "2"


def _spend(kind: str, where: str, attempts: int, start: Any, out: Any) -> None:
    buckets: Buckets
    if kind == "shared":
        buckets = SharedBuckets(where)
    else:
        buckets = RedisBuckets.connect(REDIS_URL, prefix=where, fallback=LocalBuckets(), timeout=5)
    start.wait(60)
    limit = {"rate": 0.0001, "burst": 10.0, "now": 1000.0}
    out.put(sum(buckets.take("key:7", **limit) == 0.0 for _ in range(attempts)))
    buckets.close()


@pytest.mark.parametrize("kind", ["shared", "redis"])
def test_processes_spending_one_bucket_at_once_get_its_burst_once(
    kind: str, tmp_path: Path
) -> None:
    shared = SharedBuckets.create(tmp_path) if kind == "shared" else None
    prefix = unique_prefix()
    where = str(shared.path) if shared is not None else prefix
    try:
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_spend, args=(kind, where, 50, start, out)) for _ in range(4)]
        for proc in procs:
            proc.start()
        start.set()
        taken = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        assert sum(taken) == 10, taken
    finally:
        if shared is not None:
            shared.remove()
        else:
            clean(RedisBuckets.connect(REDIS_URL, prefix=prefix, fallback=LocalBuckets()))


# -- Redis: what it stores, and for how long ---------------------------------------------------


def test_redis_keeps_a_bucket_until_it_would_be_full_again_and_no_name_in_clear() -> None:
    with redis_buckets() as buckets:
        limit = {"rate": 10.0, "burst": 2.0}
        assert buckets.take("addr:192.0.2.44", **limit, now=1.0) == 0.0
        keys = list(buckets.client.scan_iter(match=f"{buckets.prefix}*"))
        assert keys == [buckets.key("addr:192.0.2.44")]
        assert "192.0.2.44" not in keys[0]
        # full again after 0.1 s; kept 1 s longer than that at most
        assert 100 < buckets.client.pttl(keys[0]) <= 1100
        slow = {"rate": 1 / 3600, "burst": 5.0}
        buckets.take("key:9", **slow, now=1.0)
        assert 3600_000 < buckets.client.pttl(buckets.key("key:9")) <= 3601_000
        # a bucket that never refills is still forgotten after a day (read a moment after)
        buckets.take("key:10", rate=0.0, burst=5.0, now=1.0)
        assert 86_399_000 < buckets.client.pttl(buckets.key("key:10")) <= 86_400_000


# -- a flood of distinct clients ---------------------------------------------------------------

PER_MINUTE = {"rate": 4 / 60, "burst": 4.0}  # an address limit of 4 a minute


def _exhaust(buckets: Buckets, name: str, now: float) -> None:
    assert [buckets.take(name, **PER_MINUTE, now=now) for _ in range(4)] == [0.0] * 4
    assert buckets.take(name, **PER_MINUTE, now=now) == pytest.approx(15.0)


def _flood(buckets: Buckets, count: int, now: float) -> int:
    """``count`` new addresses, one request each; how many were refused."""
    return sum(buckets.take(f"addr:flood-{i}", **PER_MINUTE, now=now) > 0 for i in range(count))


@pytest.mark.parametrize("kind", ["local", "shared"])
def test_a_flood_of_addresses_does_not_reset_a_limited_clients_bucket(
    kind: str, tmp_path: Path
) -> None:
    """Before: the flood reused the limited client's slot (shared file) or cleared every
    bucket (one process), and the attacker got its burst again."""
    room = 2_000 if kind == "local" else buckets_module.SLOTS - buckets_module.KEY_SLOTS
    buckets: Buckets = (
        LocalBuckets(max_per_kind=room) if kind == "local" else SharedBuckets.create(tmp_path)
    )
    try:
        _exhaust(buckets, "addr:203.0.113.9", now=100.0)
        refused = _flood(buckets, 2 * room, now=100.5)
        assert refused > 0  # the room is full: newcomers wait for a bucket to refill ...
        assert buckets.take("addr:203.0.113.9", **PER_MINUTE, now=101.0) == pytest.approx(14.0)
        # ... and are told how long (every bucket in the way refills 15 s after its request)
        assert buckets.take("addr:newcomer", **PER_MINUTE, now=101.0) == pytest.approx(14.5)
        # API keys have a room of their own: an address flood does not crowd them out
        assert buckets.take("key:1", rate=1.0, burst=10.0, now=101.0) == 0.0
        assert crowded(buckets) == refused + 1
        # once the flood's buckets have refilled, newcomers get in; the attacker got one token
        # back every 15 s, never its burst
        assert buckets.take("addr:newcomer", **PER_MINUTE, now=116.0) == 0.0
        assert buckets.take("addr:203.0.113.9", **PER_MINUTE, now=116.0) == 0.0
        assert buckets.take("addr:203.0.113.9", **PER_MINUTE, now=116.0) > 0
    finally:
        buckets.close()


def crowded(buckets: Buckets) -> int:
    assert isinstance(buckets, LocalBuckets | SharedBuckets)
    return buckets.crowded


def test_a_flood_of_keys_does_not_crowd_out_addresses_or_other_kinds() -> None:
    buckets = LocalBuckets(max_per_kind=10)
    for i in range(10):
        buckets.take(f"key:{i}", rate=1.0, burst=5.0, now=0.0)
    assert buckets.take("key:new", rate=1.0, burst=5.0, now=0.0) == pytest.approx(1.0)
    assert buckets.take("addr:x", **PER_MINUTE, now=0.0) == 0.0
    assert buckets.take("key:new", rate=1.0, burst=5.0, now=1.0) == 0.0  # key:0..9 refilled
