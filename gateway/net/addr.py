"""``HOST:PORT`` endpoints as given on the command line."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple


class Endpoint(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_multicast(self) -> bool:
        return ipaddress.IPv4Address(self.host).is_multicast


def parse_endpoint(text: str, *, port_zero: bool = False) -> Endpoint:
    """Parse ``A.B.C.D:PORT``; raises ValueError with the reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r}: expected HOST:PORT (an IPv4 address and a port)")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{text!r}: {host!r} is not an IPv4 address") from None
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number") from None
    low = 0 if port_zero else 1
    if not low <= port <= 65535:
        raise ValueError(f"{text!r}: port {port} outside {low}..65535")
    return Endpoint(host, port)
