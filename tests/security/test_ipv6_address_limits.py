"""Per-address limits on refused traffic and IPv6 (review of the rate limits shared through
Redis): one IPv6 host is given a whole /64 and may send from any of its 2^64 addresses. The
limit on requests refused for a wrong key (``VANGNET_HTTP_UNAUTH_PER_MINUTE``) must hold for
that host, not once per address it picks: otherwise it guesses keys and passwords without
limit, and (since a bucket not refilled is never reused) fills the room of addresses with
buckets of its own, refusing every new client. The addresses are documentation ones
(2001:db8::/32) written into the ASGI scope: no traffic leaves the process."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.conftest import AppFactory

PER_MINUTE = 3


def _wrong_key_from(client: TestClient, address: str) -> int:
    """POST with a wrong key from ``address`` (refused by the guard before its body)."""
    other = TestClient(client.app, client=(address, 40000))  # the app started by ``client``
    return other.post(
        "/v1/hash", headers={"X-API-Key": "vn_wrong_" + "0" * 40}, content=b"x"
    ).status_code


def test_one_ipv6_host_rotating_its_addresses_is_limited_as_one_client(
    make_client: AppFactory,
) -> None:
    app = make_client(http_unauth_per_minute=PER_MINUTE)
    # one address: limited (the limit works with these addresses)
    same = [_wrong_key_from(app, "2001:db8:9:9::1") for _ in range(PER_MINUTE + 1)]
    assert same == [401] * PER_MINUTE + [429]
    answers = [_wrong_key_from(app, f"2001:db8:1:2::{i:x}") for i in range(1, 13)]
    assert answers[:PER_MINUTE] == [401] * PER_MINUTE
    assert set(answers[PER_MINUTE:]) == {429}, answers
    # another /64 (another host) is a client of its own
    assert _wrong_key_from(app, "2001:db8:1:3::1") == 401
    # IPv4 addresses are still limited one by one
    assert [_wrong_key_from(app, f"192.0.2.{i}") for i in (1, 2)] == [401, 401]
