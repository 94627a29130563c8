"""Rate limits in Redis when Redis fails (issue 10, point 2): requests never hang or answer
500; each server process limits them with its own buckets meanwhile (the same semantics),
counts that in ``GET /v1/metrics`` and logs it at most once a minute. Redis is tried again after
``VANGNET_RATE_LIMIT_REDIS_RETRY_SECONDS``, and used again once it answers.

Every socket here is on 127.0.0.1: a real closed port, a listener that never answers, a relay
to the test Redis on 127.0.0.1:6379 that the test cuts and restores."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.conftest import AppFactory, make_key
from vangnet.errors import ExitCode
from vangnet.http.buckets import LocalBuckets
from vangnet.http.redis_buckets import RedisBuckets

from ._http_server import free_port
from ._redis import REDIS_URL, clean, unique_prefix

LIMIT = {"rate": 2.0, "burst": 3.0}


def _closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (connections are refused at once)."""
    return free_port()


@contextlib.contextmanager
def _silent_listener() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections and never answers (a Redis that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for s in held:
            s.close()
        server.close()


class Relay:
    """A TCP relay on 127.0.0.1 to the test Redis (127.0.0.1:6379) that can be cut: while
    cut, new connections are refused and open ones are closed."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._pairs: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread waiting in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._pairs:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._pairs.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client = listener.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 6379), timeout=5)
            with self._lock:
                self._pairs += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _unreachable(port: int, **kwargs: Any) -> RedisBuckets:
    return RedisBuckets.connect(
        f"redis://:s3cret-password@127.0.0.1:{port}/0",
        prefix=unique_prefix(),
        fallback=LocalBuckets(),
        timeout=kwargs.pop("timeout", 0.2),
        **kwargs,
    )


def test_a_closed_port_limits_with_the_process_buckets_at_once_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buckets = _unreachable(_closed_port(), retry_seconds=60)
    reference = LocalBuckets()
    caplog.set_level(logging.WARNING, logger="vangnet.http.redis_buckets")
    started = time.monotonic()
    answers = [buckets.take("key:1", **LIMIT, now=10.0) for _ in range(5)]
    answers.append(buckets.peek("key:1", **LIMIT, now=10.25))
    elapsed = time.monotonic() - started
    expected = [reference.take("key:1", **LIMIT, now=10.0) for _ in range(5)]
    expected.append(reference.peek("key:1", **LIMIT, now=10.25))
    assert answers == expected == [0.0, 0.0, 0.0, 0.5, 0.5, 0.25]
    assert elapsed < 1.0, elapsed  # refused at once; no request waited on Redis after that
    assert (buckets.errors, buckets.fallbacks, buckets.available) == (1, 6, False)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1, warnings  # one line, not one per request
    assert f"127.0.0.1:{buckets.where.rpartition(':')[2]}" in warnings[0]
    assert "s3cret-password" not in warnings[0]
    buckets.close()


def test_a_redis_that_never_answers_costs_one_timeout_then_nothing() -> None:
    with _silent_listener() as port:
        buckets = _unreachable(port, timeout=0.2, retry_seconds=0.5)
        started = time.monotonic()
        assert buckets.take("addr:a", **LIMIT, now=1.0) == 0.0
        first = time.monotonic() - started
        assert 0.15 < first < 2.0, first  # waited for the timeout, then answered locally
        started = time.monotonic()
        assert [buckets.take("addr:a", **LIMIT, now=1.0) for _ in range(50)][-1] == 0.5
        assert time.monotonic() - started < 0.15  # no wait during the back-off
        assert buckets.errors == 1
        time.sleep(0.6)  # the back-off is over: Redis is tried again (and times out again)
        assert buckets.peek("addr:a", **LIMIT, now=1.0) == 0.5
        assert (buckets.errors, buckets.fallbacks) == (2, 52)
        buckets.close()


def test_limits_return_to_redis_when_it_answers_again() -> None:
    relay = Relay()
    buckets = RedisBuckets.connect(
        f"redis://127.0.0.1:{relay.port}/0",
        prefix=unique_prefix(),
        fallback=LocalBuckets(),
        timeout=1.0,
        retry_seconds=0.3,
    )
    try:
        assert [buckets.take("key:5", **LIMIT, now=1.0) for _ in range(2)] == [0.0, 0.0]
        relay.cut()
        # the process's own bucket of key:5 starts full (the process never saw it before)
        assert [buckets.take("key:5", **LIMIT, now=1.0) for _ in range(4)][-1] == 0.5
        assert buckets.errors == 1 and buckets.fallbacks == 4
        relay.restore()
        time.sleep(0.4)
        # Redis again: its bucket of key:5 had one token left
        assert [buckets.take("key:5", **LIMIT, now=1.0) for _ in range(2)] == [0.0, 0.5]
        assert buckets.errors == 1 and buckets.fallbacks == 4 and buckets.available
    finally:
        relay.cut()
        clean(RedisBuckets.connect(REDIS_URL, prefix=buckets.prefix, fallback=LocalBuckets()))
        buckets.close()


# -- through the API: a key's rate with Redis down, and the metrics that say so ---------------


def _metrics(client: Any, key: str) -> dict[str, str]:
    r = client.get("/v1/metrics", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    return dict(
        line.rsplit(" ", 1) for line in r.text.splitlines() if line.startswith("vangnet_rate_")
    )


def test_with_redis_down_a_key_gets_its_rate_from_the_server_and_metrics_count_it(
    make_client: AppFactory, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vangnet.http.redis_buckets")
    app = make_client(
        key_rate_per_second=0.5,
        key_rate_burst=5,
        rate_limit_redis_url=f"redis://127.0.0.1:{_closed_port()}/0",
        rate_limit_redis_prefix=unique_prefix(),
        rate_limit_redis_retry_seconds=600,
    )
    fast, watcher = make_key(db_url, "matcher", "fast"), make_key(db_url, "admin", "watch")
    started = time.monotonic()
    answers = [app.get("/v1/banks", headers={"X-API-Key": fast}) for _ in range(8)]
    assert time.monotonic() - started < 5
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 3
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 2
    metrics = _metrics(app, watcher)
    assert metrics['vangnet_rate_limit_backend{backend="redis"}'] == "1"
    assert metrics["vangnet_rate_limit_redis_available"] == "0"
    assert metrics["vangnet_rate_limit_redis_errors_total"] == "1"
    assert int(metrics["vangnet_rate_limit_redis_fallbacks_total"]) >= 8
    assert len([r for r in caplog.records if "Redis at 127.0.0.1" in r.getMessage()]) == 1


def test_with_redis_up_a_keys_bucket_lives_in_redis(make_client: AppFactory, db_url: str) -> None:
    prefix = unique_prefix()
    app = make_client(
        key_rate_per_second=0.5,
        key_rate_burst=5,
        rate_limit_redis_url=REDIS_URL,
        rate_limit_redis_prefix=prefix,
    )
    inspect = RedisBuckets.connect(REDIS_URL, prefix=prefix, fallback=LocalBuckets())
    try:
        fast, watcher = make_key(db_url, "matcher", "fast"), make_key(db_url, "admin", "watch")
        answers = [app.get("/v1/banks", headers={"X-API-Key": fast}) for _ in range(7)]
        assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
        keys = list(inspect.client.scan_iter(match=f"{prefix}*"))
        assert len(keys) >= 1  # the matcher's bucket (and the admin's, once it asked)
        metrics = _metrics(app, watcher)
        assert metrics["vangnet_rate_limit_redis_available"] == "1"
        assert metrics["vangnet_rate_limit_redis_fallbacks_total"] == "0"
        assert metrics["vangnet_rate_limit_redis_errors_total"] == "0"
    finally:
        clean(inspect)


def test_without_redis_the_metrics_name_the_servers_own_buckets(
    make_client: AppFactory, db_url: str
) -> None:
    app = make_client()
    metrics = _metrics(app, make_key(db_url, "admin", "watch"))
    assert metrics == {
        'vangnet_rate_limit_backend{backend="local"}': "1",
        "vangnet_rate_limit_crowded_total": "0",
    }


# -- the setting, through the command line ------------------------------------------------------


def _vangnet(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env |= {"VANGNET_HOME": os.environ["VANGNET_HOME"], "VANGNET_RATE_LIMIT_REDIS_URL": url}
    return subprocess.run(
        [str(Path(sys.executable).parent / "vangnet"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_url_that_is_not_redis_is_refused_and_a_password_is_never_shown() -> None:
    refused = _vangnet("http://127.0.0.1:6379/", "serve", "--port", str(free_port()))
    assert refused.returncode == ExitCode.INVALID_DATA, refused.stderr
    assert "VANGNET_RATE_LIMIT_REDIS_URL" in refused.stderr
    assert "redis://, rediss:// or unix://" in refused.stderr
    shown = _vangnet("redis://:s3cret-password@127.0.0.1:6379/0", "config", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = {row["name"]: row for row in json.loads(shown.stdout)["settings"]}
    assert rows["rate_limit_redis_url"]["value"] == "**********"
    assert "s3cret-password" not in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret-password@127.0.0.1:notaport/0",  # a port that is not a number
        "redis://:s3cret-password@127.0.0.1:6379/0?db=abc",  # an option Redis cannot read
        "redis://:s3cret/password@127.0.0.1:6379/0",  # a "/" in the password: "s3cret" is the port
    ],
)
def test_a_redis_url_redis_cannot_read_is_refused_before_serving(url: str) -> None:
    """A redis:// URL that passes the scheme check but that redis-py cannot parse must be
    refused like any bad setting (exit 6, the setting named, no password shown), not crash
    every worker of `vangnet serve` into a loop of tracebacks (exit 1)."""
    refused = _vangnet(url, "serve", "--port", str(free_port()))
    assert refused.returncode == ExitCode.INVALID_DATA, refused.stderr[-2000:]
    assert "VANGNET_RATE_LIMIT_REDIS_URL" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "s3cret" not in refused.stdout + refused.stderr


class SlowRelay(Relay):
    """The relay to the test Redis, each answer held back ``delay`` seconds (a Redis that is
    slow but within the timeout)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        super().__init__()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client = listener.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", 6379), timeout=5)
            with self._lock:
                self._pairs += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._slow, args=(upstream, client), daemon=True).start()

    def _slow(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                time.sleep(self.delay)
                sink.sendall(data)


@pytest.mark.parametrize("valid", [True, False], ids=["key", "wrong-key"])
def test_a_slow_redis_does_not_hold_up_the_other_requests_of_a_worker(
    make_client: AppFactory, db_url: str, valid: bool
) -> None:
    """Redis answering in 3 s (within a 5 s timeout) may slow the requests whose key it
    counts, but not every other request of the same worker: the bucket update must not run
    on the event loop. Here one key's request waits on Redis while a request that needs no
    rate limit (HMA's public status) is made: it must not wait for Redis too. The same for
    a wrong key (its address's bucket of refused attempts). Redis is slowed only after the
    warm-up, and the margins are seconds, so a loaded machine does not decide the outcome."""
    delay = 3.0
    relay = SlowRelay(0.0)
    prefix = unique_prefix()
    app = make_client(
        key_rate_per_second=100,
        key_rate_burst=100,
        rate_limit_redis_url=f"redis://127.0.0.1:{relay.port}/0",
        rate_limit_redis_prefix=prefix,
        rate_limit_redis_timeout_seconds=5.0,
    )
    try:
        key = make_key(db_url, "matcher", "slow")
        sent = key if valid else "vn_wrong_" + "0" * 40
        assert app.get("/v1/banks", headers={"X-API-Key": key}).status_code == 200  # warm
        if not valid:  # the wrong key's address bucket is known to Redis too
            assert app.get("/v1/banks", headers={"X-API-Key": sent}).status_code == 401
        assert app.get("/status").status_code == 200
        relay.delay = delay
        slow: list[int] = []
        thread = threading.Thread(
            target=lambda: slow.append(
                app.get("/v1/banks", headers={"X-API-Key": sent}).status_code
            )
        )
        thread.start()
        time.sleep(0.5)  # the keyed request is waiting on Redis now
        started = time.monotonic()
        assert app.get("/status").status_code == 200
        waited = time.monotonic() - started
        thread.join(15)
        assert slow == [200 if valid else 401]
        # on the event loop it would wait for the rest of Redis's answer (about 2.5 s)
        assert waited < 1.5, f"a request needing no Redis waited {waited:.2f} s"
    finally:
        relay.cut()
        clean(RedisBuckets.connect(REDIS_URL, prefix=prefix, fallback=LocalBuckets()))
