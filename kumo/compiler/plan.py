"""HostPlan: the desired kernel state of one host, as typed frozen values.

The compiler produces it; the dataplane reconcilers consume it. Every object
has a ``key`` (its identity in the kernel: what the reconciler looks up) and
compares equal only when every desired attribute matches. Collections are
frozensets, so a plan never depends on the order its inputs arrived in.

Namespaces: ``HOST_NS`` (the empty string) is the agent's own host
namespace, whatever it is called on the machine; any other value is the
name of a namespace under ``/run/netns``.

Keys are tuples whose first element names the object type (``"netns"``,
``"link"``, ``"master"``, ``"addr"``, ``"route"``, ``"neigh"``, ``"fdb"``,
``"tc"``);
``PortWiring.requires`` lists the keys that must be in place for a port to
count as wired.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

HOST_NS = ""
"""The agent's host namespace."""

ObjectKey = tuple[str, ...]
LinkKind = Literal["bridge", "vxlan", "vlan", "veth", "dummy", "device", "tap"]
"""``device`` is a link kumo does not create or delete (a physical NIC from
bridge_mappings, an instance's ``lo``); kumo only sets its state and master.
``tap`` is a persistent tap device (a VM's NIC: QEMU attaches to it by name)."""

VXLAN_PORT = 4789


@dataclass(frozen=True, order=True)
class Netns:
    name: str

    @property
    def key(self) -> ObjectKey:
        return ("netns", self.name)


@dataclass(frozen=True, order=True)
class VxlanSpec:
    vni: int
    local: str | None
    dstport: int = VXLAN_PORT
    underlay: str | None = None
    """Underlay device (same namespace) the tunnel is bound to, if any."""
    learning: bool = False
    proxy: bool = True
    """Answer ARP/ND arriving from the bridge from the device's neighbour table."""


@dataclass(frozen=True, order=True)
class VethPeer:
    netns: str
    name: str


@dataclass(frozen=True, order=True)
class Link:
    netns: str
    name: str
    kind: LinkKind
    mtu: int | None = None
    """None leaves the MTU as it is."""
    mac: str | None = None
    """None leaves the MAC the kernel chose."""
    up: bool = True
    master: str | None = None
    """Bridge (same namespace) this link is a port of."""
    learning: bool | None = None
    """Bridge-port learning; None leaves the kernel default."""
    isolated: bool | None = None
    """Bridge-port isolation: isolated ports exchange frames with
    non-isolated ports only, never with each other; None leaves the kernel
    default (off)."""
    netfilter: bool | None = None
    """On a bridge: whether the IPv4/IPv6 frames it forwards pass the
    namespace's inet hooks (conntrack and security groups). Off for networks
    without filtered ports on the host, which then pay nothing for them.
    None leaves the kernel's setting."""
    vxlan: VxlanSpec | None = None
    vlan_id: int | None = None
    parent: str | None = None
    """Lower device of a VLAN link (same namespace)."""
    peer: VethPeer | None = None
    """On the veth end kumo creates: where the other end lives. The other end
    is a separate ``Link`` (kind ``veth``, no peer) in the peer namespace."""
    guest_configured: bool = False
    """The instance configures this link's addresses itself (DHCP): kumo
    neither sets nor removes addresses on it."""

    @property
    def key(self) -> ObjectKey:
        return ("link", self.netns, self.name)

    @property
    def master_key(self) -> ObjectKey:
        return ("master", self.netns, self.name)


@dataclass(frozen=True, order=True)
class Address:
    netns: str
    ifname: str
    address: str
    """Interface address with prefix length, e.g. ``10.0.0.5/24``."""

    @property
    def key(self) -> ObjectKey:
        return ("addr", self.netns, self.ifname, self.address)

    @property
    def family(self) -> int:
        return ipaddress.ip_interface(self.address).version


MAIN_TABLE = 254


@dataclass(frozen=True, order=True)
class Route:
    netns: str
    dst: str
    """Normalised network, ``0.0.0.0/0`` / ``::/0`` for default routes."""
    gateway: str | None
    ifname: str
    table: int = MAIN_TABLE

    @property
    def key(self) -> ObjectKey:
        if self.table == MAIN_TABLE:
            return ("route", self.netns, self.dst)
        return ("route", self.netns, self.dst, f"table {self.table}")

    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.dst).version


@dataclass(frozen=True, order=True)
class PolicyRule:
    """``ip rule add [from SRC] [fwmark MARK] lookup TABLE priority PRIORITY``
    (router namespaces)."""

    netns: str
    priority: int
    table: int
    src: str | None = None
    """A network (``10.0.0.5/32``); None matches every source."""
    fwmark: int = 0
    """Only packets with this firewall mark; 0 matches every mark."""

    @property
    def key(self) -> ObjectKey:
        return ("rule", self.netns, str(self.priority))

    @property
    def family(self) -> int:
        return ipaddress.ip_network(self.src).version if self.src else 4


@dataclass(frozen=True, order=True)
class Sysctl:
    """A per-namespace setting under ``/proc/sys`` (``net/ipv4/ip_forward``)."""

    netns: str
    path: str
    value: str

    @property
    def key(self) -> ObjectKey:
        return ("sysctl", self.netns, self.path)


@dataclass(frozen=True, order=True)
class Snat:
    out_ifname: str
    to: str
    src: str | None = None
    """Only packets from this network; None: every source."""
    ports: tuple[int, int] | None = None
    """Only TCP, UDP and ICMP echo, to ports (identifiers) in this range."""
    pick: int = 1
    """Taken by one new connection in ``pick`` (at random); the next rule
    for the same source gets the others. 1: always."""


@dataclass(frozen=True, order=True)
class SnatForward:
    """A gateway's stateless forwarding of return traffic: packets to
    ``external_ip`` with a destination port (ICMP echo identifier) in
    ``port_min``..``port_max`` leave again, unchanged but for the
    destination MAC, towards ``mac`` (the owning host's external leg)."""

    external_ip: str
    port_min: int
    port_max: int
    mac: str


@dataclass(frozen=True, order=True)
class Dnat:
    dst: str
    to: str


@dataclass(frozen=True, order=True)
class NatLimit:
    """A bandwidth limit on one external address of a router namespace (a
    floating IP, ``qos-fip``): ``ingress`` what arrives for it on
    ``ifname`` (before it is translated), ``egress`` what leaves from it
    (after); ``rate`` in bytes per second, ``burst`` in bytes."""

    ifname: str
    address: str
    direction: str
    rate: int
    burst: int


@dataclass(frozen=True, order=True)
class PortDnat:
    """A floating IP's port forwarding served here: ``protocol`` (tcp, udp)
    to ``external_ip:external_port`` goes to ``internal_ip:internal_port``."""

    protocol: str
    external_ip: str
    external_port: int
    internal_ip: str
    internal_port: int
    external_port_end: int = 0
    """The last external port of a range (0: ``external_port`` alone)."""
    internal_port_end: int = 0
    """The last internal port of a range as long as the external one (0:
    every external port goes to ``internal_port``)."""


@dataclass(frozen=True, order=True)
class PortRelay:
    """A floating IP's port forwarding served by another host: frames for
    ``protocol`` to ``external_ip:external_port`` arriving on the external
    leg leave it again, unchanged but for the MACs, towards ``mac`` (the
    serving host's external leg; no connection state here)."""

    protocol: str
    external_ip: str
    external_port: int
    mac: str
    external_port_end: int = 0
    """The last external port of a range (0: ``external_port`` alone)."""


@dataclass(frozen=True, order=True)
class NatTable:
    """The address translation of one router namespace, written as one
    nftables table. ``announce`` lists (interface, address) pairs to
    announce with gratuitous ARP when they appear (floating IPs)."""

    netns: str
    snat: tuple[Snat, ...] = ()
    dnat: tuple[Dnat, ...] = ()
    announce: tuple[tuple[str, str], ...] = ()
    forward: tuple[SnatForward, ...] = ()
    """Distributed SNAT's return traffic arriving on ``forward_ifname``,
    forwarded to the hosts that translated it (no connection state here)."""
    forward_ifname: str = ""
    forward_mac: str = ""
    """The MAC of ``forward_ifname``: forwarded frames leave from it."""
    no_snat: tuple[str, ...] = ()
    """Source networks the router-wide SNAT leaves alone: subnets in the
    external network's address scope, routed to it untranslated (their
    floating IPs are still translated)."""
    port_dnat: tuple[PortDnat, ...] = ()
    """Port forwardings translated here (their replies translated back by
    connection tracking)."""
    reply_mark: int = 0
    """Nonzero: replies of translated connections get this firewall mark
    (a policy rule sends them out through the external leg)."""
    relay: tuple[PortRelay, ...] = ()
    """Port forwardings of the floating IP this namespace answers for, served
    by other hosts: arriving on ``relay_ifname``, sent on to them."""
    relay_ifname: str = ""
    relay_mac: str = ""
    """The MAC of ``relay_ifname``: relayed frames leave from it."""
    hairpin_ifname: str = ""
    """The external leg of a namespace translating port forwardings: what
    arrives on any other interface for them (an instance of the router's
    networks reaching the floating IP) is translated too and leaves from
    the router's own address, so that the replies come back through here."""
    hairpin_sources: tuple[str, ...] = ()
    """The router's networks: what arrives from them on ``hairpin_ifname``
    for a port forwarding (an instance on another host, steered here) is a
    hairpin connection too."""
    steer: tuple[PortRelay, ...] = ()
    """Port forwardings served by other hosts: frames for them arriving on
    ``steer_ifnames`` (this host's instances) leave ``relay_ifname`` at once
    towards the serving host's leg, from ``relay_mac``."""
    steer_ifnames: tuple[str, ...] = ()
    limits: tuple[NatLimit, ...] = ()
    """Bandwidth limits of external addresses (floating IPs' QoS); sorted."""

    @property
    def key(self) -> ObjectKey:
        return ("nat", self.netns)


@dataclass(frozen=True, order=True)
class NeighEntry:
    """A permanent neighbour entry (ip → mac) on a device."""

    netns: str
    ifname: str
    ip: str
    mac: str

    @property
    def key(self) -> ObjectKey:
        return ("neigh", self.netns, self.ifname, self.ip)


@dataclass(frozen=True, order=True)
class FdbEntry:
    """A forwarding entry: ``master`` (bridge table, ``static``) or ``self``
    (the VXLAN device's table, ``permanent``, with the remote VTEP in ``dst``)."""

    netns: str
    ifname: str
    mac: str
    master: bool
    dst: str | None = None

    @property
    def key(self) -> ObjectKey:
        return ("fdb", self.netns, self.ifname, self.mac, "master" if self.master else "self")


TcProgramKind = Literal["vlan-push", "vlan-split"]


@dataclass(frozen=True, order=True)
class TcProgram:
    """An eBPF program on a device's tc ingress hook, carrying VLAN networks
    over a physical interface on kernels without 802.1Q devices (see
    ``kumo.dataplane.vlan_programs``).

    ``vlan-push`` (on the outer end of a VLAN network's veth pair): tag every
    frame with the one VLAN in ``vlans`` and send it out of that entry's
    device (the physical interface). ``vlan-split`` (on the physical
    interface): untag frames of each VLAN in ``vlans`` and hand them to that
    entry's device (the network's outer end), drop frames of other VLANs,
    let untagged frames pass."""

    netns: str
    ifname: str
    kind: TcProgramKind
    vlans: tuple[tuple[int, str], ...]
    """(VLAN id, device), sorted."""

    @property
    def key(self) -> ObjectKey:
        return ("tc", self.netns, self.ifname)

    @property
    def devices(self) -> frozenset[str]:
        """The device the program is on and the devices it sends frames to."""
        return frozenset({self.ifname, *(dev for _, dev in self.vlans)})


@dataclass(frozen=True, order=True)
class InstancePlumbing:
    """How one port is plugged in as a lab instance (a namespace)."""

    port_id: str
    network_id: str
    netns: str
    host_ifname: str
    guest_ifname: str
    mac: str
    mtu: int
    addresses: tuple[str, ...]
    """Fixed IPs with prefix length, sorted."""
    gateways: tuple[str, ...]
    """Default gateways (at most one per IP version), sorted."""
    up: bool


@dataclass(frozen=True, order=True)
class DhcpLease:
    """What this host's DHCP responder answers on one instance port."""

    port_id: str
    ifname: str
    """The port's bridge port (the responder listens and answers there)."""
    mac: str
    ip: str
    prefixlen: int
    server_id: str
    router: str | None = None
    dns: tuple[str, ...] = ()
    domain: str = ""
    hostname: str = ""
    routes: tuple[tuple[str, str], ...] = ()
    """Classless static routes (options 121/249): (destination CIDR, next hop),
    the default route first when there is a gateway."""
    mtu: int | None = None
    lease_time: int = 86400
    extra: tuple[tuple[int, str], ...] = ()
    """Extra options (code, value as text) that override the computed ones."""


@dataclass(frozen=True, order=True)
class Dhcp6Lease:
    """What this host's DHCPv6 server answers on one instance port: the
    address (stateful subnets) or only DNS and domain (stateless)."""

    port_id: str
    ifname: str
    mac: str
    ip: str | None
    server_mac: str
    dns: tuple[str, ...] = ()
    domain: str = ""
    lease_time: int = 86400


@dataclass(frozen=True, order=True)
class RouterAdvert:
    """The router advertisements this host sends on one instance port."""

    port_id: str
    ifname: str
    src_mac: str
    """The router's interface MAC (its link-local address is the source),
    or kumo's own when the subnet has no router."""
    prefixes: tuple[tuple[str, bool], ...]
    """(prefix /64, autonomous: hosts form their address by SLAAC)."""
    managed: bool
    """M flag: addresses by DHCPv6."""
    other: bool
    """O flag: other configuration (DNS) by DHCPv6."""
    router_lifetime: int
    """Seconds; 0 when there is no router on the subnet."""
    mtu: int | None = None
    rdnss: tuple[str, ...] = ()
    """Recursive DNS servers (RFC 8106 RDNSS), in order."""
    dnssl: tuple[str, ...] = ()
    """DNS search list (RFC 8106 DNSSL): domains without their dot."""


@dataclass(frozen=True, order=True)
class Guest:
    """A process that runs inside an instance namespace as its own OS would
    (the DHCP client that configures ``ifname``)."""

    netns: str
    ifname: str
    kind: str = "dhcp"

    @property
    def key(self) -> ObjectKey:
        return ("guest", self.netns, self.kind)


@dataclass(frozen=True, order=True)
class Hostname:
    """An instance's own UTS namespace and the hostname it holds: what
    ``hostname`` prints in the instance (its guest processes, its console
    and ``kumo exec`` run there)."""

    netns: str
    """The instance namespace the UTS namespace goes with."""
    name: str

    @property
    def key(self) -> ObjectKey:
        return ("uts", self.netns)


@dataclass(frozen=True, order=True)
class VmNic:
    """A VM's NIC: the port's MAC inside the guest, its tap on the host."""

    port_id: str
    mac: str
    tap: str


VmPower = Literal["running", "stopped", "paused"]


@dataclass(frozen=True, order=True)
class VmPlan:
    """A server the QEMU driver runs on this host: its resources, its image
    (by id, and by hash as the host's cache key), the power state to hold,
    the reboots asked for so far and its NICs in order (their taps are
    links of the plan, plugged into their networks' bridges)."""

    server_id: str
    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    image_id: str
    image_hash: str
    power: VmPower
    reboots: int = 0
    reboot_hard: bool = False
    nics: tuple[VmNic, ...] = ()
    rebuilds: int = 0
    snapshot: str = ""
    """The image to snapshot the VM's disk into ("" for none)."""
    root_volume: str = ""
    """The NBD URL of the root volume of a server booted from a volume ("":
    a local root disk made from the image)."""

    @property
    def key(self) -> ObjectKey:
        return ("vm", self.server_id)

    @property
    def size(self) -> str:
        """``vcpus/memory_mb/disk_gb``: what the host reports the VM's size as."""
        return f"{self.vcpus}/{self.memory_mb}/{self.disk_gb}"


@dataclass(frozen=True, order=True)
class MetadataClient:
    """A local instance port as the metadata service sees it: who is asking
    when a request comes from ``ip`` on the endpoint's network."""

    ip: str
    port_id: str
    device_id: str
    """The server (empty for a port without one)."""
    device_owner: str


@dataclass(frozen=True, order=True)
class MetadataEndpoint:
    """169.254.169.254 and fe80::a9fe:a9fe on one network of this host: a
    namespace with a leg in the network's bridge, where the agent listens on
    port 80."""

    netns: str
    network_id: str
    clients: tuple[MetadataClient, ...]
    """This host's instance ports on the network, one per address (fixed IPs,
    and the IPv6 link-local address of a port with an IPv6 one), sorted."""

    def __hash__(self) -> int:
        # Kept on the object: hashing hundreds of clients field by field
        # in every pass's sets cost more than the rest of the endpoint.
        known: int | None = self.__dict__.get("_hash")
        if known is None:
            known = hash((self.netns, self.network_id, self.clients))
            object.__setattr__(self, "_hash", known)
        return known


@dataclass(frozen=True, order=True)
class DnsRecord:
    """One address of a port on a network, the names it answers to, and
    the project that may ask for them."""

    project_id: str
    ip: str
    fqdn: str
    """The name a reverse (PTR) query answers, lower case, with its dot."""
    names: tuple[str, ...]
    """Every name (lower case, with its dot) that answers with ``ip``."""


@dataclass(frozen=True, order=True)
class DnsZone:
    """The resolver on one network of this host: it listens on
    169.254.169.254:53 and [fe80::a9fe:a9fe]:53 in the network's metadata
    namespace and answers the
    ``askers`` (this host's instance ports there) with the ``records`` of
    their own project only."""

    netns: str
    network_id: str
    askers: tuple[tuple[str, str], ...]
    """(address, project id) of each instance port that may ask, sorted."""
    records: tuple[DnsRecord, ...]

    def __hash__(self) -> int:
        # Kept on the object, as for ``MetadataEndpoint``: a zone holds a
        # record per port of its network.
        known: int | None = self.__dict__.get("_hash")
        if known is None:
            known = hash((self.netns, self.network_id, self.askers, self.records))
            object.__setattr__(self, "_hash", known)
        return known


@dataclass(frozen=True, order=True)
class PortWiring:
    """The objects that must be in place for ``port_id`` to be wired."""

    port_id: str
    requires: frozenset[ObjectKey]


@dataclass(frozen=True, order=True)
class GateLeg:
    """The host end of one leg of a highly available router's namespace,
    and whether traffic may pass it (this host is the router's active
    gateway)."""

    router_id: str
    ifname: str
    open: bool


@dataclass(frozen=True)
class HaGate:
    """The gate of a gateway host's highly available routers, one nftables
    table in the host namespace: frames cross a router's legs only while
    the router is active here AND the host's lease is alive. The lease is
    a set element that every liveness beat leaving ``beat_device`` renews
    for ``lease_ms``: when the agent dies, the kernel closes the gates by
    itself within that time (no two hosts answer for one address)."""

    legs: tuple[GateLeg, ...] = ()
    """Sorted."""
    beat_device: str | None = None
    beat_port: int = 4791
    lease_ms: int = 200

    @property
    def empty(self) -> bool:
        return not self.legs

    def fingerprint(self) -> str:
        shape = (self.legs, self.beat_device, self.beat_port, self.lease_ms)
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]

    @property
    def key(self) -> ObjectKey:
        return ("ha-gate", HOST_NS)


@dataclass(frozen=True, order=True)
class UplinkForward:
    """A gateway host's stateless forwarding of a leased block's return
    traffic, on ``device`` (the uplink of the router's external network,
    before its bridge): frames to ``external_ip`` with a destination port
    (ICMP echo identifier, or for an ICMP error the port of the packet it
    quotes) in ``port_min``..``port_max`` get ``mac`` (the owning host's
    external leg) as destination and ``gateway_mac`` (the router's gateway
    port) as source, and leave by ``device`` again; ``local``: the owning
    host is this one, the frame goes on into the bridge."""

    device: str
    external_ip: str
    port_min: int
    port_max: int
    mac: str
    gateway_mac: str
    local: bool = False


@dataclass(frozen=True)
class SnatGateway:
    """Every leased block of every distributed-SNAT router this host is a
    gateway host of: one nftables table in the host namespace."""

    forward: tuple[UplinkForward, ...] = ()
    """Sorted."""

    @property
    def empty(self) -> bool:
        return not self.forward

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(self.forward).encode()).hexdigest()[:16]

    @property
    def key(self) -> ObjectKey:
        return ("snat-gateway", HOST_NS)


@dataclass(frozen=True, order=True)
class PortQos:
    """The QoS of one port, on its device in the host namespace: rates in
    bytes per second with their bursts in bytes (None: no limit), packet
    rates in packets per second with their bursts in packets, and the DSCP
    mark of the IP packets the instance sends (None: left alone).
    ``egress`` is the traffic the instance sends, ``ingress`` what it
    receives, as Neutron names the directions."""

    ifname: str
    egress: tuple[int, int] | None = None
    ingress: tuple[int, int] | None = None
    dscp: int | None = None
    egress_pps: tuple[int, int] | None = None
    ingress_pps: tuple[int, int] | None = None


@dataclass(frozen=True)
class QosPlan:
    """Every local port's QoS: one nftables table in the host namespace."""

    ports: tuple[PortQos, ...] = ()
    """Sorted by device."""

    @property
    def empty(self) -> bool:
        return not self.ports

    def fingerprint(self) -> str:
        return hashlib.sha256(repr(self.ports).encode()).hexdigest()[:16]

    @property
    def key(self) -> ObjectKey:
        return ("qos", HOST_NS)


@dataclass(frozen=True, order=True)
class MeterRule:
    """One rule of a label as the kernel matches it on the router's
    external legs: ``egress`` leaves through them, ``ingress`` enters by
    them; ``source``/``destination`` are prefixes (None: any). The
    ``excluded`` rules of a label are matched first: what they match is
    not counted by that label."""

    direction: Literal["ingress", "egress"]
    excluded: bool
    family: int
    source: str | None = None
    destination: str | None = None


@dataclass(frozen=True, order=True)
class LabelMeter:
    """A metering label on one router namespace: a named counter
    (``counter``) counting each packet once that one of ``rules`` (not
    excluded) matches."""

    label_id: str
    counter: str
    rules: tuple[MeterRule, ...]
    """Sorted, the excluded ones first."""


@dataclass(frozen=True, order=True)
class MeterTable:
    """The metering of one router namespace: one nftables table (forward
    hook, so floating IPs are seen as fixed IPs, as Neutron counts them)."""

    netns: str
    router_id: str
    ifnames: tuple[str, ...]
    """The namespace's external legs, sorted."""
    labels: tuple[LabelMeter, ...]
    """Sorted by label id."""

    def fingerprint(self) -> str:
        shape = (self.ifnames, self.labels)
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]

    @property
    def key(self) -> ObjectKey:
        return ("meter", self.netns)


@dataclass(frozen=True)
class HostPlan:
    host: str
    netns: frozenset[Netns] = field(default_factory=frozenset)
    links: frozenset[Link] = field(default_factory=frozenset)
    addresses: frozenset[Address] = field(default_factory=frozenset)
    routes: frozenset[Route] = field(default_factory=frozenset)
    neighbours: frozenset[NeighEntry] = field(default_factory=frozenset)
    fdb: frozenset[FdbEntry] = field(default_factory=frozenset)
    tc: frozenset[TcProgram] = field(default_factory=frozenset)
    instances: frozenset[InstancePlumbing] = field(default_factory=frozenset)
    wiring: frozenset[PortWiring] = field(default_factory=frozenset)
    rules: frozenset[PolicyRule] = field(default_factory=frozenset)
    sysctls: frozenset[Sysctl] = field(default_factory=frozenset)
    nat: frozenset[NatTable] = field(default_factory=frozenset)
    dhcp: frozenset[DhcpLease] = field(default_factory=frozenset)
    adverts: frozenset[RouterAdvert] = field(default_factory=frozenset)
    dhcp6: frozenset[Dhcp6Lease] = field(default_factory=frozenset)
    guests: frozenset[Guest] = field(default_factory=frozenset)
    hostnames: frozenset[Hostname] = field(default_factory=frozenset)
    vms: frozenset[VmPlan] = field(default_factory=frozenset)
    metadata: frozenset[MetadataEndpoint] = field(default_factory=frozenset)
    dns: frozenset[DnsZone] = field(default_factory=frozenset)
    firewall: FirewallPlan = field(default_factory=lambda: FirewallPlan())
    gate: HaGate = field(default_factory=lambda: HaGate())
    snat_gateway: SnatGateway = field(default_factory=lambda: SnatGateway())
    qos: QosPlan = field(default_factory=lambda: QosPlan())
    meters: frozenset[MeterTable] = field(default_factory=frozenset)

    @cached_property
    def wired_port_ids(self) -> frozenset[str]:
        """The ports the plan wires (each one's ``PortWiring``)."""
        return frozenset(w.port_id for w in self.wiring)

    def describe(self) -> list[str]:
        """One sorted line per object: a stable text form for diffs and goldens."""
        lines: list[str] = []
        lines += [f"netns {n.name}" for n in self.netns]
        lines += [_describe_link(link) for link in self.links]
        lines += [f"addr {_ns(a.netns)} {a.ifname} {a.address}" for a in self.addresses]
        lines += [
            f"route {_ns(r.netns)} {r.dst} via {r.gateway or '-'} dev {r.ifname}"
            + (f" table {r.table}" if r.table != MAIN_TABLE else "")
            for r in self.routes
        ]
        lines += [
            f"rule {_ns(r.netns)} {r.priority} from {r.src or 'all'}"
            + (f" fwmark {r.fwmark:#x}" if r.fwmark else "")
            + f" lookup {r.table}"
            for r in self.rules
        ]
        lines += [f"sysctl {_ns(x.netns)} {x.path}={x.value}" for x in self.sysctls]
        lines += [
            f"nat {_ns(t.netns)} "
            + " ".join(
                f"snat {x.src or 'all'}->{x.to}{_ports(x)} oif {x.out_ifname}" for x in t.snat
            )
            + " "
            + " ".join(f"dnat {x.dst}->{x.to}" for x in t.dnat)
            + "".join(
                f" fwd {t.forward_ifname} {x.external_ip}:{x.port_min}-{x.port_max}->{x.mac}"
                for x in t.forward
            )
            + "".join(f" routed {c}" for c in t.no_snat)
            + "".join(
                f" pf {x.protocol} {x.external_ip}:{_span(x.external_port, x.external_port_end)}"
                f"->{x.internal_ip}:{_span(x.internal_port, x.internal_port_end)}"
                for x in t.port_dnat
            )
            + (f" mark replies {t.reply_mark:#x}" if t.reply_mark else "")
            + (f" hairpin !{t.hairpin_ifname}" if t.hairpin_ifname else "")
            + "".join(f" hairpin-from {c}" for c in t.hairpin_sources)
            + "".join(
                f" steer {','.join(t.steer_ifnames)}->{t.relay_ifname} {x.protocol} "
                f"{x.external_ip}:{_span(x.external_port, x.external_port_end)}->{x.mac}"
                for x in t.steer
            )
            + "".join(
                f" relay {t.relay_ifname} {x.protocol} {x.external_ip}:"
                f"{_span(x.external_port, x.external_port_end)}->{x.mac}"
                for x in t.relay
            )
            + "".join(
                f" limit {x.direction} {x.address} {x.rate}B/s burst {x.burst}B oif {x.ifname}"
                for x in t.limits
            )
            for t in self.nat
        ]
        lines += [f"neigh {_ns(n.netns)} {n.ifname} {n.ip} {n.mac}" for n in self.neighbours]
        lines += [
            f"fdb {_ns(f.netns)} {f.ifname} {f.mac} "
            + ("master static" if f.master else f"self dst {f.dst}")
            for f in self.fdb
        ]
        lines += [
            f"tc {_ns(t.netns)} {t.ifname} {t.kind} "
            + " ".join(f"{vid}:{dev}" for vid, dev in t.vlans)
            for t in self.tc
        ]
        lines += [
            f"gate {g.router_id} {g.ifname} {'open' if g.open else 'closed'}"
            for g in self.gate.legs
        ]
        lines += [
            f"snatgw {x.device} {x.external_ip}:{x.port_min}-{x.port_max}->{x.mac}"
            + (" local" if x.local else "")
            for x in self.snat_gateway.forward
        ]
        lines += [_describe_qos(q) for q in self.qos.ports]
        lines += [_describe_meter(m) for m in self.meters]
        lines += [f"uts {h.netns} {h.name}" for h in self.hostnames]
        lines += [_describe_vm(vm) for vm in self.vms]
        return sorted(lines)


def _describe_qos(q: PortQos) -> str:
    parts = [f"qos {q.ifname}"]
    for name, limit in (("egress", q.egress), ("ingress", q.ingress)):
        if limit is not None:
            parts.append(f"{name} {limit[0]}B/s burst {limit[1]}B")
    for name, pps in (("egress", q.egress_pps), ("ingress", q.ingress_pps)):
        if pps is not None:
            parts.append(f"{name} {pps[0]}pkt/s burst {pps[1]}pkt")
    if q.dscp is not None:
        parts.append(f"dscp {q.dscp}")
    return " ".join(parts)


def _describe_meter(m: MeterTable) -> str:
    labels = " ".join(
        f"{x.label_id}["
        + ",".join(
            ("!" if r.excluded else "")
            + f"{r.direction} {r.source or 'any'}>{r.destination or 'any'}"
            for r in x.rules
        )
        + "]"
        for x in m.labels
    )
    return f"meter {m.netns} {','.join(m.ifnames)} {labels}".rstrip()


def _ns(netns: str) -> str:
    return netns or "host"


def _span(first: int, last: int) -> str:
    """A port, or a range of ports ``first-last``."""
    return f"{first}-{last}" if last and last != first else str(first)


def _describe_vm(vm: VmPlan) -> str:
    nics = " ".join(f"{n.tap}={n.mac}" for n in vm.nics) or "-"
    return (
        f"vm {vm.server_id} {vm.hostname} {vm.vcpus}cpu {vm.memory_mb}M {vm.disk_gb}G "
        f"image {vm.image_id} {vm.power} reboots {vm.reboots}"
        + (" hard" if vm.reboot_hard else "")
        + (f" rebuilds {vm.rebuilds}" if vm.rebuilds else "")
        + (f" snapshot {vm.snapshot}" if vm.snapshot else "")
        + f" nics {nics}"
    )


def _ports(snat: Snat) -> str:
    if snat.ports is None:
        return ""
    pick = f" pick 1/{snat.pick}" if snat.pick > 1 else ""
    return f":{snat.ports[0]}-{snat.ports[1]}{pick}"


def _describe_link(link: Link) -> str:
    parts = [f"link {_ns(link.netns)} {link.name} {link.kind}"]
    if link.mtu is not None:
        parts.append(f"mtu {link.mtu}")
    if link.mac is not None:
        parts.append(f"mac {link.mac}")
    parts.append("up" if link.up else "down")
    if link.master is not None:
        parts.append(f"master {link.master}")
    if link.learning is not None:
        parts.append("learning " + ("on" if link.learning else "off"))
    if link.isolated is not None:
        parts.append("isolated " + ("on" if link.isolated else "off"))
    if link.netfilter:
        parts.append("netfilter")
    if link.vxlan is not None:
        v = link.vxlan
        parts.append(
            f"vni {v.vni} local {v.local or '-'} dstport {v.dstport} dev {v.underlay or '-'}"
            + (" learning" if v.learning else " nolearning")
            + (" proxy" if v.proxy else "")
        )
    if link.vlan_id is not None:
        parts.append(f"vlan {link.vlan_id} parent {link.parent}")
    if link.peer is not None:
        parts.append(f"peer {_ns(link.peer.netns)}/{link.peer.name}")
    return " ".join(parts)


# -- firewall (security groups and anti-spoofing) ------------------------------


@dataclass(frozen=True, order=True)
class FirewallRule:
    """One allow rule of a port, as the kernel will match it.

    ``remote`` is a CIDR, the name of an address set (``@name``), or None
    for any address; for ingress it is the source, for egress the
    destination. Ports are only set for protocols that have them (TCP, UDP,
    SCTP, DCCP, UDP-Lite); ``icmp_type``/``icmp_code`` only for ICMP(v6)."""

    direction: Literal["ingress", "egress"]
    family: int
    protocol: int | None = None
    port_min: int | None = None
    port_max: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    remote: str | None = None


@dataclass(frozen=True, order=True)
class SpoofPair:
    """A (MAC, address or CIDR) a port may send from."""

    mac: str
    cidr: str


@dataclass(frozen=True, order=True)
class PortFilter:
    """The filter of one port with port security: anti-spoofing on the bridge
    and its security groups' rules (plus the implicit DHCP/ND allowances)."""

    index: int
    """1..65535, unique on the host: the port's mark in the kernel rules."""
    port_id: str
    ifname: str
    """The port's bridge port (the instance veth's host end)."""
    mac: str
    zone: int
    """The conntrack zone of the port's network."""
    pairs: tuple[SpoofPair, ...]
    """Own MAC with each fixed IP and IPv6 link-local address, then the
    allowed address pairs; sorted."""
    rules: tuple[FirewallRule, ...]
    """Sorted; duplicates removed."""
    stateless: bool = False
    """The port's groups are stateless: its packets are not tracked, so
    return traffic passes only where a rule allows it."""

    @cached_property
    def digest(self) -> str:
        """A stable digest of the whole filter (kept on the object: the
        compiler reuses a port's filter while the port is unchanged)."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]

    @cached_property
    def rules_digest(self) -> str:
        """A stable digest of the rules alone: ports with equal rules share
        their rule chains in the kernel."""
        return hashlib.sha256(repr(self.rules).encode()).hexdigest()[:12]


@dataclass(frozen=True, order=True)
class AddressSet:
    """Members of a remote security group, one set per IP family."""

    name: str
    family: int
    elements: frozenset[str]
    """Addresses and CIDRs, collapsed so that none overlap."""


_PORT_SUM_MOD = 1 << 128


def _digest_sum(ports: Iterable[PortFilter]) -> int:
    return sum(int(p.digest, 16) for p in ports)


@dataclass(frozen=True)
class FirewallPlan:
    zones: tuple[tuple[str, int], ...] = ()
    """(bridge, conntrack zone) for every network bridge on the host, sorted."""
    ports: tuple[PortFilter, ...] = ()
    """Sorted by index."""
    sets: tuple[AddressSet, ...] = ()
    """Sorted by name."""

    @property
    def empty(self) -> bool:
        return not self.ports

    def structure(self) -> str:
        """A digest of everything but set elements: equal digests mean the
        ruleset only needs its sets' elements brought up to date."""
        return self._structure

    @cached_property
    def _structure(self) -> str:
        # Computed once per plan, from the plan before when it follows one
        # (``follows``): its ports' digests are summed, not listed, so a
        # port that comes or goes changes the sum by its own digest.
        shape = (
            self.zones,
            len(self.ports),
            self._port_sum,
            tuple((s.name, s.family) for s in self.sets),
        )
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]

    @cached_property
    def _port_sum(self) -> int:
        known = self.__dict__.get("_changed_from")
        if known is not None:
            before, (gone, came) = known
            total: int = before._port_sum - _digest_sum(gone) + _digest_sum(came)
            return total % _PORT_SUM_MOD
        return _digest_sum(self.ports) % _PORT_SUM_MOD

    def follows(self, before: FirewallPlan, gone: list[PortFilter], came: list[PortFilter]) -> None:
        """Record what the compiler knows: this plan's filters are
        ``before``'s without ``gone`` and with ``came`` (each in index
        order, the others the same objects). Its per-port answers are then
        patched from ``before``'s instead of worked out over every port."""
        self.__dict__["_changed_from"] = (before, (gone, came))
        by_port = dict(before.by_port)
        for port in gone:
            del by_port[port.port_id]
        for port in came:
            by_port[port.port_id] = port
        self.__dict__["by_port"] = by_port

    @property
    def key(self) -> ObjectKey:
        return ("firewall", HOST_NS)

    @cached_property
    def by_port(self) -> dict[str, PortFilter]:
        """Each port's filter by port id (worked out once per plan: a pass
        compares the plan with the one before, and the next with it)."""
        return {p.port_id: p for p in self.ports}

    @cached_property
    def rule_ports(self) -> dict[str, PortFilter]:
        """One port per distinct rule list, by its rules digest: the shared
        chains to render (any port of the digest renders the same chains)."""
        known = self.__dict__.get("_changed_from")
        if known is None:
            out: dict[str, PortFilter] = {}
            for port in self.ports:
                out.setdefault(port.rules_digest, port)
            return out
        before, (gone, came) = known
        counts, out = dict(before._rule_counts), dict(before.rule_ports)
        for port in gone:
            counts[port.rules_digest] -= 1
        for port in came:
            counts[port.rules_digest] = counts.get(port.rules_digest, 0) + 1
            out.setdefault(port.rules_digest, port)
        by_port = self.by_port
        for digest in {p.rules_digest for p in gone}:
            if not counts[digest]:
                del counts[digest], out[digest]
            elif by_port.get(out[digest].port_id) is not out[digest]:
                out[digest] = next(p for p in self.ports if p.rules_digest == digest)
        self.__dict__["_rule_counts"] = counts
        return out

    @cached_property
    def _rule_counts(self) -> dict[str, int]:
        """How many ports have each rules digest."""
        counts: dict[str, int] = {}
        for port in self.ports:
            counts[port.rules_digest] = counts.get(port.rules_digest, 0) + 1
        return counts

    def changed_ports(self, before: FirewallPlan) -> tuple[list[PortFilter], list[PortFilter]]:
        """(filters of ``before`` that are not in this plan, filters of this
        plan that were not in ``before``), each in index order; an unchanged
        port's filter is the same object in both (the compiler remembers
        them), so this compares identities, not fields."""
        if before.ports is self.ports:
            return [], []
        known = self.__dict__.get("_changed_from")
        if known is not None and known[0] is before:
            return known[1]  # type: ignore[no-any-return]
        old, new = before.by_port, self.by_port
        gone = [p for p in before.ports if new.get(p.port_id) is not p]
        came = [p for p in self.ports if old.get(p.port_id) is not p]
        self.__dict__["_changed_from"] = (before, (gone, came))
        return gone, came
