"""Interface addresses on kumo links and on links kumo configures fully (an
instance's ``eth0``). IPv6 link-local addresses belong to the kernel and are
never touched."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from kumo.compiler.plan import Address
from kumo.dataplane.reconcilers.keyed import KeyedReconciler

_LINK_LOCAL6 = ipaddress.ip_network("fe80::/10")


class AddressReconciler(KeyedReconciler[Address]):
    name = "addresses"

    def read(self, netns: str) -> Iterable[Address]:
        return self.port.list_addresses(netns)

    def read_on(self, netns: str, devices: frozenset[str]) -> Iterable[Address]:
        return self.port.addresses_on(netns, devices)

    def owned(self, obj: Address) -> bool:
        ip = ipaddress.ip_interface(obj.address).ip
        if ip.version == 6 and ip in _LINK_LOCAL6:
            return False
        return self.owns_link(obj.netns, obj.ifname)

    def write(self, obj: Address) -> None:
        self.port.add_address(obj)

    def remove(self, obj: Address) -> None:
        self.port.del_address(obj)
