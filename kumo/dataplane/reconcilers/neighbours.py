"""Permanent neighbour entries on kumo links (the VXLAN devices' tables that
answer ARP/ND for remote ports locally). Dynamic entries and entries on
other links are never touched."""

from __future__ import annotations

from collections.abc import Iterable

from kumo.compiler.plan import NeighEntry
from kumo.dataplane.reconcilers.keyed import KeyedReconciler


class NeighbourReconciler(KeyedReconciler[NeighEntry]):
    name = "neighbours"
    reads_managed_links = False

    def read(self, netns: str) -> Iterable[NeighEntry]:
        return self.port.list_neighbours(netns)

    def read_on(self, netns: str, devices: frozenset[str]) -> Iterable[NeighEntry]:
        return self.port.neighbours_on(netns, devices)

    def owned(self, obj: NeighEntry) -> bool:
        return self.owns_link(obj.netns, obj.ifname)

    def write(self, obj: NeighEntry) -> None:
        self.port.replace_neighbour(obj)

    def remove(self, obj: NeighEntry) -> None:
        self.port.del_neighbour(obj)
