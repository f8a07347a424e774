"""Subnet service types (``subnet-service-types``): which ports a subnet serves.

A subnet's ``service_types`` is a list of device owners (``network:...``,
``neutron:...`` or ``compute:...``). IPAM gives a port addresses only from
the subnets that name its device owner and from the subnets that name
none, those that name it first; a DHCP port may use any subnet with DHCP
on. A port of a network whose subnets all serve other owners gets no
address (``IpAddressGenerationFailureNoMatchingSubnet``), and a requested
fixed IP on such a subnet is refused as on a subnet of another network.
As Neutron, the types steer new allocations only: changing them accepts
a subnet whose ports no longer match, and those ports keep their addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from kumo.errors import BadRequest, Conflict, InvalidInput, shown
from kumo.network import validate

PREFIXES = ("network:", "neutron:", "compute:")
"""What a device owner starts with (Neutron's device owner prefixes)."""
DHCP_OWNER = "network:dhcp"


class Served(Protocol):
    """What the choice reads of a subnet."""

    @property
    def service_types(self) -> list[Any] | None: ...
    @property
    def enable_dhcp(self) -> bool: ...


S = TypeVar("S", bound=Served)


def parse(raw: Any) -> list[str]:
    """A request's ``service_types``: a list of device-owner strings (null: none)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("Subnet service types must be a list.")
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise InvalidInput(
                f"Subnet service type {shown(item)} is not a string.",
                kind="InvalidInputSubnetServiceType",
            )
        if not item.startswith(PREFIXES) or len(item) > 255:
            raise InvalidInput(
                f"Subnet service type {shown(item)} does not correspond to a valid device owner.",
                kind="InvalidSubnetServiceType",
            )
        out.append(item)
    validate.unique(out, "service_types")
    return out


def serves(sub: Served, device_owner: str) -> bool:
    """May a port of ``device_owner`` take an address from ``sub``?"""
    types = sub.service_types or []
    return not types or device_owner in types or (device_owner == DHCP_OWNER and sub.enable_dhcp)


def candidates(subnets: Sequence[S], device_owner: str) -> list[S]:
    """The subnets a port of ``device_owner`` may use, those naming it first
    (otherwise in the given order)."""
    usable = [s for s in subnets if serves(s, device_owner)]
    return sorted(usable, key=lambda s: not s.service_types)


def no_matching_subnet(network_id: str, device_owner: str) -> Conflict:
    return Conflict(
        f"No valid service subnet for the given device owner, network {network_id}, "
        f"service type {device_owner}.",
        kind="IpAddressGenerationFailureNoMatchingSubnet",
    )
