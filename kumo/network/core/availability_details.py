"""``network-ip-availability-details``: four counts per subnet, summed per
network, beside ``total_ips`` (the pools' size) and ``used_ips``.

``total_ips_in_subnet``: the addresses of the subnet's CIDR (IPv4 without
its network and broadcast addresses); ``total_ips_in_allocation_pool``:
the pools' size (0 without pools); ``used_ips_in_subnet``: every address
allocated in the subnet; ``used_ips_in_allocation_pool``: those inside a
pool (a gateway or a fixed IP chosen outside the pools is not).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from kumo.db.network_models import Subnet

KEY = "ip_availability_details"
FIELDS = (
    "total_ips_in_subnet",
    "total_ips_in_allocation_pool",
    "used_ips_in_subnet",
    "used_ips_in_allocation_pool",
)


def of_subnet(sub: Subnet, addresses: list[str]) -> dict[str, int]:
    net = ipaddress.ip_network(sub.cidr, strict=False)
    in_subnet = net.num_addresses - (2 if net.version == 4 else 0)
    pools = [
        (int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
        for p in sub.allocation_pools or []
    ]
    used = [int(ipaddress.ip_address(a)) for a in addresses]
    return {
        "total_ips_in_subnet": max(in_subnet, 0),
        "total_ips_in_allocation_pool": sum(end - start + 1 for start, end in pools),
        "used_ips_in_subnet": len(used),
        "used_ips_in_allocation_pool": sum(
            1 for a in used if any(start <= a <= end for start, end in pools)
        ),
    }


def summed(items: Iterable[dict[str, Any]]) -> dict[str, int]:
    out = dict.fromkeys(FIELDS, 0)
    for item in items:
        for key in FIELDS:
            out[key] += int(item[key])
    return out
