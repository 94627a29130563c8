"""Network address helpers shared by the server, the deployment check and clients."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final

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
