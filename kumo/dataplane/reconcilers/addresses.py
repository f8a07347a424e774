"""Interface addresses on kumo links and on links kumo configures fully (an
instance's ``eth0``). IPv6 link-local addresses belong to the kernel and are
never touched, but for fe80::a9fe:a9fe (the metadata and DNS address kumo
adds to its metadata namespaces' legs)."""

from __future__ import annotations

from collections.abc import Iterable

from kumo.compiler.metadata import METADATA_ADDRESS6
from kumo.compiler.plan import Address
from kumo.dataplane.reconcilers.keyed import KeyedReconciler


def link_local6(address: str) -> bool:
    """Whether ``address`` (``ip/prefix``) is in fe80::/10, told from its
    first group without parsing (a host has one per link): that group is
    non-zero, so it is always written out, as fe80 to febf."""
    text = address.lower()
    return (
        text[:2] == "fe"
        and text[2:3] in ("8", "9", "a", "b")
        and text[3:4] in _HEX
        and text[4:5] == ":"
    )


_HEX = frozenset("0123456789abcdef")


class AddressReconciler(KeyedReconciler[Address]):
    name = "addresses"

    def read(self, netns: str) -> Iterable[Address]:
        return self.port.list_addresses(netns)

    def read_on(self, netns: str, devices: frozenset[str]) -> Iterable[Address]:
        return self.port.addresses_on(netns, devices)

    def owned(self, obj: Address) -> bool:
        return (
            not link_local6(obj.address) or obj.address == METADATA_ADDRESS6
        ) and self.owns_link(obj.netns, obj.ifname)

    def write(self, obj: Address) -> None:
        self.port.add_address(obj)

    def remove(self, obj: Address) -> None:
        self.port.del_address(obj)
