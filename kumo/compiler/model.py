"""The compiler's input: typed, frozen views of the objects a host agent caches.

The watch feed delivers full Neutron admin bodies (see the contracts: keys
such as ``binding:host_id``, ``provider:segmentation_id``,
``fixed_ips: [{"subnet_id", "ip_address"}]``, agent ``configurations``).
``*.from_body`` turns one body into a view, ignoring keys it does not need;
``ClusterView.from_bodies`` builds the whole snapshot. Bodies that lack a
required key are skipped and their ids listed in ``ClusterView.invalid``,
so one bad object never stops a host from being wired.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypeVar

from kumo.compiler.memo import LastAnswer

Body = Mapping[str, Any]
Bodies = Iterable[Body] | Mapping[str, Body]


LINK_MIN_MTU = 68


@dataclass(frozen=True)
class NetworkView:
    id: str
    network_type: str
    """``vxlan``, ``vlan``, ``flat`` or ``local``."""
    segmentation_id: int | None
    physical_network: str | None
    mtu: int
    admin_state_up: bool
    ipv4_address_scope: str | None = None
    """The address scope of the network's IPv4 subnets (from their subnet pool)."""
    dns_domain: str = ""
    """The network's ``dns_domain`` (an FQDN with its dot), or '': with its
    keywords replaced (``kumo_dns_zone``)."""
    segments: tuple[SegmentView, ...] = ()
    """All its segments when it has several (``kumo_segments``): each host
    wires the one it serves (``on_host``); the fields above are the first."""

    @classmethod
    def from_body(cls, body: Body) -> NetworkView:
        seg = body.get("provider:segmentation_id")
        return cls(
            id=str(body["id"]),
            network_type=str(body.get("provider:network_type") or "local"),
            segmentation_id=int(seg) if seg is not None else None,
            physical_network=body.get("provider:physical_network") or None,
            segments=tuple(SegmentView.from_body(b) for b in body.get("kumo_segments") or ()),
            # Neutron takes network MTUs below IPv4's minimum (such a network
            # has no subnets); Linux links take none below it.
            mtu=max(int(body.get("mtu") or 1450), LINK_MIN_MTU),
            admin_state_up=bool(body.get("admin_state_up", True)),
            ipv4_address_scope=body.get("ipv4_address_scope") or None,
            dns_domain=str(body.get("kumo_dns_zone") or body.get("dns_domain") or ""),
        )

    def on_host(self, me: HostView | None) -> NetworkView:
        """The network as ``me`` wires it: with several segments (a routed
        provider network), the first one the host serves, a tunnel or
        host-local segment or one on a physical network it maps."""
        if not self.segments or me is None:
            return self
        mapped = {physnet for physnet, _ in me.bridge_mappings}
        for seg in self.segments:
            if seg.network_type in ("vxlan", "local") or seg.physical_network in mapped:
                return replace(
                    self,
                    network_type=seg.network_type,
                    physical_network=seg.physical_network,
                    segmentation_id=seg.segmentation_id,
                )
        return self


@dataclass(frozen=True)
class SegmentView:
    """One segment of a network with several."""

    network_type: str
    physical_network: str | None
    segmentation_id: int | None

    @classmethod
    def from_body(cls, body: Body) -> SegmentView:
        seg = body.get("provider:segmentation_id")
        return cls(
            network_type=str(body.get("provider:network_type") or "local"),
            physical_network=body.get("provider:physical_network") or None,
            segmentation_id=int(seg) if seg is not None else None,
        )


@dataclass(frozen=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True)
class SubnetView:
    id: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    ip_version: int
    enable_dhcp: bool
    host_routes: tuple[HostRoute, ...]
    dns_nameservers: tuple[str, ...]
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None

    @property
    def ipv6_mode(self) -> str | None:
        """How IPv6 hosts on the subnet configure themselves: ``slaac``,
        ``dhcpv6-stateless``, ``dhcpv6-stateful``, or None (statically)."""
        if self.ip_version != 6:
            return None
        return self.ipv6_address_mode or self.ipv6_ra_mode

    @classmethod
    def from_body(cls, body: Body) -> SubnetView:
        routes = tuple(
            HostRoute(str(r["destination"]), str(r["nexthop"]))
            for r in body.get("host_routes") or ()
        )
        return cls(
            id=str(body["id"]),
            network_id=str(body["network_id"]),
            cidr=str(body["cidr"]),
            gateway_ip=body.get("gateway_ip") or None,
            ip_version=int(body.get("ip_version") or (6 if ":" in str(body["cidr"]) else 4)),
            enable_dhcp=bool(body.get("enable_dhcp", True)),
            host_routes=routes,
            dns_nameservers=tuple(str(d) for d in body.get("dns_nameservers") or ()),
            ipv6_ra_mode=body.get("ipv6_ra_mode") or None,
            ipv6_address_mode=body.get("ipv6_address_mode") or None,
        )


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class PortView:
    id: str
    network_id: str
    mac: str
    fixed_ips: tuple[FixedIp, ...]
    host: str
    """``binding:host_id``; empty when the port is not bound."""
    device_owner: str
    device_id: str
    admin_state_up: bool
    mtu: int | None = None
    """Only when the body carries one; otherwise the network's MTU applies."""
    port_security: bool = False
    """``port_security_enabled``: filter and anti-spoofing apply."""
    security_groups: tuple[str, ...] = ()
    address_pairs: tuple[AddressPair, ...] = ()
    """``allowed_address_pairs``, the MAC defaulting to the port's own."""
    extra_dhcp_opts: tuple[tuple[str, str, int], ...] = ()
    """(opt_name, opt_value, ip_version) as the API holds them."""
    hostname: str = ""
    """Hostname of the instance on the port (``kumo_hostname``, only in the
    watch feed: its server's ``OS-EXT-SRV-ATTR:hostname``, or the port's
    name made a host name); empty when the body has none."""
    qos: tuple[QosRuleView, ...] = ()
    """The rules of the port's QoS policy (its own, else its network's); sorted."""
    trunk: TrunkLink | None = None
    """For a trunk's subport (``kumo_trunk``, only in the watch feed): its
    parent port and VLAN id."""
    project_id: str = ""
    dns: tuple[DnsAssignment, ...] = ()
    """``dns_assignment``: the host name and FQDN of each fixed IP."""

    def dns_for(self, ip_address: str) -> DnsAssignment | None:
        return next((d for d in self.dns if d.ip_address == ip_address), None)

    @property
    def ip_addresses(self) -> tuple[str, ...]:
        return tuple(f.ip_address for f in self.fixed_ips)

    @classmethod
    def from_body(cls, body: Body) -> PortView:
        # A start parses every port of the list (1,000 and more on a host of
        # a big group): the lists that are nearly always empty are skipped
        # without building a generator and a sort for each.
        get = body.get
        mtu = get("mtu")
        mac = str(body["mac_address"]).lower()
        fixed = get("fixed_ips")
        groups = get("security_groups")
        pairs = get("allowed_address_pairs")
        opts = get("extra_dhcp_opts")
        qos = get("kumo_qos_rules")
        dns = get("dns_assignment")
        return cls(
            id=str(body["id"]),
            network_id=str(body["network_id"]),
            mac=mac,
            fixed_ips=tuple([FixedIp(str(ip["subnet_id"]), str(ip["ip_address"])) for ip in fixed])
            if fixed
            else (),
            host=str(get("binding:host_id") or ""),
            device_owner=str(get("device_owner") or ""),
            device_id=str(get("device_id") or ""),
            admin_state_up=bool(get("admin_state_up", True)),
            mtu=int(mtu) if mtu else None,
            port_security=bool(get("port_security_enabled", False)),
            security_groups=tuple(sorted([str(g) for g in groups])) if groups else (),
            address_pairs=tuple(
                sorted(
                    [
                        AddressPair(str(p["ip_address"]), str(p.get("mac_address") or mac).lower())
                        for p in pairs
                    ]
                )
            )
            if pairs
            else (),
            extra_dhcp_opts=tuple(
                sorted(
                    [
                        (
                            str(o["opt_name"]),
                            str(o.get("opt_value") or ""),
                            int(o.get("ip_version") or 4),
                        )
                        for o in opts
                    ]
                )
            )
            if opts
            else (),
            hostname=str(get("kumo_hostname") or ""),
            qos=tuple(sorted([QosRuleView.from_body(r) for r in qos])) if qos else (),
            trunk=TrunkLink.from_body(get("kumo_trunk")),
            project_id=str(get("project_id") or ""),
            dns=tuple(
                [
                    DnsAssignment(str(d["hostname"]), str(d["ip_address"]), str(d["fqdn"]))
                    for d in dns
                ]
            )
            if dns
            else (),
        )


@dataclass(frozen=True, order=True)
class DnsAssignment:
    """One entry of a port's ``dns_assignment``."""

    hostname: str
    ip_address: str
    fqdn: str
    """With its trailing dot."""

    @property
    def domain(self) -> str:
        """The FQDN's domain, with its dot ('' when the FQDN is the host name)."""
        return (
            self.fqdn[len(self.hostname) + 1 :] if self.fqdn.startswith(self.hostname + ".") else ""
        )


@dataclass(frozen=True, order=True)
class TrunkLink:
    """A subport's place on its trunk: the parent port, and the VLAN id that
    tells its frames apart on the parent."""

    parent_port_id: str
    segmentation_id: int

    @classmethod
    def from_body(cls, body: Body | None) -> TrunkLink | None:
        if not body:
            return None
        return cls(str(body["parent_port_id"]), int(body["segmentation_id"]))


@dataclass(frozen=True, order=True)
class QosRuleView:
    """One rule of a port's effective QoS policy (``kumo_qos_rules``, only
    in the watch feed)."""

    type: str
    """``bandwidth_limit``, ``packet_rate_limit`` or ``dscp_marking``."""
    direction: str = ""
    """``egress`` (from the instance) or ``ingress`` (to it); limits only."""
    max_kbps: int = 0
    max_burst_kbps: int = 0
    dscp_mark: int = 0
    max_kpps: int = 0
    """Packet rate limits: thousands of packets per second."""
    max_burst_kpps: int = 0

    @classmethod
    def from_body(cls, body: Body) -> QosRuleView:
        return cls(
            type=str(body["type"]),
            direction=str(body.get("direction") or ""),
            max_kbps=int(body.get("max_kbps") or 0),
            max_burst_kbps=int(body.get("max_burst_kbps") or 0),
            dscp_mark=int(body.get("dscp_mark") or 0),
            max_kpps=int(body.get("max_kpps") or 0),
            max_burst_kpps=int(body.get("max_burst_kpps") or 0),
        )


@dataclass(frozen=True, order=True)
class AddressPair:
    ip_address: str
    """An address or a CIDR."""
    mac_address: str


@dataclass(frozen=True, order=True)
class RuleView:
    """One security group rule, normalised: protocol as its IP protocol number."""

    id: str
    direction: str
    """``ingress`` or ``egress``."""
    ethertype: int
    """4 or 6."""
    protocol: int | None
    """None: any protocol."""
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None
    remote_address_group_id: str | None = None
    remote_addresses: tuple[str, ...] = ()
    """The address group's CIDRs, as the API sent them with the rule."""

    @classmethod
    def from_body(cls, body: Body) -> RuleView:
        ethertype = 6 if str(body.get("ethertype") or "IPv4") == "IPv6" else 4
        direction = str(body["direction"])
        if direction not in ("ingress", "egress"):
            raise ValueError(f"direction {direction!r}")
        pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
        return cls(
            id=str(body["id"]),
            direction=direction,
            ethertype=ethertype,
            protocol=protocol_number(body.get("protocol"), ethertype),
            port_range_min=int(pmin) if pmin is not None else None,
            port_range_max=int(pmax) if pmax is not None else None,
            # the network of the prefix (the API keeps the prefix as given)
            remote_ip_prefix=body.get("normalized_cidr") or body.get("remote_ip_prefix") or None,
            remote_group_id=body.get("remote_group_id") or None,
            remote_address_group_id=body.get("remote_address_group_id") or None,
            remote_addresses=tuple(sorted(str(a) for a in body.get("kumo_remote_addresses") or ())),
        )


@dataclass(frozen=True)
class SecurityGroupView:
    id: str
    rules: tuple[RuleView, ...]
    """Sorted by rule id."""
    stateful: bool = True

    @classmethod
    def from_body(cls, body: Body) -> SecurityGroupView:
        return cls(
            id=str(body["id"]),
            rules=tuple(
                sorted(RuleView.from_body(r) for r in body.get("security_group_rules") or ())
            ),
            stateful=bool(body.get("stateful", True)),
        )


INTERFACE = "network:router_interface"
"""A centralized router's interface (bound to its gateway host)."""
DVR_INTERFACE = "network:router_interface_distributed"
"""A distributed router's interface (the same on every host)."""
SNAT = "network:router_centralized_snat"
"""A distributed router's leg on an interface subnet in its gateway namespace."""
GATEWAY = "network:router_gateway"
INTERFACES = frozenset({INTERFACE, DVR_INTERFACE})


@dataclass(frozen=True, order=True)
class RouterPort:
    """One port of a router, as the router's own record says (``kumo_ports``);
    a port's ``device_id`` and ``device_owner`` never make it a router's."""

    port_id: str
    port_type: str
    """``INTERFACE``, ``DVR_INTERFACE``, ``SNAT`` or ``GATEWAY``."""
    network_id: str

    @classmethod
    def from_body(cls, body: Body) -> RouterPort:
        return cls(str(body["port_id"]), str(body["port_type"]), str(body["network_id"]))


@dataclass(frozen=True, order=True)
class SnatLeaseView:
    """A block of a router's external address leased to one host
    (``kumo_snat_leases``, distributed SNAT): TCP and UDP ports and ICMP
    echo identifiers ``port_min``..``port_max``."""

    external_ip: str
    port_min: int
    port_max: int
    host: str
    id: str = field(default="", compare=False)

    @classmethod
    def from_body(cls, body: Body) -> SnatLeaseView:
        low, high = str(body["port_range"]).split(":")
        return cls(str(body["external_ip"]), int(low), int(high), str(body["host"]),
                   str(body.get("id", "")))  # fmt: skip


@dataclass(frozen=True)
class RouterView:
    id: str
    admin_state_up: bool
    distributed: bool
    gateway_network_id: str | None
    enable_snat: bool
    external_ips: tuple[FixedIp, ...]
    routes: tuple[HostRoute, ...]
    ha: bool = False
    gateway_hosts: tuple[str, ...] = ()
    """Hosts of the router's gateway agents, preferred first
    (``kumo_gateway_hosts``, only in the watch feed)."""
    ports: tuple[RouterPort, ...] = ()
    """The router's ports, sorted (``kumo_ports``, only in the watch feed)."""
    distributed_snat: bool = False
    """Its instances' hosts translate with leased blocks (``kumo_distributed_snat``)."""
    snat_leases: tuple[SnatLeaseView, ...] = ()
    """Every block leased for the router, sorted (``kumo_snat_leases``)."""
    project_id: str = ""
    gateway_qos: tuple[QosRuleView, ...] = ()
    """The rules of the gateway's QoS policy (``kumo_gateway_qos_rules``); sorted."""

    def port_ids(self, *types: str) -> tuple[str, ...]:
        """Ids of the router's ports of these types, sorted."""
        return tuple(p.port_id for p in self.ports if p.port_type in types)

    @property
    def translates(self) -> bool:
        """Does the router translate to its gateway address? Not without an
        external IPv4 address (a gateway on an external network without
        IPv4 subnets has none)."""
        return (
            self.gateway_network_id is not None
            and self.enable_snat
            and any(":" not in ip.ip_address for ip in self.external_ips)
        )

    @classmethod
    def from_body(cls, body: Body) -> RouterView:
        gw = body.get("external_gateway_info") or {}
        return cls(
            id=str(body["id"]),
            admin_state_up=bool(body.get("admin_state_up", True)),
            distributed=bool(body.get("distributed", False)),
            gateway_network_id=gw.get("network_id") or None,
            enable_snat=bool(gw.get("enable_snat", True)),
            external_ips=tuple(
                FixedIp(str(ip["subnet_id"]), str(ip["ip_address"]))
                for ip in gw.get("external_fixed_ips") or ()
            ),
            routes=tuple(
                sorted(
                    (HostRoute(str(r["destination"]), str(r["nexthop"]))
                     for r in body.get("routes") or ()),
                    key=lambda r: (r.destination, r.nexthop),
                )
            ),
            ha=bool(body.get("ha", False)),
            gateway_hosts=tuple(str(h) for h in body.get("kumo_gateway_hosts") or ()),
            ports=tuple(sorted(RouterPort.from_body(p) for p in body.get("kumo_ports") or ())),
            distributed_snat=bool(body.get("kumo_distributed_snat", False)),
            snat_leases=tuple(sorted(SnatLeaseView.from_body(x)
                                     for x in body.get("kumo_snat_leases") or ())),
            project_id=str(body.get("project_id") or ""),
            gateway_qos=tuple(sorted(QosRuleView.from_body(r)
                                     for r in body.get("kumo_gateway_qos_rules") or ())),
        )  # fmt: skip  # fmt: skip


@dataclass(frozen=True, order=True)
class ForwardingView:
    """One port forwarding of a floating IP (an entry of its
    ``port_forwardings``): ``protocol`` to the floating IP's
    ``external_port`` goes to ``internal_ip_address:internal_port``."""

    protocol: str
    external_port: int
    internal_ip_address: str
    internal_port: int
    external_port_end: int = 0
    """The last external port of a range (``external_port`` for one port)."""
    internal_port_end: int = 0
    """The last internal port: ``internal_port`` for one port (every
    external port goes to it), else a range as long as the external one."""

    def __post_init__(self) -> None:
        if not self.external_port_end:
            object.__setattr__(self, "external_port_end", self.external_port)
        if not self.internal_port_end:
            object.__setattr__(self, "internal_port_end", self.internal_port)

    @classmethod
    def from_body(cls, body: Body) -> ForwardingView:
        protocol = str(body["protocol"])
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"protocol {protocol!r}")
        ext = _ports(body, "external_port")
        inside = _ports(body, "internal_port")
        return cls(protocol, ext[0], str(body["internal_ip_address"]), inside[0],
                   ext[1], inside[1])  # fmt: skip


def _ports(body: Body, key: str) -> tuple[int, int]:
    """(first, last) of a forwarding's side: its ``<key>_range``
    (``first:last``) or its one port ``<key>``."""
    ranged = body.get(f"{key}_range")
    if ranged:
        first, _, last = str(ranged).partition(":")
        return int(first), int(last or first)
    return int(body[key]), int(body[key])


@dataclass(frozen=True)
class FloatingIpView:
    id: str
    floating_ip_address: str
    floating_network_id: str
    router_id: str | None
    port_id: str | None
    fixed_ip_address: str | None
    port_forwardings: tuple[ForwardingView, ...] = ()
    forwarding_host: str | None = None
    """The host the API chose to answer for the address (``kumo_forwarding_host``)."""
    qos: tuple[QosRuleView, ...] = ()
    """The rules of its QoS policy (its own, else its external network's); sorted."""

    @classmethod
    def from_body(cls, body: Body) -> FloatingIpView:
        return cls(
            id=str(body["id"]),
            floating_ip_address=str(body["floating_ip_address"]),
            floating_network_id=str(body["floating_network_id"]),
            router_id=body.get("router_id") or None,
            port_id=body.get("port_id") or None,
            fixed_ip_address=body.get("fixed_ip_address") or None,
            port_forwardings=tuple(sorted(ForwardingView.from_body(x)
                                          for x in body.get("port_forwardings") or ())),
            forwarding_host=body.get("kumo_forwarding_host") or None,
            qos=tuple(sorted(QosRuleView.from_body(r) for r in body.get("kumo_qos_rules") or ())),
        )  # fmt: skip


@dataclass(frozen=True)
class ServerView:
    """A server placed on a host (kind ``server`` on ``host:H``, see
    ``kumo/compute/server_events.py``): what its compute driver runs."""

    id: str
    host: str
    driver: str
    """``namespace`` or ``qemu``."""
    hostname: str = ""
    vcpus: int = 1
    memory_mb: int = 512
    disk_gb: int = 0
    image_id: str = ""
    image_hash: str = ""
    """The image data's sha512 (else its md5): the host's cache key for it."""
    power: str = "running"
    """``running``, ``stopped`` or ``paused``: what the host must hold."""
    reboots: int = 0
    reboot_hard: bool = False
    rebuilds: int = 0
    snapshot: str = ""
    """The image a snapshot under way goes into ("" for none)."""
    ports: tuple[str, ...] = ()
    """Its ports in attachment order."""
    root_volume: str = ""
    """A server booted from a volume: the NBD URL of its root volume's export."""
    root_pending: bool = False
    """Booted from a volume not made yet (nothing to run until it is)."""

    @classmethod
    def from_body(cls, body: Body) -> ServerView:
        image = body.get("image") or {}
        root = body.get("root_volume") or {}
        export = root.get("export") or {}
        power = str(body.get("power") or "running")
        if power not in ("running", "stopped", "paused"):
            raise ValueError(f"power {power!r}")
        return cls(
            id=str(body["id"]),
            host=str(body.get("host") or ""),
            driver=str(body.get("driver") or "namespace"),
            hostname=str(body.get("hostname") or ""),
            vcpus=int(body.get("vcpus") or 1),
            memory_mb=int(body.get("memory_mb") or 512),
            disk_gb=int(body.get("disk_gb") or 0),
            image_id=str(image.get("id") or ""),
            image_hash=str(image.get("os_hash_value") or image.get("checksum") or ""),
            power=power,
            reboots=int(body.get("reboots") or 0),
            reboot_hard=bool(body.get("reboot_hard", False)),
            rebuilds=int(body.get("rebuilds") or 0),
            snapshot=str(body.get("snapshot") or ""),
            ports=tuple(str(p) for p in body.get("ports") or ()),
            root_volume=(
                nbd_url(str(export["address"]), int(export["port"]), str(export["name"]))
                if root.get("ready")
                else ""
            ),
            root_pending=bool(root) and not root.get("ready"),
        )


def nbd_url(address: str, port: int, export: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"nbd://{host}:{port}/{export}"


PROTOCOL_NUMBERS = {
    "icmp": 1,
    "igmp": 2,
    "ipip": 4,
    "tcp": 6,
    "egp": 8,
    "udp": 17,
    "dccp": 33,
    "ipv6-encap": 41,
    "ipv6-route": 43,
    "ipv6-frag": 44,
    "rsvp": 46,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmpv6": 58,
    "ipv6-icmp": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ospf": 89,
    "pgm": 113,
    "vrrp": 112,
    "sctp": 132,
    "udplite": 136,
}


def protocol_number(protocol: object, ethertype: int) -> int | None:
    """A rule's protocol (name, number or any) as an IP protocol number.

    ``icmp`` on an IPv6 rule means ICMPv6, as in the API."""
    if protocol is None or str(protocol).lower() in ("", "any"):
        return None
    text = str(protocol).lower()
    number = int(text) if text.isdigit() else PROTOCOL_NUMBERS[text]
    if ethertype == 6 and number == 1:
        return 58
    if not 0 <= number <= 255:
        raise ValueError(f"protocol {protocol!r}")
    return number


@dataclass(frozen=True)
class HostView:
    host: str
    tunnel_ip: str | None
    bridge_mappings: tuple[tuple[str, str], ...] = ()
    """(physical network, interface) pairs, sorted."""
    underlay_device: str | None = None
    """Interface the VXLAN devices are bound to (``configurations.underlay_device``);
    None lets the kernel route from ``tunnel_ip``."""
    vlan_devices: bool = True
    """The host's kernel makes 802.1Q VLAN devices (``configurations.vlan_devices``);
    without them VLAN networks are carried by tc programs."""
    gateway: bool = False
    """The host is marked as one that may run routers' gateways
    (``configurations.gateway``): it beats with the others (``kumo.ha.beatgroup``)."""

    def interface_for(self, physical_network: str | None) -> str | None:
        for physnet, ifname in self.bridge_mappings:
            if physnet == physical_network:
                return ifname
        return None

    @classmethod
    def from_agent_body(cls, body: Body) -> HostView:
        conf = body.get("configurations") or {}
        mappings = conf.get("bridge_mappings") or {}
        return cls(
            host=str(body["host"]),
            tunnel_ip=conf.get("tunnel_ip") or None,
            bridge_mappings=tuple(sorted((str(k), str(v)) for k, v in mappings.items())),
            underlay_device=conf.get("underlay_device") or None,
            vlan_devices=conf.get("vlan_devices") is not False,
            gateway=conf.get("gateway") is True,
        )


V = TypeVar("V")


def _frozen(items: dict[str, V]) -> Mapping[str, V]:
    return MappingProxyType(dict(sorted(items.items())))


def _bodies(bodies: Bodies) -> Iterable[Body]:
    if isinstance(bodies, Mapping):
        return bodies.values()
    return bodies


@dataclass(frozen=True, order=True)
class MeteringRuleView:
    """One rule of a metering label: what crosses a router's external side
    in ``direction`` (``ingress``: entering the router from it, ``egress``:
    leaving through it), by its far end (``remote_ip_prefix``) or by source
    and destination; ``excluded``: not counted."""

    direction: str
    excluded: bool = False
    remote_ip_prefix: str | None = None
    source_ip_prefix: str | None = None
    destination_ip_prefix: str | None = None

    @classmethod
    def from_body(cls, body: Body) -> MeteringRuleView:
        direction = str(body["direction"])
        if direction not in ("ingress", "egress"):
            raise ValueError(f"direction {direction!r}")

        def prefix(key: str) -> str | None:
            value = body.get(key)
            return None if value is None else str(ipaddress.ip_network(str(value)))

        return cls(
            direction=direction,
            excluded=bool(body.get("excluded", False)),
            remote_ip_prefix=prefix("remote_ip_prefix"),
            source_ip_prefix=prefix("source_ip_prefix"),
            destination_ip_prefix=prefix("destination_ip_prefix"),
        )


@dataclass(frozen=True)
class MeteringLabelView:
    """A metering label: it applies to the routers of ``project_id``, or
    to every router when ``shared``."""

    id: str
    project_id: str
    shared: bool
    rules: tuple[MeteringRuleView, ...]
    """Sorted."""

    @classmethod
    def from_body(cls, body: Body) -> MeteringLabelView:
        return cls(
            id=str(body["id"]),
            project_id=str(body.get("project_id") or ""),
            shared=bool(body.get("shared", False)),
            rules=tuple(sorted(MeteringRuleView.from_body(r) for r in body.get("rules") or ())),
        )


@dataclass(frozen=True, eq=True)
class ClusterView:
    """Everything the agent's cache holds, keyed by id (hosts by host name)."""

    networks: Mapping[str, NetworkView] = field(default_factory=lambda: _frozen({}))
    subnets: Mapping[str, SubnetView] = field(default_factory=lambda: _frozen({}))
    ports: Mapping[str, PortView] = field(default_factory=lambda: _frozen({}))
    hosts: Mapping[str, HostView] = field(default_factory=lambda: _frozen({}))
    security_groups: Mapping[str, SecurityGroupView] = field(default_factory=lambda: _frozen({}))
    routers: Mapping[str, RouterView] = field(default_factory=lambda: _frozen({}))
    floatingips: Mapping[str, FloatingIpView] = field(default_factory=lambda: _frozen({}))
    servers: Mapping[str, ServerView] = field(default_factory=lambda: _frozen({}))
    invalid: tuple[str, ...] = ()
    """Ids (or ``kind:?``) of bodies that could not be parsed."""
    metering_labels: Mapping[str, MeteringLabelView] = field(default_factory=lambda: _frozen({}))

    @classmethod
    def from_bodies(
        cls,
        networks: Bodies = (),
        subnets: Bodies = (),
        ports: Bodies = (),
        agents: Bodies = (),
        security_groups: Bodies = (),
        routers: Bodies = (),
        floatingips: Bodies = (),
        servers: Bodies = (),
    ) -> ClusterView:
        invalid: list[str] = []
        nets = _parse("network", networks, NetworkView.from_body, invalid)
        subs = _parse("subnet", subnets, SubnetView.from_body, invalid)
        prts = _parse("port", ports, PortView.from_body, invalid)
        groups = _parse("security_group", security_groups, SecurityGroupView.from_body, invalid)
        rtrs = _parse("router", routers, RouterView.from_body, invalid)
        fips = _parse("floatingip", floatingips, FloatingIpView.from_body, invalid)
        srvs = _parse("server", servers, ServerView.from_body, invalid)
        return cls.assemble(nets, subs, prts, agents, groups, rtrs, fips, invalid, srvs)

    @classmethod
    def assemble(
        cls,
        networks: dict[str, NetworkView],
        subnets: dict[str, SubnetView],
        ports: dict[str, PortView],
        agents: Bodies,
        security_groups: dict[str, SecurityGroupView],
        routers: dict[str, RouterView],
        floatingips: dict[str, FloatingIpView],
        invalid: Iterable[str] = (),
        servers: dict[str, ServerView] | None = None,
        metering_labels: dict[str, MeteringLabelView] | None = None,
    ) -> ClusterView:
        """A view from objects parsed already (the agent's cache parses each
        body once, when it arrives) and the agents' bodies."""
        hosts, bad_agents = hosts_of(agents)
        bad = [*invalid, *bad_agents]
        return cls(
            networks=_frozen(networks),
            subnets=_frozen(subnets),
            ports=_frozen(ports),
            hosts=_frozen(hosts),
            security_groups=_frozen(security_groups),
            routers=_frozen(routers),
            floatingips=_frozen(floatingips),
            servers=_frozen(servers or {}),
            invalid=tuple(sorted(bad)),
            metering_labels=_frozen(metering_labels or {}),
        )

    def subnets_of(self, network_id: str) -> tuple[SubnetView, ...]:
        return self._subnets_by_network.get(network_id, ())

    def ports_of(self, network_id: str) -> tuple[PortView, ...]:
        return self._ports_by_network.get(network_id, ())

    def ports_on(self, host: str) -> tuple[PortView, ...]:
        """The ports bound to ``host``, in the view's order."""
        return self._ports_by_host.get(host, ())

    def ports_changed_since(self, ports: Mapping[str, PortView]) -> frozenset[str] | None:
        """When this view was patched from one whose ports were ``ports``:
        the ids of the ports that may differ (came, went or changed; a
        superset). None when that is not known (look at every port)."""
        known: tuple[Mapping[str, PortView], frozenset[str]] | None = self.__dict__.get(
            "_ports_patched_from"
        )
        if known is None or known[0] is not ports:
            return None
        return known[1]

    def ports_in_group(self, group_id: str) -> tuple[PortView, ...]:
        """The ports that are members of security group ``group_id``."""
        known = self._indexes.get(("groups", ""))
        if known is None:
            grouped: dict[str, list[PortView]] = {}
            for port in self.ports.values():
                for gid in port.security_groups:
                    grouped.setdefault(gid, []).append(port)
            known = self._indexes[("groups", "")] = {k: tuple(v) for k, v in grouped.items()}
        return known.get(group_id, ())  # type: ignore[no-any-return]

    def local_ports_by_network(self, host: str) -> Mapping[str, tuple[PortView, ...]]:
        """The ports bound to ``host`` per network, in the view's order (a
        port arriving later comes last: the other tuples stay equal, element
        for element, so per-network memos keyed on them keep answering)."""
        known = self._indexes.get(("local", host))
        if known is None:
            grouped: dict[str, list[PortView]] = {}
            for port in self.ports_on(host):
                grouped.setdefault(port.network_id, []).append(port)
            known = self._indexes[("local", host)] = {k: tuple(v) for k, v in grouped.items()}
        return known

    # Indexes, built on first use: one pass over the view instead of one per
    # question (a compile asks per network and per port; the view is frozen).

    @property
    def _indexes(self) -> dict[tuple[str, str], Any]:
        cached: dict[tuple[str, str], Any] | None = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    @property
    def _ports_by_network(self) -> dict[str, tuple[PortView, ...]]:
        return self._grouped("ports_by_network", self.ports.values(), lambda p: p.network_id)

    @property
    def _ports_by_host(self) -> dict[str, tuple[PortView, ...]]:
        return self._grouped("ports_by_host", self.ports.values(), lambda p: p.host)

    @property
    def _subnets_by_network(self) -> dict[str, tuple[SubnetView, ...]]:
        return self._grouped("subnets_by_network", self.subnets.values(), lambda s: s.network_id)

    def _grouped(
        self, name: str, items: Iterable[_Grouped], key: Callable[[_Grouped], str]
    ) -> dict[str, tuple[_Grouped, ...]]:
        known = self._indexes.get((name, ""))
        if known is None:
            grouped: dict[str, list[_Grouped]] = {}
            for item in items:
                grouped.setdefault(key(item), []).append(item)
            known = self._indexes[(name, "")] = {k: tuple(v) for k, v in grouped.items()}
        return known


_Grouped = TypeVar("_Grouped", PortView, SubnetView)


def hosts_of(agents: Bodies) -> tuple[dict[str, HostView], list[str]]:
    """The hosts the agents' bodies describe, and ``agent:<id>`` of those
    that do not parse."""
    bad: list[str] = []
    hosts: dict[str, HostView] = {}
    # Several agents may report for one host; the one with a tunnel IP
    # (lowest agent id first) describes the host's dataplane.
    for body in sorted(_bodies(agents), key=lambda b: str(b.get("id", ""))):
        view = _HOST_VIEWS.get(str(body.get("id", "")), _host_view, body)
        if view is None:
            bad.append(f"agent:{body.get('id', '?')}")
            continue
        known = hosts.get(view.host)
        if known is None or (known.tunnel_ip is None and view.tunnel_ip is not None):
            hosts[view.host] = view
    return hosts, bad


def _host_view(body: Body) -> HostView | None:
    try:
        return HostView.from_agent_body(body)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


_HOST_VIEWS: LastAnswer[HostView | None] = LastAnswer()
"""Per agent, its host's view, parsed again only when its body changes: a
cloud's hosts change one agent at a time (a registration, a readiness
report), and each change made every host parse all 1,000 agents again."""


T = TypeVar(
    "T", NetworkView, SubnetView, PortView, SecurityGroupView, RouterView, FloatingIpView,
    ServerView,
)  # fmt: skip


PARSERS: Mapping[str, Callable[[Body], Any]] = MappingProxyType(
    {
        "network": NetworkView.from_body,
        "subnet": SubnetView.from_body,
        "port": PortView.from_body,
        "security_group": SecurityGroupView.from_body,
        "router": RouterView.from_body,
        "floatingip": FloatingIpView.from_body,
        "server": ServerView.from_body,
        "metering_label": MeteringLabelView.from_body,
    }
)
"""Each kind's body parser (agents are read as hosts, all together)."""


def parse_one(kind: str, body: Body) -> Any | None:
    """One body as its view, or None when it cannot be parsed."""
    try:
        return PARSERS[kind](body)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _parse(
    kind: str, bodies: Bodies, parse: Callable[[Body], T], invalid: list[str]
) -> dict[str, T]:
    out: dict[str, T] = {}
    for body in _bodies(bodies):
        try:
            view = parse(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            invalid.append(f"{kind}:{body.get('id', '?') if isinstance(body, Mapping) else '?'}")
            continue
        out[view.id] = view
    return out
