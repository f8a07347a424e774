"""compile_host: ClusterView → HostPlan for one host. Pure, deterministic.

Stages (each a function from the view of one network on this host to plan
objects, run for every network that has at least one port bound here):

=================  ==========================================================
stage              output
=================  ==========================================================
``segment``        the network bridge and its uplink: a VXLAN device
                   (``nolearning proxy``, VNI = segmentation id, bridge-port
                   learning off) for vxlan networks; the mapped physical
                   interface (flat) or a VLAN subinterface of it (vlan),
                   an isolated bridge port, so that the host's own isolated
                   legs (metadata) never talk to the shared segment; on a
                   kernel without 802.1Q devices a VLAN's uplink is a veth
                   pair whose outer end tags frames with a tc program, and
                   the physical interface gets one program that untags and
                   dispatches the host's VLANs (``TcProgram``)
``remote_ports``   for each port of the network bound to ANOTHER host (vxlan
                   only): a VXLAN ``self`` FDB entry mac → that host's tunnel
                   IP, a bridge ``master static`` entry for the mac on the
                   VXLAN device, and a neighbour entry per fixed IP on the
                   VXLAN device, so the device answers ARP/ND for remote
                   ports locally (nothing is flooded across the underlay;
                   verified with tcpdump on the underlay in the root tests:
                   ``proxy`` works on this kernel, and with no all-zero
                   flood entry no broadcast ever leaves the host)
``vms``            per local port of a server the QEMU driver runs: a
                   persistent tap in the bridge (``vms.py``), and per such
                   server a ``VmPlan``; every other instance port is an
``instances``      instance namespace: per local instance port, a namespace, a veth pair (host end
                   in the bridge, ``eth0`` with the port's MAC inside), the
                   fixed IPs, default routes via the subnets' gateways and the
                   subnets' host routes — static configuration, like a config
                   drive (with an on-link route to 169.254.169.254 where
                   the host serves metadata); its own UTS namespace with the
                   port's hostname (its server's, or the port's name)
=================  ==========================================================

Outside the per-network stages: routers (``routers.py``; their floating
IPs' port forwardings in ``forwarding.py``), the gateway
hosts' forwarding of distributed SNAT's return traffic (``snat.py``), the
firewall (``firewall.py``), DHCP (``dhcp.py``), the metadata service's
namespaces (``metadata.py``), the resolver's zones in them (``dns.py``), the
ports' QoS (``qos.py``), trunks' subports on their parent's device
(``trunks.py``) and the metering labels on the router namespaces' external
legs (``metering.py``, from the links the router stage made).

Ports are instances when their device_owner starts with ``compute:`` or is
empty; other owners (DHCP, router ports) get the network's bridge but are
plugged by their own features.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any

from kumo.compiler import ipnet, names
from kumo.compiler.dhcp import compile_adverts, compile_dhcp6, compile_leases
from kumo.compiler.dns import compile_dns
from kumo.compiler.firewall import compile_filters
from kumo.compiler.firewall_patch import MAX_FILTERED_PORTS
from kumo.compiler.ha import Active, compile_gate, locate
from kumo.compiler.memo import HOSTS_KEPT, LastAnswer
from kumo.compiler.metadata import METADATA_ROUTE, compile_metadata, serves_metadata
from kumo.compiler.metering import compile_metering
from kumo.compiler.model import (
    ClusterView,
    HostView,
    NetworkView,
    PortView,
    ServerView,
    SubnetView,
)
from kumo.compiler.plan import (
    HOST_NS,
    Address,
    FdbEntry,
    FirewallPlan,
    Guest,
    Hostname,
    HostPlan,
    InstancePlumbing,
    Link,
    NeighEntry,
    Netns,
    ObjectKey,
    PortWiring,
    Route,
    TcProgram,
    VethPeer,
    VxlanSpec,
)
from kumo.compiler.qos import compile_qos
from kumo.compiler.routers import compile_routers, fip_leg_mac
from kumo.compiler.snat import compile_gateway
from kumo.compiler.trunks import compile_trunks
from kumo.compiler.vms import compile_vms, is_vm_port, nic_objects

FIREWALL_KEY: ObjectKey = FirewallPlan().key


@dataclass
class _Builder:
    """Mutable accumulator used inside one compile_host call only."""

    netns: set[Netns] = field(default_factory=set)
    links: set[Link] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    routes: set[Route] = field(default_factory=set)
    neighbours: set[NeighEntry] = field(default_factory=set)
    fdb: set[FdbEntry] = field(default_factory=set)
    instances: set[InstancePlumbing] = field(default_factory=set)
    wiring: set[PortWiring] = field(default_factory=set)
    secured_wiring: set[PortWiring] = field(default_factory=set)
    """Instance ports' wiring, which needs the host firewall in place
    already when the port has port security (filtered: see ``_port_objects``)."""
    guests: set[Guest] = field(default_factory=set)
    hostnames: set[Hostname] = field(default_factory=set)
    tc: set[TcProgram] = field(default_factory=set)
    vlan_wires: dict[str, set[tuple[int, str]]] = field(default_factory=dict)
    """Physical interface → (VLAN id, outer end) of the VLAN networks carried
    by tc programs on it."""


@dataclass(frozen=True)
class _NetworkOnHost:
    host: str
    me: HostView | None
    network: NetworkView
    subnets: tuple[SubnetView, ...]
    ports: tuple[PortView, ...]
    view: ClusterView
    underlay_device: str | None
    vlan_devices: bool
    filtered: bool
    """Some local port of the network has port security."""

    @property
    def bridge(self) -> str:
        return names.bridge_name(self.network.id)


Stage = Callable[[_NetworkOnHost, _Builder], frozenset[ObjectKey]]
"""A stage adds objects and returns the keys every local port depends on."""


def compile_host(
    host: str,
    view: ClusterView,
    *,
    underlay_device: str | None = None,
    ha_active: Active | None = None,
    beat_port: int = 4791,
    lease_ms: int = 200,
    ha_state_sync: bool = True,
    vlan_devices: bool | None = None,
) -> HostPlan:
    """The desired kernel state of ``host``.

    ``underlay_device`` overrides the host's advertised underlay interface
    (the agent knows its own configuration before its report comes back).
    ``ha_active`` is the host's liveness view of highly available routers
    (see ``kumo.compiler.ha``); ``beat_port`` and ``lease_ms`` shape their gate;
    ``ha_state_sync`` says whether their connection state is synced.
    ``vlan_devices`` overrides the host's advertised 802.1Q support.
    """
    view = locate(view, ha_active)
    me = view.hosts.get(host)
    underlay = underlay_device or (me.underlay_device if me else None)
    if vlan_devices is None:
        vlan_devices = me.vlan_devices if me else True
    out = _Builder()
    routers = compile_routers(host, view, ha_strict=ha_state_sync)
    snat_gateway, uplinks = compile_gateway(host, view, fip_leg_mac, vlan_devices=vlan_devices)
    local_networks = sorted(
        {n for n in view.local_ports_by_network(host) if n} | routers.networks | uplinks
    )
    firewall, filtered_networks = compile_filters(host, view, local_networks)
    shared_of: dict[str, frozenset[ObjectKey]] = {}
    for network_id in local_networks:
        network = view.networks.get(network_id)
        if network is None:
            continue  # the port arrived before its network; compiled once it is known
        net = _NetworkOnHost(
            host=host,
            me=me,
            network=network.on_host(me),
            subnets=tuple(sorted(view.subnets_of(network_id), key=lambda s: s.id)),
            ports=_SORTED_PORTS.get(network_id, _sorted_ports, view.ports_of(network_id)),
            view=view,
            underlay_device=underlay,
            vlan_devices=vlan_devices,
            filtered=network_id in filtered_networks,
        )
        shared: set[ObjectKey] = set()
        for stage in STAGES:
            shared |= stage(net, out)
        shared_of[network_id] = frozenset(shared)
        _instances(net, out, frozenset(shared))
    trunks = compile_trunks(host, view, shared_of)
    out.links |= trunks.links
    out.tc |= trunks.tc
    out.wiring |= trunks.wiring
    for physdev, vlans in out.vlan_wires.items():
        out.tc.add(TcProgram(HOST_NS, physdev, "vlan-split", tuple(sorted(vlans))))
    out.netns |= routers.netns
    out.links |= routers.links
    out.addresses |= routers.addresses
    out.routes |= routers.routes
    out.neighbours |= routers.neighbours
    out.fdb |= routers.fdb
    out.wiring |= routers.wiring
    metadata = compile_metadata(host, view, is_instance_port)
    out.netns |= metadata.netns
    out.links |= metadata.links
    out.addresses |= metadata.addresses
    out.routes |= metadata.routes
    if firewall.ports:
        filtered = firewall.by_port
        out.wiring = {_filtered(w) if w.port_id in filtered else w for w in out.wiring}
        if len(filtered) >= MAX_FILTERED_PORTS:  # not every secured port has a filter
            out.secured_wiring = {
                _filtered(w) if w.port_id in filtered else _unfiltered(w)
                for w in out.secured_wiring
            }
    out.wiring |= out.secured_wiring
    vms = compile_vms(host, view)
    plugged = {i.port_id for i in out.instances} | {n.port_id for vm in vms for n in vm.nics}
    plan = HostPlan(
        host=host,
        netns=frozenset(out.netns),
        links=frozenset(out.links),
        addresses=frozenset(out.addresses),
        routes=frozenset(out.routes),
        neighbours=frozenset(out.neighbours),
        fdb=frozenset(out.fdb),
        tc=frozenset(out.tc),
        instances=frozenset(out.instances),
        wiring=frozenset(out.wiring),
        rules=frozenset(routers.rules),
        sysctls=frozenset(routers.sysctls),
        nat=frozenset(routers.nat),
        dhcp=compile_leases(host, view, is_instance_port),
        adverts=compile_adverts(host, view, is_instance_port),
        dhcp6=compile_dhcp6(host, view, is_instance_port),
        guests=frozenset(out.guests),
        hostnames=frozenset(out.hostnames),
        vms=vms,
        metadata=frozenset(metadata.endpoints),
        dns=compile_dns(host, view, metadata.endpoints, is_instance_port),
        firewall=firewall,
        gate=compile_gate(
            host, view, out.links, beat_device=underlay, beat_port=beat_port, lease_ms=lease_ms
        ),
        snat_gateway=snat_gateway,
        qos=compile_qos(host, view, frozenset(plugged)),
        meters=compile_metering(host, view, out.links),
    )
    return _kept(plan)


_LAST_PLANS: dict[str, HostPlan] = {}
"""Per host, the plan compiled last."""

_SETS = tuple(f.name for f in fields(HostPlan) if f.type.startswith("frozenset"))
"""The plan's parts that are sets of objects."""


def _kept(plan: HostPlan) -> HostPlan:
    """``plan`` with each part equal to the last plan's being that part
    itself: the dataplane then knows it unchanged by identity, in each
    reconciler and index, instead of comparing it object by object."""
    last = _LAST_PLANS.get(plan.host)
    if last is not None:
        same = {
            name: old
            for name in _SETS
            if (old := getattr(last, name)) is not (new := getattr(plan, name)) and old == new
        }
        if same:
            plan = replace(plan, **same)
    elif len(_LAST_PLANS) >= HOSTS_KEPT:
        _LAST_PLANS.clear()
    _LAST_PLANS[plan.host] = plan
    return plan


def _segment(net: _NetworkOnHost, out: _Builder) -> frozenset[ObjectKey]:
    network = net.network
    up = network.admin_state_up
    # Only the bridges of networks with filtered ports hand their frames to
    # the inet hooks (conntrack, security groups): the others are spared.
    bridge = Link(HOST_NS, net.bridge, "bridge", mtu=network.mtu, up=up, netfilter=net.filtered)
    out.links.add(bridge)
    needs: set[ObjectKey] = {bridge.key}
    uplink: Link | None = None
    if network.network_type == "vxlan":
        if network.segmentation_id is not None and net.me is not None and net.me.tunnel_ip:
            uplink = Link(
                HOST_NS,
                names.vxlan_name(network.id),
                "vxlan",
                mtu=network.mtu,
                up=up,
                master=net.bridge,
                learning=False,
                vxlan=VxlanSpec(
                    vni=network.segmentation_id,
                    local=net.me.tunnel_ip,
                    underlay=net.underlay_device,
                ),
            )
    elif network.network_type in ("flat", "vlan") and net.me is not None:
        ifname = net.me.interface_for(network.physical_network)
        if ifname is not None and network.network_type == "flat":
            uplink = Link(HOST_NS, ifname, "device", up=True, master=net.bridge, isolated=True)
        elif ifname is not None and network.segmentation_id is not None:
            if not net.vlan_devices:
                return frozenset(needs | _vlan_wire(net, ifname, network.segmentation_id, out))
            uplink = Link(
                HOST_NS,
                names.vlan_name(network.id),
                "vlan",
                mtu=network.mtu,
                up=up,
                master=net.bridge,
                isolated=True,
                vlan_id=network.segmentation_id,
                parent=ifname,
            )
    if uplink is not None:
        out.links.add(uplink)
        needs |= {uplink.key, uplink.master_key}
    return frozenset(needs)


def _vlan_wire(net: _NetworkOnHost, physdev: str, vid: int, out: _Builder) -> set[ObjectKey]:
    """A VLAN network's uplink on a kernel without 802.1Q devices: a veth
    pair, one end in the bridge (isolated, like a VLAN subinterface), the
    other tagging what leaves the bridge and sending it out of ``physdev``,
    whose own program hands it the frames of its VLAN untagged."""
    network = net.network
    up = network.admin_state_up
    wire_name = names.vlan_wire_name(network.id)
    bridge_end = Link(
        HOST_NS,
        names.vlan_name(network.id),
        "veth",
        mtu=network.mtu,
        up=up,
        master=net.bridge,
        isolated=True,
    )
    # The outer end creates the pair (its name sorts first, so the pair is
    # made before the bridge end is looked at).
    wire = Link(
        HOST_NS,
        wire_name,
        "veth",
        mtu=network.mtu,
        up=up,
        peer=VethPeer(HOST_NS, bridge_end.name),
    )
    push = TcProgram(HOST_NS, wire_name, "vlan-push", ((vid, physdev),))
    out.links |= {bridge_end, wire}
    out.tc.add(push)
    out.vlan_wires.setdefault(physdev, set()).add((vid, wire_name))
    return {
        bridge_end.key,
        bridge_end.master_key,
        wire.key,
        push.key,
        ("tc", HOST_NS, physdev),
    }


def _remote_ports(net: _NetworkOnHost, out: _Builder) -> frozenset[ObjectKey]:
    network = net.network
    if network.network_type != "vxlan" or network.segmentation_id is None:
        return frozenset()
    if net.me is None or not net.me.tunnel_ip:
        return frozenset()
    fdb, neighbours = _REMOTE.get(
        (net.host, network.id), _remote_objects, net.host, network, net.ports, net.view.hosts
    )
    out.fdb |= fdb
    out.neighbours |= neighbours
    return frozenset()


_REMOTE: LastAnswer[tuple[frozenset[FdbEntry], frozenset[NeighEntry]]] = LastAnswer()
"""Per (host, network): the FDB and neighbour entries of its remote ports."""


def _remote_objects(
    host: str,
    network: NetworkView,
    ports: tuple[PortView, ...],
    hosts: Mapping[str, HostView],
) -> tuple[frozenset[FdbEntry], frozenset[NeighEntry]]:
    vxlan = names.vxlan_name(network.id)
    seen_macs: set[str] = set()
    neighbours: dict[str, NeighEntry] = {}
    fdb: set[FdbEntry] = set()
    for port in ports:  # sorted by id: a duplicated MAC resolves the same way every time
        if not port.host or port.host == host or not port.mac:
            continue
        remote = hosts.get(port.host)
        if remote is None or not remote.tunnel_ip or port.mac in seen_macs:
            continue
        seen_macs.add(port.mac)
        fdb.add(FdbEntry(HOST_NS, vxlan, port.mac, master=False, dst=remote.tunnel_ip))
        fdb.add(FdbEntry(HOST_NS, vxlan, port.mac, master=True))
        for fixed in port.fixed_ips:
            ip = _parse_ip(fixed.ip_address)
            if ip is not None:
                neighbours[str(ip)] = NeighEntry(HOST_NS, vxlan, str(ip), port.mac)
        for pair in port.address_pairs:
            # A single-address pair (a VIP) is answered like a fixed IP; the
            # first port (by id) that claims it wins. CIDR pairs are not.
            ip = _parse_ip(pair.ip_address.removesuffix("/32").removesuffix("/128"))
            if ip is None or str(ip) in neighbours:
                continue
            neighbours[str(ip)] = NeighEntry(HOST_NS, vxlan, str(ip), pair.mac_address)
            if pair.mac_address not in seen_macs:
                seen_macs.add(pair.mac_address)
                fdb.add(
                    FdbEntry(HOST_NS, vxlan, pair.mac_address, master=False, dst=remote.tunnel_ip)
                )
                fdb.add(FdbEntry(HOST_NS, vxlan, pair.mac_address, master=True))
    return frozenset(fdb), frozenset(neighbours.values())


STAGES: tuple[Stage, ...] = (_segment, _remote_ports)
"""Per-network stages, in order; ``_instances`` runs last with their keys."""


@lru_cache(maxsize=1 << 14)
def _filtered(wiring: PortWiring) -> PortWiring:
    """A port's wiring that also needs the host firewall in place."""
    return PortWiring(wiring.port_id, wiring.requires | {FIREWALL_KEY})


def _unfiltered(wiring: PortWiring) -> PortWiring:
    return PortWiring(wiring.port_id, wiring.requires - {FIREWALL_KEY})


def is_instance_port(port: PortView) -> bool:
    return port.device_owner == "" or port.device_owner.startswith("compute:")


def _sorted_ports(ports: tuple[PortView, ...]) -> tuple[PortView, ...]:
    return tuple(sorted(ports, key=_by_id))


_SORTED_PORTS: LastAnswer[tuple[PortView, ...]] = LastAnswer()
"""Per network: its ports by id."""


def _instance_ports(local: tuple[PortView, ...]) -> tuple[PortView, ...]:
    """A network's local instance ports with a MAC, by id."""
    return tuple(sorted((p for p in local if is_instance_port(p) and p.mac), key=_by_id))


def _by_id(port: PortView) -> str:
    return port.id


_INSTANCE_PORTS: LastAnswer[tuple[PortView, ...]] = LastAnswer()
"""Per (host, network)."""


def _vm_ports(
    ports: tuple[PortView, ...], servers: Mapping[str, ServerView]
) -> tuple[PortView, ...]:
    """The ports of ``ports`` that servers the QEMU driver runs have."""
    if not servers:
        return ()
    view = ClusterView(servers=servers)
    return tuple(p for p in ports if is_vm_port(p, view))


_VM_PORTS: LastAnswer[tuple[PortView, ...]] = LastAnswer()
"""Per (host, network)."""


def _instances(net: _NetworkOnHost, out: _Builder, shared: frozenset[ObjectKey]) -> None:
    local = net.view.local_ports_by_network(net.host).get(net.network.id, ())
    ports = _INSTANCE_PORTS.get((net.host, net.network.id), _instance_ports, local)
    vm_ports = _VM_PORTS.get((net.host, net.network.id), _vm_ports, ports, net.view.servers)
    if vm_ports:
        ports = tuple(p for p in ports if p not in vm_ports)
        for port in vm_ports:
            tap, wiring = nic_objects(net.bridge, net.network, port, shared)
            out.links.add(tap)
            out.wiring.add(wiring)
    objects = _INSTANCES.get(
        (net.host, net.network.id),
        _network_instances,
        net.host, net.network, net.subnets, ports, shared,
    )  # fmt: skip
    out.netns |= objects.netns
    out.links |= objects.links
    out.guests |= objects.guests
    out.hostnames |= objects.hostnames
    out.addresses |= objects.addresses
    out.routes |= objects.routes
    out.instances |= objects.instances
    out.secured_wiring |= objects.wiring


@dataclass(frozen=True)
class _InstanceObjects:
    """What a network's instance ports on one host put in the plan."""

    netns: frozenset[Netns]
    links: frozenset[Link]
    guests: frozenset[Guest]
    hostnames: frozenset[Hostname]
    addresses: frozenset[Address]
    routes: frozenset[Route]
    instances: frozenset[InstancePlumbing]
    wiring: frozenset[PortWiring]


_INSTANCES: LastAnswer[_InstanceObjects] = LastAnswer()
"""Per (host, network): a change on one network leaves the others'
(hundreds of ports each) as they were."""


def _network_instances(
    host: str,
    network: NetworkView,
    subnets: tuple[SubnetView, ...],
    ports: tuple[PortView, ...],
    shared: frozenset[ObjectKey],
) -> _InstanceObjects:
    """The instance objects of a network's ports on one host: each port's
    (remembered per port), counted per object, so that the next call with
    the same network, subnets and shared keys recounts only the ports that
    changed (``_NetworkParts``)."""
    key = (host, network.id)
    known = _NETWORK_PARTS.get(key)
    if known is None or (known.network, known.subnets, known.shared) != (network, subnets, shared):
        if len(_NETWORK_PARTS) >= 1 << 12:
            _NETWORK_PARTS.clear()
        known = _NETWORK_PARTS[key] = _NetworkParts(network, subnets, shared)
    by_id = {s.id: s for s in subnets}
    bridge = names.bridge_name(network.id)
    before = known.parts
    parts: dict[str, tuple[PortView, _PortObjects]] = {}
    fresh = not before
    for port in ports:
        had = before.get(port.id)
        if had is not None and had[0] is port:
            parts[port.id] = had
            continue
        used = tuple(sub for f in port.fixed_ips if (sub := by_id.get(f.subnet_id)) is not None)
        made = _PORTS.get((host, port.id), _port_objects, host, bridge, network, port, used, shared)
        parts[port.id] = (port, made)
        if fresh:
            continue  # counted all at once below
        if had is None or had[1] is not made:
            if had is not None:
                known.count(had[1], -1)
            known.count(made, 1)
    for port_id in before.keys() - parts.keys():
        known.count(before[port_id][1], -1)
    known.parts = parts
    if fresh:
        known.count_all([made for _, made in parts.values()])
    return known.answer()


@dataclass
class _NetworkParts:
    """A network's instance objects on one host, counted per object (two
    ports never share one, but counting keeps the union exact regardless)."""

    network: NetworkView
    subnets: tuple[SubnetView, ...]
    shared: frozenset[ObjectKey]
    parts: dict[str, tuple[PortView, _PortObjects]] = field(default_factory=dict)
    counts: tuple[dict[Any, int], ...] = field(default_factory=lambda: tuple({} for _ in range(8)))
    made: _InstanceObjects | None = None

    def count(self, part: _PortObjects, step: int) -> None:
        groups = (
            (part.netns,), part.links, part.guests, (part.hostname,), part.addresses,
            part.routes, (part.instance,), (part.wiring,),
        )  # fmt: skip
        for counts, objects in zip(self.counts, groups, strict=True):
            for obj in objects:
                left = counts.get(obj, 0) + step
                if left:
                    counts[obj] = left
                else:
                    del counts[obj]
        self.made = None

    def count_all(self, parts: list[_PortObjects]) -> None:
        """Count ``parts`` into empty counts (at once: a restart's first
        compile counts every port). Kept as plain dicts: a set made from a
        ``Counter`` (a dict subclass) hashes every object again, field by
        field, where one made from a dict takes the hashes the dict holds
        (~700 objects per pass on a network of 250 ports)."""
        chain = itertools.chain.from_iterable
        self.counts = tuple(
            dict(counted)
            for counted in (
                Counter(p.netns for p in parts),
                Counter(chain(p.links for p in parts)),
                Counter(chain(p.guests for p in parts)),
                Counter(p.hostname for p in parts),
                Counter(chain(p.addresses for p in parts)),
                Counter(chain(p.routes for p in parts)),
                Counter(p.instance for p in parts),
                Counter(p.wiring for p in parts),
            )
        )
        self.made = None

    def answer(self) -> _InstanceObjects:
        if self.made is None:
            self.made = _InstanceObjects(*(frozenset(c) for c in self.counts))
        return self.made


_NETWORK_PARTS: dict[tuple[str, str], _NetworkParts] = {}
"""Per (host, network)."""


@dataclass(frozen=True)
class _PortObjects:
    """What one instance port puts in the plan."""

    netns: Netns
    links: frozenset[Link]
    guests: frozenset[Guest]
    hostname: Hostname
    addresses: frozenset[Address]
    routes: frozenset[Route]
    instance: InstancePlumbing
    wiring: PortWiring


_PORTS: LastAnswer[_PortObjects] = LastAnswer()
"""Per (host, port)."""


def _port_objects(
    host: str,
    bridge: str,
    network: NetworkView,
    port: PortView,
    port_subnets: tuple[SubnetView, ...],
    shared: frozenset[ObjectKey],
) -> _PortObjects:
    """An instance port's namespace, veth pair, addresses, routes, guest
    processes, hostname (its UTS namespace) and wiring. Pure, so memoized: a compile with 1,000 ports on
    the host rebuilds only the ports that changed."""
    subnets = {s.id: s for s in port_subnets}
    ns = names.instance_netns(host, port.id)
    guest = names.GUEST_IFNAME
    mtu = port.mtu or network.mtu
    up = port.admin_state_up and network.admin_state_up
    host_end = Link(
        HOST_NS,
        names.tap_name(port.id),
        "veth",
        mtu=mtu,
        up=up,
        master=bridge,
        peer=VethPeer(ns, guest),
    )
    dhcp = any(
        (sub := subnets.get(f.subnet_id)) is not None and sub.enable_dhcp and sub.ip_version == 4
        for f in port.fixed_ips
    )
    modes = {sub.ipv6_mode for f in port.fixed_ips if (sub := subnets.get(f.subnet_id)) is not None}
    slaac = bool(modes & {"slaac", "dhcpv6-stateless", "dhcpv6-stateful"})
    guest_end = Link(
        ns, guest, "veth", mtu=mtu, mac=port.mac, up=True, guest_configured=dhcp or slaac
    )
    loopback = Link(ns, "lo", "device", up=True)
    addresses: list[Address] = []
    used: list[SubnetView] = []
    for fixed in port.fixed_ips:
        subnet = subnets.get(fixed.subnet_id)
        ip = _parse_ip(fixed.ip_address)
        if subnet is None or ip is None:
            continue
        if subnet.enable_dhcp and subnet.ip_version == 4:
            continue  # the instance's DHCP client configures it
        if subnet.ipv6_mode is not None:
            continue  # SLAAC from router advertisements, or the DHCPv6 client
        prefix = ipnet.ip_network(subnet.cidr).prefixlen
        addresses.append(Address(ns, guest, f"{ip}/{prefix}"))
        used.append(subnet)
    routes = _routes(ns, guest, sorted(used, key=lambda s: (s.ip_version, s.cidr, s.id)))
    ipv4 = any(s.ip_version == 4 for s in used)
    if ipv4 and serves_metadata(network) and all(r.dst != METADATA_ROUTE for r in routes):
        routes.append(Route(ns, METADATA_ROUTE, None, guest))
    netns = Netns(ns)
    guests: set[Guest] = set()
    if dhcp:
        guests.add(Guest(ns, guest))
    if port.device_owner.startswith("compute:") and port.device_owner != "compute:lab":
        # a server booted from the busybox image: its services run inside
        guests.add(Guest(ns, guest, "services"))
    if "dhcpv6-stateful" in modes:
        guests.add(Guest(ns, guest, "dhcp6"))
    elif "dhcpv6-stateless" in modes:
        guests.add(Guest(ns, guest, "dhcp6-info"))
    elif "slaac" in modes:
        guests.add(Guest(ns, guest, "rdnss"))  # DNS from the advertisements
    gateways = sorted({r.gateway for r in routes if r.gateway and _is_default(r.dst)})
    instance = InstancePlumbing(
        port_id=port.id,
        network_id=network.id,
        netns=ns,
        host_ifname=host_end.name,
        guest_ifname=guest,
        mac=port.mac,
        mtu=mtu,
        addresses=tuple(sorted(a.address for a in addresses)),
        gateways=tuple(gateways),
        up=up,
    )
    requires: set[ObjectKey] = set(shared)
    if port.port_security:
        # Its filter is in the plan's firewall (on a host with fewer ports
        # than filter indexes: compile_host corrects the rest).
        requires.add(FIREWALL_KEY)
    hostname = Hostname(ns, names.instance_hostname(port.hostname, ns))
    requires |= {netns.key, host_end.key, host_end.master_key, guest_end.key, loopback.key}
    requires.add(hostname.key)
    requires |= {a.key for a in addresses} | {r.key for r in routes}
    return _PortObjects(
        netns=netns,
        links=frozenset({host_end, guest_end, loopback}),
        guests=frozenset(guests),
        hostname=hostname,
        addresses=frozenset(addresses),
        routes=frozenset(routes),
        instance=instance,
        wiring=PortWiring(port.id, frozenset(requires)),
    )


def _routes(ns: str, ifname: str, subnets: Iterable[SubnetView]) -> list[Route]:
    """Default route per IP version (first subnet with a gateway, in a fixed
    order) and the subnets' host routes; an explicit host route wins over the
    gateway for the same destination. A gateway outside its subnet gets an
    on-link host route first, so the kernel accepts the default route."""
    chosen: dict[str, Route] = {}
    onlink: dict[str, Route] = {}
    for subnet in subnets:
        for hr in subnet.host_routes:
            dst = _parse_net(hr.destination)
            if dst is not None and dst not in chosen:
                chosen[dst] = Route(ns, dst, hr.nexthop, ifname)
    for subnet in subnets:
        gateway = _parse_ip(subnet.gateway_ip) if subnet.gateway_ip else None
        if gateway is None:
            continue
        default = "0.0.0.0/0" if gateway.version == 4 else "::/0"
        if default in chosen:
            continue
        chosen[default] = Route(ns, default, str(gateway), ifname)
        if gateway not in ipnet.ip_network(subnet.cidr):
            host = f"{gateway}/{gateway.max_prefixlen}"
            onlink[host] = Route(ns, host, None, ifname)
    for dst, route in onlink.items():
        chosen.setdefault(dst, route)
    return sorted(chosen.values())


def _is_default(dst: str) -> bool:
    return dst in ("0.0.0.0/0", "::/0")


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipnet.ip_address(value)
    except ValueError:
        return None


def _parse_net(value: str) -> str | None:
    try:
        return str(ipnet.ip_network(value))
    except ValueError:
        return None
