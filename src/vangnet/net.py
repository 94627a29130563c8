"""Network address helpers shared by the server, the deployment check and clients, and the
redacted form of a stream URL that logs, events, cases and reports show."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: ``egress_allow`` keyword for the loopback ranges.
LOOPBACK: Final = "loopback"
_LOOPBACK_NETWORKS: Final = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def parse_allow(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``egress_allow`` entries: CIDRs or single addresses, and the keyword ``loopback``."""
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        if text.lower() == LOOPBACK:
            networks.extend(_LOOPBACK_NETWORKS)
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"egress_allow entry {text!r} is neither a CIDR, an address nor 'loopback'"
            ) from None
    return tuple(networks)


_KEYED_PATHS = ("rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts")


def display_url(url: str | None) -> str | None:
    """``url`` without credentials or query (stream keys, passphrases) for logs, events, the
    web UI and reports. RTMP carries the stream key as the path after the application name
    (``rtmp://host/app/KEY``): that part is shown as ``***``."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]  # as written: [IPv6] and odd ports stay intact
    path = parts.path
    if parts.scheme.lower() in _KEYED_PATHS:
        app, sep, key = path.lstrip("/").partition("/")
        path = f"/{app}/***" if sep and key else path
    return urlunsplit((parts.scheme, host, path, "", ""))


def limited_as(address: str) -> str:
    """The client an address is limited as: an IPv6 address stands for its /64 (the block
    one host or subscriber is given, any address of which it may send from); an IPv4
    address, an IPv4-mapped IPv6 one, or anything not an address (a test client's name, a
    Unix socket) as itself."""
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
