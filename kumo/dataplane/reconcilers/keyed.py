"""Shared diff for object types identified by a key (addresses, routes,
neighbour and FDB entries): read per namespace, write what differs, remember
owned leftovers. Subclasses say which namespaces to read, how to read and
write, and which actual objects are kumo's."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from functools import partial
from typing import Generic, Protocol, TypeVar

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS, Link, ObjectKey
from kumo.dataplane.port import DataplaneError
from kumo.dataplane.reconcilers.base import Reconciler, ns_order


class Keyed(Protocol):
    @property
    def key(self) -> ObjectKey: ...
    @property
    def netns(self) -> str: ...


T = TypeVar("T", bound=Keyed)


class KeyedReconciler(Reconciler, Generic[T]):
    desired: frozenset[T] = frozenset()
    managed_links: frozenset[tuple[str, str]] = frozenset()
    """(netns, ifname) of desired links kumo configures fully (not ``device``
    links, nor links whose instance configures them itself)."""

    def update_desired(self, objects: frozenset[T], links: frozenset[Link] = frozenset()) -> None:
        managed = frozenset(
            (x.netns, x.name) for x in links if x.kind != "device" and not x.guest_configured
        )
        if self._set_desired((self.desired, self.managed_links), (objects, managed)):
            self.desired = objects
            self.managed_links = managed

    reads_managed_links = True
    """Also read the namespaces of managed links (where stale objects of this
    type can exist without any desired one: addresses, routes)."""

    def scopes(self) -> set[str]:
        scopes = {HOST_NS} | {o.netns for o in self.desired}
        if self.reads_managed_links:
            scopes |= {ns for ns, _ in self.managed_links}
        return scopes

    def owns_link(self, netns: str, ifname: str) -> bool:
        return names.is_kumo_name(ifname) or (netns, ifname) in self.managed_links

    def order(self, obj: T) -> tuple[object, ...]:
        """Order in which desired objects are written."""
        return obj.key

    @abstractmethod
    def read(self, netns: str) -> Iterable[T]: ...

    @abstractmethod
    def owned(self, obj: T) -> bool:
        """Whether an actual object is kumo's (and may be removed)."""

    @abstractmethod
    def write(self, obj: T) -> None: ...

    @abstractmethod
    def remove(self, obj: T) -> None: ...

    def updates(self) -> None:
        by_ns: dict[str, list[T]] = {}
        for obj in self.desired:
            by_ns.setdefault(obj.netns, []).append(obj)
        for ns in sorted(self.scopes(), key=ns_order):
            if not self.reads(ns):
                continue
            wanted = sorted(by_ns.get(ns, ()), key=self.order)
            try:
                actual = [o for o in self.read(ns) if self.owned(o)]
            except DataplaneError as exc:
                for obj in wanted:
                    self.fail(obj.key, exc)
                continue
            present = set(actual)
            for obj in wanted:
                if obj in present:
                    self.in_place.add(obj.key)
                else:
                    self.attempt(obj.key, partial(self.write, obj))
            wanted_keys = {o.key for o in wanted}
            wanted_set = set(wanted)
            for obj in sorted(actual, key=lambda o: o.key):
                if obj.key not in wanted_keys or (obj not in wanted_set and self.stale_same_key):
                    self.leftover(obj.key, partial(self.remove, obj))

    stale_same_key = False
    """True when writing a desired object does not replace an actual one with
    the same key (it must then be removed separately)."""
