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
from kumo.dataplane.reconcilers.base import (
    Reconciler,
    difference,
    few_changes,
    ns_order,
    touched,
)


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
        managed, link_names = _link_sets(links)
        if self._set_desired((self.desired, self.managed_links), (objects, managed)):
            self._note_changes(self.desired, objects)
            if self.per_device and managed != self.managed_links:
                # A link kumo now configures (or stopped configuring) that was
                # there before may hold objects to remove (or keep).
                came_or_went = difference(self.managed_links, managed)
                both = self._link_names
                self.changed |= {x for x in came_or_went if x in link_names and x in both}
            self.desired = objects
            self.managed_links = managed
            self._on_device = None
            self._grouped = None
        self._link_names = link_names

    _link_names: frozenset[tuple[str, str]] = frozenset()

    per_device = True
    """Event passes read this type per device (else per namespace)."""

    _on_device: frozenset[tuple[str, str]] | None = None

    def uses_device(self, netns: str, device: str) -> bool:
        if self._on_device is None:
            self._on_device = frozenset(touched(self.desired))
        return (netns, device) in self._on_device

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

    def read_on(self, netns: str, devices: frozenset[str]) -> Iterable[T]:
        """``read`` narrowed to ``devices``."""
        return [o for o in self.read(netns) if getattr(o, "ifname", None) in devices]

    @abstractmethod
    def owned(self, obj: T) -> bool:
        """Whether an actual object is kumo's (and may be removed)."""

    @abstractmethod
    def write(self, obj: T) -> None: ...

    @abstractmethod
    def remove(self, obj: T) -> None: ...

    _grouped: tuple[dict[str, list[T]], set[str]] | None = None

    def _by_namespace(self) -> tuple[dict[str, list[T]], set[str]]:
        """Desired objects per namespace, and the namespaces to read (kept
        until the desired state changes)."""
        if self._grouped is None:
            by_ns: dict[str, list[T]] = {}
            for obj in self.desired:
                by_ns.setdefault(obj.netns, []).append(obj)
            self._grouped = (by_ns, self.scopes())
        return self._grouped

    def updates(self) -> None:
        by_ns, scopes = self._by_namespace()
        narrowed = self.read_namespaces()
        if narrowed is not None:
            scopes = scopes & narrowed
        for ns in sorted(scopes, key=ns_order):
            devices = self.devices(ns) if self.per_device else None
            wanted = sorted(
                (o for o in by_ns.get(ns, ()) if devices is None or _device(o) in devices),
                key=self.order,
            )
            try:
                found = self.read(ns) if devices is None else self.read_on(ns, devices)
                actual = [o for o in found if self.owned(o)]
            except DataplaneError as exc:
                self.read_failed(ns, (obj.key for obj in wanted), exc)
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


def _device(obj: object) -> str:
    return str(getattr(obj, "ifname", ""))


_LINK_SETS: list[tuple[frozenset[Link], tuple[frozenset[tuple[str, str]], ...]]] = []


def _link_sets(
    links: frozenset[Link],
) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """(netns, name) of the links kumo configures fully, and of all links;
    the last answer is kept (every keyed reconciler asks about the same links)."""
    if _LINK_SETS and _LINK_SETS[0][0] is links:
        managed, every = _LINK_SETS[0][1]
        return managed, every
    if _LINK_SETS and few_changes(_LINK_SETS[0][0], links):
        # An event pass: move only the links that changed.
        old, (managed, every) = _LINK_SETS[0]
        gone, came = old - links, links - old
        came_names = {(x.netns, x.name) for x in came}
        names_gone = {(x.netns, x.name) for x in gone} - came_names
        managed = (managed - names_gone - came_names) | {
            (x.netns, x.name) for x in came if x.kind != "device" and not x.guest_configured
        }
        every = (every - names_gone) | came_names
        _LINK_SETS[:] = [(links, (managed, every))]
        return managed, every
    managed = frozenset(
        (x.netns, x.name) for x in links if x.kind != "device" and not x.guest_configured
    )
    every = frozenset((x.netns, x.name) for x in links)
    _LINK_SETS[:] = [(links, (managed, every))]
    return managed, every
