"""Rate limits count per server, not per worker process (issue 10, point 2: "per-address and
per-key rate limits"). `vangnet serve --workers 2` shares its token buckets between the
workers through a file the serving process makes (`vangnet.http.buckets.SharedBuckets`);
before, each worker kept its own, so a client got twice the requests a limit allows.
LOOPBACK ONLY: the server listens on 127.0.0.1."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from security._http_server import Server, running_server
from vangnet.http.buckets import SHARED_BUCKETS_ENV, SharedBuckets

KEY_BURST = 6
ADDRESS_PER_MINUTE = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("shared-limits"),
        serve_workers="2",
        key_rate_per_second="0.01",  # one more request a 100 s: none during the test
        key_rate_burst=str(KEY_BURST),
        http_unauth_per_minute=str(ADDRESS_PER_MINUTE),
    ) as running:
        yield running


def _statuses(server: Server, count: int, headers: dict[str, str]) -> list[int]:
    """``count`` lookups, each on a new connection (so both workers get some)."""
    body = {"signal_type": "pdq", "value": "f" * 64}
    out = []
    for _ in range(count):
        with httpx.Client(base_url=server.base, timeout=30) as client:
            out.append(client.post("/v1/lookup", json=body, headers=headers).status_code)
    return out


def test_a_key_gets_its_burst_once_per_server(server: Server) -> None:
    statuses = _statuses(server, 4 * KEY_BURST, {"X-API-Key": server.matcher_key})
    assert statuses == [200] * KEY_BURST + [429] * (3 * KEY_BURST), statuses


def test_an_address_gets_its_attempts_once_per_server(server: Server) -> None:
    statuses = _statuses(server, 5 * ADDRESS_PER_MINUTE, {})
    expected = [401] * ADDRESS_PER_MINUTE + [429] * (4 * ADDRESS_PER_MINUTE)
    assert statuses == expected, statuses


def test_the_bucket_file_is_private_and_removed_with_the_server(tmp_path: Path) -> None:
    with running_server(tmp_path, serve_workers="2") as running:
        worker = running.processes()[-1]
        maps = [m.path for m in worker.memory_maps()]
        found = {Path(m) for m in maps if "vangnet-limits-" in m}
        assert len(found) == 1, maps
        [path] = found
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert SHARED_BUCKETS_ENV not in os.environ  # the tests' own process is not told
    assert not path.exists()


# The buckets' own semantics (every kind, processes at once, floods) are tested in
# test_rate_limit_buckets.py.


def test_a_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "not-buckets"
    bad.write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="not a bucket file"):
        SharedBuckets(bad)
