"""Rate limits shared by several servers behind a load balancer (issue 10, point 2: rate limits a
platform would run in production). Two `vangnet serve` processes on different ports of
127.0.0.1 -- two "hosts" of one deployment, on one database -- with the same
``VANGNET_RATE_LIMIT_REDIS_URL`` (the test Redis on 127.0.0.1:6379, a prefix unique to this
run, emptied at the end): a key, and an address without a key, get their burst once across
both, not once per host. Without Redis each host counts its own (the control below).
LOOPBACK ONLY: the servers and Redis listen on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from security._http_server import Server, another_server, free_port, running_server
from vangnet.http.buckets import LocalBuckets
from vangnet.http.redis_buckets import RedisBuckets

from ._redis import REDIS_URL, clean, unique_prefix

KEY_BURST = 6
ADDRESS_PER_MINUTE = 4
LIMITS = {
    "key_rate_per_second": "0.01",  # one more request a 100 s: none during the test
    "key_rate_burst": str(KEY_BURST),
    "http_unauth_per_minute": str(ADDRESS_PER_MINUTE),
}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    prefix = unique_prefix()
    try:
        with (
            running_server(
                tmp_path_factory.mktemp("host-a"),
                rate_limit_redis_url=REDIS_URL,
                rate_limit_redis_prefix=prefix,
                **LIMITS,
            ) as first,
            another_server(first) as second,
        ):
            yield first, second
    finally:
        clean(RedisBuckets.connect(REDIS_URL, prefix=prefix, fallback=LocalBuckets()))


def _spread(hosts: tuple[Server, ...], count: int, headers: dict[str, str]) -> list[int]:
    """``count`` lookups, taking turns between the hosts (a round-robin load balancer)."""
    body = {"signal_type": "pdq", "value": "f" * 64}
    out = []
    for i in range(count):
        host = hosts[i % len(hosts)]
        with httpx.Client(base_url=host.base, timeout=30) as client:
            r = client.post("/v1/lookup", json=body, headers=headers)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
            out.append(r.status_code)
    return out


def _rate_metrics(host: Server) -> dict[str, str]:
    r = httpx.get(f"{host.base}/v1/metrics", headers={"X-API-Key": host.key}, timeout=30)
    assert r.status_code == 200, r.text
    lines = [line.rsplit(" ", 1) for line in r.text.splitlines()]
    return {line[0]: line[1] for line in lines if line[0].startswith("vangnet_rate_limit")}


def test_a_key_gets_its_burst_once_across_two_hosts(hosts: tuple[Server, Server]) -> None:
    statuses = _spread(hosts, 4 * KEY_BURST, {"X-API-Key": hosts[0].matcher_key})
    assert statuses == [200] * KEY_BURST + [429] * (3 * KEY_BURST), statuses
    for host in hosts:  # decided in Redis, not by a host's own buckets
        metrics = _rate_metrics(host)
        assert metrics["vangnet_rate_limit_redis_fallbacks_total"] == "0"
        assert metrics["vangnet_rate_limit_redis_available"] == "1"


def test_an_address_gets_its_attempts_once_across_two_hosts(
    hosts: tuple[Server, Server],
) -> None:
    statuses = _spread(hosts, 5 * ADDRESS_PER_MINUTE, {})
    expected = [401] * ADDRESS_PER_MINUTE + [429] * (4 * ADDRESS_PER_MINUTE)
    assert statuses == expected, statuses


def test_without_redis_each_host_counts_its_own(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The control: the same two hosts without Redis let a key through twice its burst."""
    with (
        running_server(tmp_path_factory.mktemp("host-alone"), **LIMITS) as first,
        another_server(first) as second,
    ):
        statuses = _spread((first, second), 4 * KEY_BURST, {"X-API-Key": first.matcher_key})
    assert statuses.count(200) == 2 * KEY_BURST, statuses


def test_a_server_whose_redis_is_down_limits_with_its_workers_shared_buckets(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Redis on a closed 127.0.0.1 port: no 500 and no hang; the two workers of the server
    share its bucket file meanwhile, so a key still gets its burst once per server."""
    with running_server(
        tmp_path_factory.mktemp("redis-down"),
        serve_workers="2",
        rate_limit_redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_redis_retry_seconds="600",
        **LIMITS,
    ) as server:
        started = time.monotonic()
        statuses = _spread((server,), 4 * KEY_BURST, {"X-API-Key": server.matcher_key})
        assert time.monotonic() - started < 60
        assert statuses == [200] * KEY_BURST + [429] * (3 * KEY_BURST), statuses
        # /v1/metrics answers for the worker that serves it (the admin key has 6 requests)
        seen = [_rate_metrics(server) for _ in range(5)]
        assert any(
            int(m["vangnet_rate_limit_redis_fallbacks_total"]) > 0
            and m["vangnet_rate_limit_redis_available"] == "0"
            and m['vangnet_rate_limit_backend{backend="redis"}'] == "1"
            for m in seen
        ), seen
