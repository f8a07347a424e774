"""Links: create missing ones, correct attributes in place, remove leftovers.

Attributes that the kernel can change (MTU, MAC, admin state) are set on the
existing link, never by recreating it, so an agent restart is hitless. A
link is recreated only when it cannot be corrected: wrong kind, different
VXLAN identity (VNI, local address, port, underlay, flags) or VLAN id/parent.
A veth pair is created from its host end, with the instance end (a separate
desired ``Link``) placed in its namespace in the same request.

``device`` links (a physical NIC, an instance's ``lo``) are never created or
removed, only set up/down. ``tap`` links (a VM's NICs) are persistent taps
that QEMU attaches to by name; the kernel reports their kind as ``tun``. Leftovers are links with kumo names (see
``kumo.compiler.names``) that are not desired; nothing else is touched.
Bridge membership is the masters reconciler's business.
"""

from __future__ import annotations

from functools import partial

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS, Link, ObjectKey
from kumo.dataplane.port import DataplaneError, LinkChange, LinkState
from kumo.dataplane.reconcilers.base import (
    Reconciler,
    difference,
    links_by_namespace,
    links_wanted,
)

_CREATE_ORDER = {
    "device": 0, "bridge": 1, "dummy": 2, "vlan": 3, "vxlan": 4, "veth": 5, "tap": 6,
}  # fmt: skip
_KERNEL_KIND = {
    "device": None, "dummy": "dummy", "bridge": "bridge", "vxlan": "vxlan", "tap": "tun",
}  # fmt: skip


def needs_recreate(link: Link, actual: LinkState) -> bool:
    """True when ``actual`` cannot be corrected into ``link`` in place."""
    if link.kind == "device":
        return False
    if actual.kind != _KERNEL_KIND.get(link.kind, link.kind):
        return True
    if link.kind == "vxlan" and link.vxlan != actual.vxlan:
        return True
    return link.kind == "vlan" and (link.vlan_id, link.parent) != (actual.vlan_id, actual.parent)


def link_change(link: Link, actual: LinkState) -> LinkChange:
    return LinkChange(
        mtu=link.mtu if link.mtu is not None and link.mtu != actual.mtu else None,
        mac=link.mac if link.mac is not None and link.mac.lower() != actual.mac.lower() else None,
        up=link.up if link.up != actual.up else None,
        netfilter=(
            link.netfilter
            if link.kind == "bridge"
            and link.netfilter is not None
            and link.netfilter != bool(actual.netfilter)
            else None
        ),
    )


class LinkReconciler(Reconciler):
    name = "links"
    desired: frozenset[Link] = frozenset()

    _host_ends: dict[tuple[str, str], Link] = {}
    """Instance end (netns, name) → the desired host end that creates it."""
    _by_key: dict[ObjectKey, Link] = {}
    _made_with: set[ObjectKey] = set()
    """Keys of veth ends created this pass together with their other end."""

    vanishing: frozenset[str] = frozenset()
    """Host-namespace links that go with a namespace being removed this pass
    (the host ends of instance veth pairs): not deleted one by one, since a
    namespace removal deletes its veth pairs in one batched kernel operation
    while each single veth deletion waits for an RCU grace period."""

    def update_desired(self, links: frozenset[Link]) -> None:
        if self._set_desired(self.desired, links):
            old = self.desired
            self._note_changes(old, links)
            self.desired = links
            if not old or len(difference(old, links)) * 4 > len(links):
                self._host_ends = {(x.peer.netns, x.peer.name): x for x in links if x.peer}
                self._by_key = {x.key: x for x in links}
                return
            # An event pass: only the links that changed move in the indexes.
            host_ends, by_key = dict(self._host_ends), dict(self._by_key)
            for x in old - links:
                if x.peer and host_ends.get((x.peer.netns, x.peer.name)) == x:
                    del host_ends[(x.peer.netns, x.peer.name)]
                if by_key.get(x.key) == x:
                    del by_key[x.key]
            for x in links - old:
                if x.peer:
                    host_ends[(x.peer.netns, x.peer.name)] = x
                by_key[x.key] = x
            self._host_ends, self._by_key = host_ends, by_key

    def updates(self) -> None:
        self._made_with = set()
        by_ns = links_by_namespace(self.desired)
        for ns in self.namespaces_to_read(by_ns):
            devices = self.devices(ns)
            wanted = sorted(
                links_wanted(by_ns, ns, devices), key=lambda x: (_CREATE_ORDER[x.kind], x.name)
            )
            try:
                found = (
                    self.port.list_links(ns)
                    if devices is None
                    else self.port.links_named(ns, devices)
                )
                actual = {a.name: a for a in found}
            except DataplaneError as exc:
                self.read_failed(ns, (link.key for link in wanted), exc)
                continue
            for link in wanted:
                self._ensure(link, actual.get(link.name))
            desired_names = {link.name for link in wanted}
            for name in sorted(set(actual) - desired_names):
                if ns == HOST_NS and name in self.vanishing:
                    continue
                if names.is_kumo_name(name):
                    self.leftover(("link", ns, name), partial(self.port.del_link, ns, name))

    def _peer_of(self, link: Link) -> Link | None:
        if link.peer is None:
            return None
        found = self._by_key.get(("link", link.peer.netns, link.peer.name))
        return found or Link(link.peer.netns, link.peer.name, "veth")

    def _ensure(self, link: Link, actual: LinkState | None) -> None:
        key: ObjectKey = link.key
        if actual is None:
            if link.kind == "device":
                self.fail(key, f"device {link.name} does not exist")
                return
            host_end = self._host_ends.get((link.netns, link.name))
            if link.kind == "veth" and link.peer is None:
                # The instance end of a pair: it exists only together with its
                # host end. Its host end is there (desired and processed
                # first), so the pair is broken: rebuild it whole.
                if host_end is None:
                    self.fail(key, "veth end without a desired peer")
                    return
                if key in self._made_with:
                    # both ends in one namespace: made a moment ago with its
                    # other end, after this namespace was read
                    self.in_place.add(key)
                    return
                if host_end.key in self.errors:
                    self.fail(key, f"host end {host_end.name} failed")
                    return
                self.in_place.discard(host_end.key)
                self.attempt(key, lambda: self._recreate(host_end))
                if key in self.in_place:
                    self.in_place.add(host_end.key)
                return
            made = self.attempt(key, lambda: self.port.add_link(link, self._peer_of(link)))
            if made and link.peer is not None:
                self._made_with.add(("link", link.peer.netns, link.peer.name))
            return
        if needs_recreate(link, actual):
            self.attempt(key, lambda: self._recreate(link))
            return
        change = link_change(link, actual)
        if change:
            self.attempt(key, lambda: self.port.set_link(link.netns, link.name, change))
        else:
            self.in_place.add(key)

    def _recreate(self, link: Link) -> None:
        self.port.del_link(link.netns, link.name)
        self.port.add_link(link, self._peer_of(link))
        if link.peer is not None:
            self._made_with.add(("link", link.peer.netns, link.peer.name))
