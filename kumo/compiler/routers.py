"""Routers on one host: distributed (DVR), their SNAT, and centralized ones.

Pure. Three roles, each a namespace with legs into network bridges:

``dvr``  (``kr-<host>-<router>``) on every host with an instance port on one
         of a distributed router's subnets: a leg per interface with the
         SAME gateway IP and MAC on every host (the MAC pinned to the local
         leg in the bridge, so gateway frames never leave the host),
         permanent neighbours for every port of the router's subnets (no
         ARP crosses the tunnel), extra routes in the main table. Traffic
         to the outside: from a fixed IP with a floating IP (on this host),
         rule → table 101, default via the upstream through this host's
         external leg, with DNAT/SNAT of the floating IP here; from anything
         else, rule → table 100, default via the router's SNAT port on the
         first subnet (on the gateway host). Port forwardings to this
         host's ports are translated here too, their floating IP answered
         by one host (``kumo.compiler.forwarding``).
``snat`` (``ks-<host>-<router>``) on a distributed router's gateway host: a
         leg per SNAT port (``network:router_centralized_snat``), the
         gateway port on the external network, default route upstream,
         ``snat to`` the router's external IP.

With distributed SNAT (``kumo.compiler.snat``) a ``dvr`` namespace whose
host holds port blocks of the router translates its instances itself and
sends them out through its external leg (rule → table 100, default
upstream), where the bandwidth limits of the gateway's QoS policy apply to
what it translates (each such host applies the whole limit to its own
share); every gateway host of the router forwards their return traffic
to them from its uplink (``snat.compile_gateway``), the ``snat`` namespace
too, and the latter translates (and limits) only hosts without a block yet.
``legacy`` (``kr-<host>-<router>``) for ``distributed=false`` on its gateway
         host only: interface legs (ordinary bound ports, reached through the
         tunnel by the other hosts), the gateway leg, every floating IP of
         the router, SNAT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from dataclasses import dataclass, field

from kumo.compiler import forwarding, ipnet, names, qos, snat
from kumo.compiler.memo import LastAnswer
from kumo.compiler.model import (
    DVR_INTERFACE,
    GATEWAY,
    INTERFACES,
    SNAT,
    ClusterView,
    FloatingIpView,
    PortView,
    RouterView,
    SubnetView,
)
from kumo.compiler.plan import (
    HOST_NS,
    Address,
    Dnat,
    FdbEntry,
    Link,
    NatLimit,
    NatTable,
    NeighEntry,
    Netns,
    ObjectKey,
    PolicyRule,
    PortWiring,
    Route,
    Snat,
    SnatForward,
    Sysctl,
    VethPeer,
)

SNAT_TABLE = 100
FIP_TABLE = 101
SNAT_RULE_PRIORITY = 40000
FIP_RULE_PRIORITY = 33000
"""Above the main table's 32766, so east-west routes always win."""
ROUTER_SYSCTLS = (
    ("net/ipv4/ip_forward", "1"),
    ("net/ipv6/conf/all/forwarding", "1"),
    ("net/ipv4/conf/all/rp_filter", "0"),
    ("net/ipv4/conf/default/rp_filter", "0"),
    # No ICMP redirects: a distributed router's hosts share its gateway IP,
    # and its SNAT traffic leaves by the leg it came in on (to the SNAT
    # port), which would tell instances to bypass it. The kernel sends one
    # when ``all`` OR the device's own setting says so; ``default`` is what
    # devices made later start with.
    ("net/ipv4/conf/all/send_redirects", "0"),
    ("net/ipv4/conf/default/send_redirects", "0"),
)


@dataclass
class RouterObjects:
    """What the router stage adds to a host plan (merged by compile_host)."""

    netns: set[Netns] = field(default_factory=set)
    links: set[Link] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    routes: set[Route] = field(default_factory=set)
    rules: set[PolicyRule] = field(default_factory=set)
    neighbours: set[NeighEntry] = field(default_factory=set)
    fdb: set[FdbEntry] = field(default_factory=set)
    sysctls: set[Sysctl] = field(default_factory=set)
    nat: set[NatTable] = field(default_factory=set)
    wiring: set[PortWiring] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    """Networks the host must serve (bridge, uplink, remote ports) for its routers."""
    ha_strict: bool = True


@dataclass(frozen=True)
class _Router:
    view: RouterView
    interfaces: tuple[PortView, ...]
    dvr_interfaces: tuple[PortView, ...]
    """The interfaces a distributed router has on every host."""
    snat_ports: tuple[PortView, ...]
    gateway: PortView | None


def _is_instance(port: PortView) -> bool:
    return port.device_owner == "" or port.device_owner.startswith("compute:")


def _ports(view: ClusterView, router: RouterView, *types: str) -> tuple[PortView, ...]:
    """The router's ports of these types that the view holds, by id."""
    return tuple(view.ports[p] for p in router.port_ids(*types) if p in view.ports)


def _routers(view: ClusterView) -> dict[str, _Router]:
    """Each router with its ports, as the router's own list (``ports``) names
    them: a port's ``device_id``/``device_owner`` never make it a router's."""
    out: dict[str, _Router] = {}
    for rid, router in view.routers.items():
        gateway = _ports(view, router, GATEWAY)
        out[rid] = _Router(
            view=router,
            interfaces=_ports(view, router, *INTERFACES),
            dvr_interfaces=_ports(view, router, DVR_INTERFACE),
            snat_ports=_ports(view, router, SNAT),
            gateway=gateway[0] if gateway else None,
        )
    return out


def compile_routers(host: str, view: ClusterView, *, ha_strict: bool = True) -> RouterObjects:
    """``ha_strict``: HA routers' namespaces pick up no TCP connection they
    have no state for (the state is synced); False leaves the kernel's loose
    pickup on (no sync: a standby adopts mid-stream connections)."""
    out = RouterObjects(ha_strict=ha_strict)
    local_networks = {
        network_id
        for network_id, ports in view.local_ports_by_network(host).items()
        if any(_is_instance(p) for p in ports)
    }
    routers = _routers(view)
    for rid in sorted(routers):
        router = routers[rid]
        if not router.view.admin_state_up:
            continue
        if router.view.distributed:
            if any(i.network_id in local_networks for i in router.interfaces):
                _dvr(host, view, router, out)
            if _runs_gateway(host, router, router.gateway.host if router.gateway else ""):
                _snat(host, view, router, out)
        elif _runs_gateway(host, router, _legacy_host(router)):
            _legacy(host, view, router, out)
    _no_redirects(out)
    return out


def _no_redirects(out: RouterObjects) -> None:
    """``send_redirects`` off on every device of the router namespaces too:
    a device made before ``default`` was set (the dataplane makes links
    before it writes settings) keeps the value it started with."""
    routers = {n.name for n in out.netns}
    devices = {(x.netns, x.name) for x in out.links if x.netns in routers and x.name != "lo"}
    devices |= {
        (x.peer.netns, x.peer.name) for x in out.links if x.peer and x.peer.netns in routers
    }
    out.sysctls |= {Sysctl(ns, f"net/ipv4/conf/{name}/send_redirects", "0") for ns, name in devices}


def _is_ha(router: _Router) -> bool:
    return router.view.ha and bool(router.view.gateway_hosts)


def _runs_gateway(host: str, router: _Router, bound: str) -> bool:
    """A highly available router's gateway namespace is on all its gateway
    hosts (active or standby); any other router's on its bound host."""
    if _is_ha(router):
        return host in router.view.gateway_hosts
    return bool(bound) and bound == host


def _ha_extras(
    host: str, ns: str, router: _Router, ports: tuple[PortView, ...], out: RouterObjects
) -> bool:
    """For a highly available router: strict TCP pickup (an established
    connection continues after failover only with its synced state; loose
    without sync, see ``compile_routers``) and,
    on the active host, the MACs pinned to its legs. True when this host
    is the router's active gateway (or the router is not highly available)."""
    if not _is_ha(router):
        return True
    out.sysctls.add(
        Sysctl(ns, "net/netfilter/nf_conntrack_tcp_loose", "0" if out.ha_strict else "1")
    )
    # Events for every entry, from the start: a standby becomes active.
    out.sysctls.add(Sysctl(ns, "net/netfilter/nf_conntrack_events", "1"))
    active = router.gateway is not None and router.gateway.host == host
    if active:
        for port in ports:
            outer = names.router_port_name(port.id)
            out.fdb.add(FdbEntry(HOST_NS, outer, port.mac, master=True))
        if router.gateway is not None:
            outer = names.gateway_port_name(router.gateway.id)
            out.fdb.add(FdbEntry(HOST_NS, outer, router.gateway.mac, master=True))
    return active


def _legacy_host(router: _Router) -> str:
    if router.gateway is not None and router.gateway.host:
        return router.gateway.host
    return next((i.host for i in router.interfaces if i.host), "")


# -- shared pieces ---------------------------------------------------------------


def _namespace(ns: str, out: RouterObjects) -> None:
    out.netns.add(Netns(ns))
    out.links.add(Link(ns, "lo", "device", up=True))
    out.sysctls |= {Sysctl(ns, path, value) for path, value in ROUTER_SYSCTLS}


def _subnet_of(view: ClusterView, subnet_id: str) -> SubnetView | None:
    return view.subnets.get(subnet_id)


def _leg(
    host_ns_name: str,
    ns: str,
    inside: str,
    port: PortView,
    view: ClusterView,
    out: RouterObjects,
) -> tuple[Link, Link, list[Address]] | None:
    """A veth from the network's bridge into the router namespace, with the
    port's MAC and addresses inside. None when the network is unknown."""
    network = view.networks.get(port.network_id)
    if network is None:
        return None
    bridge = names.bridge_name(network.id)
    mtu = network.mtu
    outer = Link(HOST_NS, host_ns_name, "veth", mtu=mtu, up=True, master=bridge,
                 peer=VethPeer(ns, inside))  # fmt: skip
    inner = Link(ns, inside, "veth", mtu=mtu, mac=port.mac, up=True)
    addresses: list[Address] = []
    for fixed in port.fixed_ips:
        subnet = _subnet_of(view, fixed.subnet_id)
        if subnet is None:
            continue
        prefix = ipnet.ip_network(subnet.cidr).prefixlen
        addresses.append(Address(ns, inside, f"{fixed.ip_address}/{prefix}"))
    out.links |= {outer, inner}
    out.addresses |= set(addresses)
    out.networks.add(network.id)
    return outer, inner, addresses


def _neighbours(
    ns: str, ifname: str, port: PortView, view: ClusterView, skip: set[str], out: RouterObjects
) -> None:
    """Permanent neighbours for every port with an address on ``port``'s subnets."""
    out.neighbours |= _NEIGHBOURS.get(
        (ns, ifname), _neighbour_entries, ns, ifname, port, view.ports_of(port.network_id),
        frozenset(skip),
    )  # fmt: skip


_NEIGHBOURS: LastAnswer[frozenset[NeighEntry]] = LastAnswer()
"""Per router leg: its neighbours, made again only when the leg's port,
its network's ports or the router's own ports change (a member joining a
group on another network leaves them be)."""


def _neighbour_entries(
    ns: str, ifname: str, port: PortView, ports: tuple[PortView, ...], skip: frozenset[str]
) -> frozenset[NeighEntry]:
    subnets = {f.subnet_id for f in port.fixed_ips}
    out: set[NeighEntry] = set()
    for other in ports:
        if other.id in skip or not other.mac or other.id == port.id:
            continue
        for fixed in other.fixed_ips:
            if fixed.subnet_id in subnets:
                out.add(NeighEntry(ns, ifname, fixed.ip_address, other.mac))
    return frozenset(out)


def _extra_routes(
    ns: str, router: _Router, legs: dict[str, tuple[str, list[Address]]], out: RouterObjects
) -> None:
    """``routes`` of the router: through the leg whose subnet holds the next hop."""
    for route in router.view.routes:
        try:
            nexthop = ipnet.ip_address(route.nexthop)
            dst = str(ipnet.ip_network(route.destination))
        except ValueError:
            continue
        for ifname, addresses in legs.values():
            if any(nexthop in ipaddress.ip_interface(a.address).network for a in addresses):
                out.routes.add(Route(ns, dst, str(nexthop), ifname))
                break


def _external(view: ClusterView, router: _Router) -> tuple[str, str | None] | None:
    """(external CIDR, upstream gateway) of the router's external subnet."""
    network_id = router.view.gateway_network_id
    if network_id is None:
        return None
    subnets = [s for s in view.subnets_of(network_id) if s.ip_version == 4]
    wanted = {ip.subnet_id for ip in router.view.external_ips}
    chosen = [s for s in subnets if s.id in wanted] or subnets
    if not chosen:
        return None
    subnet = sorted(chosen, key=lambda s: s.id)[0]
    return str(ipnet.ip_network(subnet.cidr)), subnet.gateway_ip


def scoped_sources(view: ClusterView, router: _Router) -> tuple[str, ...]:
    """The router's IPv4 subnets in its external network's address scope:
    routed to it untranslated (Neutron's address scopes)."""
    ext = router.view.gateway_network_id
    ext_view = view.networks.get(ext) if ext is not None else None
    scope = ext_view.ipv4_address_scope if ext_view is not None else None
    if scope is None:
        return ()
    out: set[str] = set()
    for port in (*router.interfaces, *router.snat_ports):
        net = view.networks.get(port.network_id)
        if net is None or net.ipv4_address_scope != scope:
            continue
        for ip in port.fixed_ips:
            sub = view.subnets.get(ip.subnet_id)
            if sub is not None and sub.ip_version == 4:
                out.add(str(ipnet.ip_network(sub.cidr)))
    return tuple(sorted(out))


def fip_leg_mac(host: str, router_id: str) -> str:
    """The MAC of a host's external leg for a distributed router's floating
    IPs: locally administered, unique per (host, router)."""
    digest = hashlib.sha256(f"{host}/{router_id}".encode()).digest()
    return "fa:17:" + ":".join(f"{b:02x}" for b in digest[:4])


def _floating_ips(view: ClusterView, router_id: str) -> list[FloatingIpView]:
    return sorted(
        (f for f in view.floatingips.values()
         if f.router_id == router_id and f.port_id and f.fixed_ip_address),
        key=lambda f: f.floating_ip_address,
    )  # fmt: skip


def _wire(
    host: str, port: PortView, legs: tuple[Link, Link, list[Address]], out: RouterObjects
) -> None:
    if port.host != host:
        return
    outer, inner, addresses = legs
    keys: set[ObjectKey] = {outer.key, outer.master_key, inner.key} | {a.key for a in addresses}
    out.wiring.add(PortWiring(port.id, frozenset(keys)))


# -- roles -----------------------------------------------------------------------


def _dvr(host: str, view: ClusterView, router: _Router, out: RouterObjects) -> None:
    ns = names.router_netns(host, router.view.id)
    _namespace(ns, out)
    own = {p.id for p in router.interfaces}
    legs: dict[str, tuple[str, list[Address]]] = {}
    for port in router.dvr_interfaces:
        inside = names.router_if_name(port.id)
        made = _leg(names.router_port_name(port.id), ns, inside, port, view, out)
        if made is None:
            continue
        outer, _, addresses = made
        out.fdb.add(FdbEntry(HOST_NS, outer.name, port.mac, master=True))
        _neighbours(ns, inside, port, view, own, out)
        legs[port.id] = (inside, addresses)
    _extra_routes(ns, router, legs, out)
    external = _external(view, router)
    ext_net = router.view.gateway_network_id
    usable = external is not None and ext_net is not None and ext_net in view.networks
    blocks = snat.host_blocks(router.view, host) if usable else []
    # Everything without a floating IP here: translated here with this
    # host's leased blocks, or else to the SNAT port on the first subnet.
    if router.view.translates and not blocks:
        for snat_port in router.snat_ports:
            leg = next(
                (
                    (ifname, ip.ip_address)
                    for ifname, addresses in legs.values()
                    for ip in snat_port.fixed_ips
                    for a in addresses
                    if ":" not in ip.ip_address
                    and ipnet.ip_address(ip.ip_address) in ipaddress.ip_interface(a.address).network
                ),
                None,
            )
            if leg is not None:
                out.routes.add(Route(ns, "0.0.0.0/0", leg[1], leg[0], table=SNAT_TABLE))
                out.rules.add(PolicyRule(ns, SNAT_RULE_PRIORITY, SNAT_TABLE))
                break
    # Floating IPs of ports on this host, and port forwardings to them.
    local_ports = {p.id for p in view.ports_on(host)}
    fips = [f for f in _floating_ips(view, router.view.id) if f.port_id in local_ports]
    served = forwarding.serve(host, view, router.view, lambda h: fip_leg_mac(h, router.view.id))
    if not (fips or blocks or served) or external is None or ext_net is None or not usable:
        out.nat.add(NatTable(ns))
        return
    cidr, upstream = external
    inside = names.router_gw_name(router.view.id)
    network = view.networks[ext_net]
    outer = Link(HOST_NS, names.gateway_port_name(router.view.id), "veth", mtu=network.mtu,
                 up=True, master=names.bridge_name(ext_net), peer=VethPeer(ns, inside))  # fmt: skip
    out.links |= {outer, Link(ns, inside, "veth", mtu=network.mtu,
                              mac=fip_leg_mac(host, router.view.id), up=True)}  # fmt: skip
    out.networks.add(ext_net)
    for ip, mac in served.peers:
        out.neighbours.add(NeighEntry(ns, inside, ip, mac))
    out.routes.add(Route(ns, cidr, None, inside, table=FIP_TABLE))
    if upstream:
        out.routes.add(Route(ns, "0.0.0.0/0", upstream, inside, table=FIP_TABLE))
    for i, fip in enumerate(fips):
        out.rules.add(
            PolicyRule(ns, FIP_RULE_PRIORITY + i, FIP_TABLE, f"{fip.fixed_ip_address}/32")
        )
    translated: tuple[Snat, ...] = ()
    if blocks:
        out.routes.add(Route(ns, cidr, None, inside, table=SNAT_TABLE))
        if upstream:
            out.routes.add(Route(ns, "0.0.0.0/0", upstream, inside, table=SNAT_TABLE))
        out.rules.add(PolicyRule(ns, SNAT_RULE_PRIORITY, SNAT_TABLE))
        floating = {f.fixed_ip_address for f in fips}
        scoped = [ipaddress.ip_network(c) for c in scoped_sources(view, router)]
        instances = {
            ip
            for ip in _local_instance_ips(host, view, router) - floating
            if not any(ipaddress.ip_address(ip) in n for n in scoped)
        }
        translated = snat.instance_snat(inside, sorted(instances), blocks)
    table = _floating_nat(ns, inside, fips, out, *translated)
    if blocks and router.view.gateway_qos:
        # the gateway's limits on what this host translates with its blocks
        shared = [
            limit
            for ip in sorted({x.external_ip for x in blocks})
            for limit in qos.address_limits(inside, ip, router.view.gateway_qos)
        ]
        table = dataclasses.replace(table, limits=tuple(sorted((*table.limits, *shared))))
    if served:
        out.rules.add(PolicyRule(ns, forwarding.RULE_PRIORITY, FIP_TABLE,
                                 fwmark=forwarding.REPLY_MARK))  # fmt: skip
        table = _forwardings(ns, inside, served, table, out)
        sent = bool(served.relay or served.steer)
        table = dataclasses.replace(table, reply_mark=forwarding.REPLY_MARK, relay=served.relay,
                                    relay_ifname=inside if sent else "",
                                    relay_mac=fip_leg_mac(host, router.view.id) if sent else "",
                                    steer=served.steer,
                                    steer_ifnames=tuple(sorted(i for i, _ in legs.values()))
                                    if served.steer else (),
                                    hairpin_sources=served.sources)  # fmt: skip
    out.nat.add(table)


def _forwardings(
    ns: str, inside: str, served: forwarding.Served, table: NatTable, out: RouterObjects
) -> NatTable:
    """Port forwardings translated in ``table``; the floating IPs this
    namespace answers for on its external leg ``inside`` (and announced)."""
    announce = list(table.announce)
    for ip in served.answered:
        out.addresses.add(Address(ns, inside, f"{ip}/32"))
        announce.append((inside, ip))
    return dataclasses.replace(table, port_dnat=served.dnat, announce=tuple(announce),
                               hairpin_ifname=inside if served.dnat else "")  # fmt: skip


def _local_instance_ips(host: str, view: ClusterView, router: _Router) -> set[str]:
    """IPv4 addresses of this host's instances on the router's subnets."""
    subnets = {f.subnet_id for p in router.dvr_interfaces for f in p.fixed_ips}
    return {
        f.ip_address
        for p in view.ports.values()
        if p.host == host and _is_instance(p)
        for f in p.fixed_ips
        if f.subnet_id in subnets and ":" not in f.ip_address
    }


def _floating_nat(
    ns: str, inside: str, fips: list[FloatingIpView], out: RouterObjects, *extra: Snat
) -> NatTable:
    """Each floating IP on the external leg ``inside``, translated both ways
    to its fixed IP (and announced); ``extra`` SNAT after them."""
    dnat, snat, announce, limits = [], [], [], []
    for fip in fips:
        assert fip.fixed_ip_address is not None
        out.addresses.add(Address(ns, inside, f"{fip.floating_ip_address}/32"))
        dnat.append(Dnat(fip.floating_ip_address, fip.fixed_ip_address))
        snat.append(Snat(inside, fip.floating_ip_address, f"{fip.fixed_ip_address}/32"))
        announce.append((inside, fip.floating_ip_address))
        limits += qos.fip_limits(inside, fip)
    return NatTable(ns, (*snat, *extra), tuple(dnat), tuple(announce), limits=tuple(sorted(limits)))


def _gateway_leg(
    host: str, ns: str, router: _Router, view: ClusterView, out: RouterObjects
) -> tuple[str, str | None] | None:
    """The gateway port's leg: (inside name, the router's external IPv4)."""
    gw = router.gateway
    if gw is None:
        return None
    inside = names.router_gw_name(gw.id)
    made = _leg(names.gateway_port_name(gw.id), ns, inside, gw, view, out)
    if made is None:
        return None
    _wire(host, gw, made, out)
    external = _external(view, router)
    if external is not None and external[1]:
        out.routes.add(Route(ns, "0.0.0.0/0", external[1], inside))
    ipv4 = next((ip.ip_address for ip in gw.fixed_ips if ":" not in ip.ip_address), None)
    return inside, ipv4


def _bound_legs(
    host: str,
    ns: str,
    ports: tuple[PortView, ...],
    skip: set[str],
    view: ClusterView,
    out: RouterObjects,
) -> dict[str, tuple[str, list[Address]]]:
    """Legs for router ports bound to this host (SNAT ports, a centralized
    router's interfaces), each wired and with its subnet's neighbours."""
    legs: dict[str, tuple[str, list[Address]]] = {}
    for port in ports:
        inside = names.router_if_name(port.id)
        made = _leg(names.router_port_name(port.id), ns, inside, port, view, out)
        if made is None:
            continue
        _wire(host, port, made, out)
        _neighbours(ns, inside, port, view, skip, out)
        legs[port.id] = (inside, made[2])
    return legs


def _snat(host: str, view: ClusterView, router: _Router, out: RouterObjects) -> None:
    ns = names.snat_netns(host, router.view.id)
    _namespace(ns, out)
    own = {p.id for p in router.interfaces}
    legs = _bound_legs(host, ns, router.snat_ports, own, view, out)
    _extra_routes(ns, router, legs, out)
    gateway = _gateway_leg(host, ns, router, view, out)
    active = _ha_extras(host, ns, router, router.snat_ports, out)
    rules: tuple[Snat, ...] = ()
    announce: tuple[tuple[str, str], ...] = ()
    forward: tuple[SnatForward, ...] = ()
    if gateway is not None and gateway[1]:
        if router.view.enable_snat:
            rules = (Snat(gateway[0], gateway[1]),)
        if router.view.enable_snat and router.view.distributed_snat:
            # hosts without a block yet: above every block
            rules = (Snat(gateway[0], gateway[1], ports=snat.FALLBACK_PORTS), *rules)
            forward = snat.gateway_forward(router.view, lambda h: fip_leg_mac(h, router.view.id))
        if active:
            announce = ((gateway[0], gateway[1]),)
    mac = router.gateway.mac if router.gateway is not None and forward else ""
    ifname = gateway[0] if gateway is not None and forward else ""
    limits: list[NatLimit] = []
    if gateway is not None and gateway[1]:
        limits = qos.address_limits(gateway[0], gateway[1], router.view.gateway_qos)
    out.nat.add(NatTable(ns, rules, announce=announce, forward=forward, forward_ifname=ifname,
                         forward_mac=mac, no_snat=scoped_sources(view, router),
                         limits=tuple(limits)))  # fmt: skip


def _legacy(host: str, view: ClusterView, router: _Router, out: RouterObjects) -> None:
    ns = names.router_netns(host, router.view.id)
    _namespace(ns, out)
    legs = _bound_legs(host, ns, router.interfaces, {p.id for p in router.interfaces}, view, out)
    _extra_routes(ns, router, legs, out)
    gateway = _gateway_leg(host, ns, router, view, out)
    active = _ha_extras(host, ns, router, router.interfaces, out)
    if gateway is None:
        out.nat.add(NatTable(ns))
        return
    inside, ext_ip = gateway
    extra = (Snat(inside, ext_ip),) if ext_ip and router.view.enable_snat else ()
    table = _floating_nat(ns, inside, _floating_ips(view, router.view.id), out, *extra)
    table = dataclasses.replace(table, no_snat=scoped_sources(view, router) if extra else ())
    served = forwarding.serve(host, view, router.view, lambda h: "", distributed=False)
    if served:
        table = _forwardings(ns, inside, served, table, out)
    if ext_ip and router.view.gateway_qos:
        limits = qos.address_limits(inside, ext_ip, router.view.gateway_qos)
        table = dataclasses.replace(table, limits=tuple(sorted((*table.limits, *limits))))
    if ext_ip and active:
        table = dataclasses.replace(table, announce=((inside, ext_ip), *table.announce))
    elif not active:
        table = dataclasses.replace(table, announce=())
    out.nat.add(table)
