"""Trunks on the parent port's host: each subport's frames ride the
parent's device tagged with the subport's VLAN id.

Input: the local ports that are subports (``PortView.trunk``) and their
parents, bound here. Output (``TrunkObjects``): per subport a veth pair,
one end (the subport's ``kt`` name, as an instance port's host end) a
port of the subport network's bridge, the other (``kn``) outside any
bridge with a ``vlan-push`` program (tag with the VLAN id, out of the
parent's device toward the instance); per parent a ``vlan-split``
program on its device (a tagged frame of a subport's VLAN, untagged, to
that subport's outer end, whose pair delivers it into the subport's
bridge; other tagged frames dropped; untagged frames pass into the
parent's own bridge); and the subport's wiring, so its host reports it
ACTIVE once the objects exist.

The same programs serve kernels with and without 802.1Q devices: tc's
ingress hook runs before the kernel's VLAN receive and before the bridge,
so nothing else sees the tagged frames. The parent's device is the same
for namespace instances (a veth end) and VMs (a tap): both are named
``names.tap_name(parent)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kumo.compiler import names
from kumo.compiler.model import ClusterView, PortView
from kumo.compiler.plan import HOST_NS, Link, ObjectKey, PortWiring, TcProgram, VethPeer

SUBPORT_OWNER = "trunk:subport"


@dataclass(frozen=True)
class TrunkObjects:
    links: frozenset[Link] = frozenset()
    tc: frozenset[TcProgram] = frozenset()
    wiring: frozenset[PortWiring] = frozenset()


def is_parent_kind(port: PortView) -> bool:
    """Ports whose device on the host is ``names.tap_name`` (instances, VMs)."""
    return port.device_owner == "" or port.device_owner.startswith("compute:")


def local_subports(host: str, view: ClusterView) -> tuple[tuple[PortView, PortView], ...]:
    """(subport, parent) pairs whose parent is an instance or VM port bound
    to ``host`` (a subport follows its parent there), one per VLAN id of a
    parent (the smallest port id wins a duplicated id), sorted."""
    pairs: dict[tuple[str, int], tuple[PortView, PortView]] = {}
    subports = [p for p in view.ports_on(host) if p.trunk is not None and p.mac]
    for port in sorted(subports, key=lambda p: p.id):
        link = port.trunk
        if link is None:
            continue
        parent = view.ports.get(link.parent_port_id)
        if parent is None or parent.host != host or not is_parent_kind(parent):
            continue
        pairs.setdefault((parent.id, link.segmentation_id), (port, parent))
    return tuple(pairs[k] for k in sorted(pairs))


def compile_trunks(
    host: str, view: ClusterView, shared: dict[str, frozenset[ObjectKey]]
) -> TrunkObjects:
    """``shared``: per network, the keys every local port of it depends on
    (its bridge and uplink)."""
    links: set[Link] = set()
    tc: set[TcProgram] = set()
    wiring: set[PortWiring] = set()
    split: dict[str, set[tuple[int, str]]] = {}
    for sub, parent in local_subports(host, view):
        network = view.networks.get(sub.network_id)
        if network is None or sub.trunk is None:
            continue
        vid = sub.trunk.segmentation_id
        parent_dev = names.tap_name(parent.id)
        wire_name = names.trunk_wire_name(sub.id)
        up = sub.admin_state_up and network.admin_state_up
        mtu = sub.mtu or network.mtu
        bridge_end = Link(
            HOST_NS,
            names.tap_name(sub.id),
            "veth",
            mtu=mtu,
            up=up,
            master=names.bridge_name(network.id),
        )
        # the outer end makes the pair ("kn" sorts before "kt")
        wire = Link(
            HOST_NS, wire_name, "veth", mtu=mtu, up=up, peer=VethPeer(HOST_NS, bridge_end.name)
        )
        push = TcProgram(HOST_NS, wire_name, "vlan-push", ((vid, parent_dev),))
        links |= {bridge_end, wire}
        tc.add(push)
        split.setdefault(parent_dev, set()).add((vid, wire_name))
        requires = {
            bridge_end.key,
            bridge_end.master_key,
            wire.key,
            push.key,
            ("tc", HOST_NS, parent_dev),
            *shared.get(network.id, frozenset()),
        }
        wiring.add(PortWiring(sub.id, frozenset(requires)))
    for device, vlans in split.items():
        tc.add(TcProgram(HOST_NS, device, "vlan-split", tuple(sorted(vlans))))
    return TrunkObjects(frozenset(links), frozenset(tc), frozenset(wiring))
