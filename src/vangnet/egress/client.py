"""HTTP clients under the egress policy.

`egress_client` is an ``httpx.Client`` whose every new connection (first request, redirect,
HLS segment on another host, reconnect after keep-alive expiry) resolves the host, checks
every address with the `EgressPolicy` and connects to a checked address, in one step: there
is no window for DNS rebinding between the check and the connection. TLS keeps the host name
(SNI and certificate verification), and proxies from the environment are never used.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from vangnet.egress.policy import DestinationRefused, EgressPolicy

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class PolicyBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the egress check in front of every TCP connect."""

    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._policy.resolve(host, port)  # DestinationRefused
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # resolve() returns at least one address
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("unix sockets are not egress destinations")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class EgressTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` on a connection pool that connects through `PolicyBackend`
    (no proxy, TLS per the policy)."""

    def __init__(self, policy: EgressPolicy, *, limits: httpx.Limits | None = None) -> None:
        # Not super().__init__: it would build a pool with the default network backend.
        limits = limits or httpx.Limits(max_connections=10, max_keepalive_connections=4)
        self._pool = httpcore.ConnectionPool(
            ssl_context=policy.ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PolicyBackend(policy),
        )


def egress_client(
    policy: EgressPolicy,
    *,
    timeout: float | httpx.Timeout,
    follow_redirects: bool = False,
    auth: httpx.Auth | None = None,
) -> httpx.Client:
    """An HTTP client whose connections all pass ``policy`` (redirects included)."""
    return httpx.Client(
        transport=EgressTransport(policy),
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=5,
        trust_env=False,
        auth=auth,
    )
