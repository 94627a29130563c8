"""The egress policy: which outbound destinations Vangnet may reach, and how.

Every outbound connection Vangnet makes on someone else's behalf goes through one
`EgressPolicy`: stream URLs (pulled streams), webhook URLs and the NCMEC base URL.

- **Addresses.** A host is resolved and EVERY address it resolves to is checked. Denied
  unless allowed by ``egress_allow``: loopback, private (RFC 1918, IPv6 ULA), link-local
  (including the cloud metadata address 169.254.169.254 and fe80::/10), shared address
  space (CGNAT, 100.64.0.0/10), unspecified (0.0.0.0, ::), multicast (allowed for UDP/RTP
  streams only with ``egress_allow_multicast``), reserved and other not globally routable
  ranges. IPv4 addresses carried in IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64)
  are checked as the IPv4 address they carry.
- **No rebinding.** The connection goes to the address that was checked: stream URLs are
  rewritten to the checked address before FFmpeg sees them (`CheckedUrl.pinned`), and HTTP
  clients (`egress_client`) resolve, check and connect in one step for every new
  connection (redirects and HLS segments included), keeping the host name for TLS (SNI
  and certificate checks). Every reconnect checks again.
- **No listening.** URL options that make FFmpeg listen or pick local addresses are
  refused; protocols whose URL query FFmpeg reads as options (tcp, udp, rtp, srt) accept
  only the options on a per-protocol allow list.
- **TLS verified** by default (``egress_tls_verify``, ``egress_ca_file``).
- **Opaque errors.** Callers get one generic reason (`GENERIC_REASON`); the detail (which
  address, which range) goes to the server log only, so a stream's reason text cannot be
  used to map the internal network.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from vangnet.errors import ExitCode, VangnetError
from vangnet.net import IPAddress, IPNetwork, parse_allow

if TYPE_CHECKING:
    from vangnet.config import Settings

log = logging.getLogger(__name__)

#: What callers (API answers, stream reasons, events) are told about any destination that is
#: refused, unreachable, silent or not a stream. The detail is logged on the server.
GENERIC_REASON: Final = (
    "the stream could not be opened (destination refused by the egress policy, "
    "unreachable, or not a readable stream)"
)
#: The up-front answer of ``POST /v1/streams`` for a refused or unresolvable destination.
REFUSED_MESSAGE: Final = (
    "destination refused: the host is not an allowed destination (egress policy, "
    "VANGNET_EGRESS_ALLOW) or could not be resolved"
)


class DestinationRefused(VangnetError):
    """The egress policy refuses a destination (address range, URL option, scheme)."""

    code = "destination_refused"
    exit_code = ExitCode.INVALID_DATA
    status = 422


class DestinationUnresolved(DestinationRefused):
    """The host did not resolve (now): refused up front with the same answer, but worth
    retrying later (a webhook is retried, not dead-lettered)."""


class Denied(StrEnum):
    """Why an address is denied unless allowed explicitly (for the server log)."""

    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local (incl. metadata services)"
    SHARED = "shared address space (CGNAT)"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"
    NOT_GLOBAL = "not globally routable"


_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> Denied | None:
    """Why ``ip`` is denied by default; None for a public (globally routable) address."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return classify(inner) or (None if ip.is_global else Denied.NOT_GLOBAL)
    if ip.is_unspecified:
        return Denied.UNSPECIFIED
    if ip.is_loopback:
        return Denied.LOOPBACK
    if ip.is_link_local:
        return Denied.LINK_LOCAL
    if ip.is_multicast:
        return Denied.MULTICAST
    if ip in _SHARED:
        return Denied.SHARED
    if ip.is_private:
        return Denied.PRIVATE
    if ip.is_reserved:
        return Denied.RESERVED
    if not ip.is_global:
        return Denied.NOT_GLOBAL
    return None


#: URL query options refused for every scheme: they make FFmpeg listen, bind local addresses
#: or share sockets (whatever the protocol does with its query).
FORBIDDEN_OPTIONS: Final = frozenset(
    {
        "listen",
        "listen_timeout",
        "localaddr",
        "localport",
        "local_addr",
        "local_port",
        "localip",
        "localrtpport",
        "localrtcpport",
        "reuse",
        "reuse_socket",
        "bind",
        "connect",
        "broadcast",
        "rtcpport",
        "write_to_source",
    }
)
#: Schemes whose URL query FFmpeg reads as protocol options: only these options are accepted.
#: (For rtmp, rtsp and http(s) the query belongs to the remote server: only the forbidden
#: options above are refused there.)
OPTION_QUERIES: Final[dict[str, frozenset[str]]] = {
    "tcp": frozenset(),
    "udp": frozenset({"fifo_size", "buffer_size", "overrun_nonfatal", "pkt_size", "sources"}),
    "rtp": frozenset({"pkt_size", "buffer_size", "sources"}),
    "srt": frozenset(
        {
            "mode",  # caller only (checked below)
            "passphrase",
            "pbkeylen",
            "latency",
            "rcvlatency",
            "peerlatency",
            "streamid",
            "transtype",
            "payload_size",
            "tlpktdrop",
            "nakreport",
            "enforced_encryption",
            "connect_timeout",
        }
    ),
}
#: Schemes whose streams are received (UDP): a multicast group is the destination they join.
DATAGRAM_SCHEMES: Final = frozenset({"udp", "rtp"})
#: Default ports of schemes whose URLs may leave them out.
DEFAULT_PORTS: Final = {
    "http": 80,
    "https": 443,
    "rtmp": 1935,
    "rtmps": 443,
    "rtsp": 554,
}


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed the policy, with the addresses its host resolved to (all allowed)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def pinned(self, address: IPAddress | None = None) -> str:
        """The URL with its host replaced by a checked address (the first by default), so
        that the connection goes where the check was made."""
        ip = address or self.addresses[0]
        parts = urlsplit(self.url)
        userinfo, at, _hostport = parts.netloc.rpartition("@")
        host = f"[{ip}]" if isinstance(ip, ipaddress.IPv6Address) else str(ip)
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{userinfo}{at}{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class EgressPolicy:
    """Which destinations may be reached. Build it with `from_settings`."""

    allow: tuple[IPNetwork, ...] = ()
    allow_multicast: bool = False
    tls_verify: bool = True
    ca_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        return _policy(
            tuple(settings.egress_allow),
            settings.egress_allow_multicast,
            settings.egress_tls_verify,
            str(settings.egress_ca_file) if settings.egress_ca_file else None,
        )

    # -- addresses -----------------------------------------------------------------------------
    def denied(self, ip: IPAddress, *, multicast_ok: bool = False) -> Denied | None:
        """Why ``ip`` may not be reached; None when it may."""
        inner = embedded_ipv4(ip)
        candidates = (ip,) if inner is None else (ip, inner)
        if any(c in net for c in candidates for net in self.allow if c.version == net.version):
            return None
        reason = classify(ip)
        if reason is Denied.MULTICAST and multicast_ok and self.allow_multicast:
            return None
        return reason

    def resolve(self, host: str, port: int, *, multicast_ok: bool = False) -> list[IPAddress]:
        """Every address ``host`` resolves to, when ALL of them are allowed; else
        `DestinationRefused` with the generic message (the detail is logged)."""
        name = host.strip("[]")
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            log.warning("egress: cannot resolve %r: %s", name, exc)
            raise DestinationUnresolved(REFUSED_MESSAGE) from None
        addresses: list[IPAddress] = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]  # without an IPv6 scope id
            ip = ipaddress.ip_address(text)
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            log.warning("egress: %r resolves to no address", name)
            raise DestinationUnresolved(REFUSED_MESSAGE)
        for ip in addresses:
            reason = self.denied(ip, multicast_ok=multicast_ok)
            if reason is not None:
                log.warning("egress: refused %r: resolves to %s (%s)", name, ip, reason.value)
                raise DestinationRefused(REFUSED_MESSAGE)
        return addresses

    # -- URLs ----------------------------------------------------------------------------------
    def check_url(self, url: str) -> CheckedUrl:
        """Check a stream, webhook or service URL: its options, then its host's addresses."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port
        except ValueError:
            raise DestinationRefused("the URL's port is not a number from 0 to 65535") from None
        host = parts.hostname
        if not host:
            raise DestinationRefused("the URL names no host")
        check_options(scheme, parts.query)
        port = port if port is not None else DEFAULT_PORTS.get(scheme)
        if port is None:
            raise DestinationRefused(f"{scheme} URLs need a port")
        addresses = self.resolve(host, port, multicast_ok=scheme in DATAGRAM_SCHEMES)
        return CheckedUrl(url, scheme, host, port, tuple(addresses))

    # -- TLS -----------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of HTTP clients and the rtmps relay: verified unless
        ``egress_tls_verify`` is off."""
        if not self.tls_verify:
            warn_unverified()
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return verified_context(self.ca_file or default_ca_file())


def check_options(scheme: str, query: str) -> None:
    """Refuse listening / local-address options, and options off the scheme's allow list."""
    pairs = parse_qsl(query, keep_blank_values=True)
    # FFmpeg also reads a bare "?listen" (no "="): parse_qsl keeps it with an empty value.
    for key, value in pairs:
        name = key.strip().lower()
        if name in FORBIDDEN_OPTIONS:
            raise DestinationRefused(
                f"the URL option {name!r} is not allowed (no listening or local addresses)"
            )
        allowed = OPTION_QUERIES.get(scheme)
        if allowed is not None and name not in allowed:
            raise DestinationRefused(f"the URL option {name!r} is not allowed for {scheme} URLs")
        if scheme == "srt" and name == "mode" and value.strip().lower() != "caller":
            raise DestinationRefused("srt streams connect as callers only (mode=caller)")


@cache
def _policy(
    allow: tuple[str, ...], multicast: bool, tls_verify: bool, ca_file: str | None
) -> EgressPolicy:
    return EgressPolicy(parse_allow(allow), multicast, tls_verify, ca_file)


def verified_context(cafile: str) -> ssl.SSLContext:
    """A verifying TLS context trusting ``cafile``: made once per process and version of the
    file (loading a CA bundle takes tens of milliseconds), shared by the clients made after."""
    st = os.stat(cafile)
    return _context(cafile, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _context(cafile: str, _mtime_ns: int, _size: int) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile)


@cache
def default_ca_file() -> str:
    """The CA bundle used when ``egress_ca_file`` is not set (certifi's, as httpx uses)."""
    import certifi

    return certifi.where()


@cache
def warn_unverified() -> None:
    """Warn once per process that TLS certificates are not checked."""
    log.warning(
        "egress_tls_verify is off: TLS certificates of streams, webhooks and NCMEC are NOT "
        "verified (for testing only)"
    )
