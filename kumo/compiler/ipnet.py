"""Address parsing for the compiler, memoized.

A compile reads the same few thousand addresses and prefixes every pass
(each port's fixed IPs, its subnet's CIDR, remote-group members); parsing
them with ``ipaddress`` was most of a compile with 1,000 ports. The parsed
objects are immutable, so one per distinct string is shared. Both functions
raise ``ValueError`` for bad input, as ``ipaddress`` does.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SIZE = 1 << 16


@lru_cache(maxsize=_SIZE)
def ip_network(value: str) -> IPNetwork:
    """``ipaddress.ip_network(value, strict=False)``."""
    return ipaddress.ip_network(value, strict=False)


@lru_cache(maxsize=_SIZE)
def ip_address(value: str) -> IPAddress:
    """``ipaddress.ip_address(value)``."""
    return ipaddress.ip_address(value)
