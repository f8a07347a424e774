"""DHCPv4 leases of a host's instance ports. Pure.

A port gets a lease for its first IPv4 address on a subnet with
``enable_dhcp``; ports on subnets without DHCP keep the static path. The
options follow what cloud images expect from Neutron: mask, router (left
out when the subnet has no gateway), DNS servers (the subnet's
``dns_nameservers``, else this host's resolver on 169.254.169.254 where
the host serves the network, see ``kumo.dns``), domain (the network's
``dns_domain``, else the cloud's), host name (the port's
``dns_assignment``: its ``dns_name``, else ``host-<a-b-c-d>``), classless static routes (121 and 249, the default route
first, since clients ignore the router option when these are present),
interface MTU, lease time and the server identifier (the gateway, or the
subnet's first address when there is none). Where the host serves
metadata on the network, the classless routes carry 169.254.169.254/32
on-link (next hop 0.0.0.0), after the default route, so the instance asks
its own host's metadata namespace on its own segment. A port's ``extra_dhcp_opts``
(by name or number, IPv4 ones) override the computed options.

IPv6: router advertisements (``RouterAdvert``) and DHCPv6 replies
(``Dhcp6Lease``, options 23 and 24) name the same DNS servers: the IPv6
``dns_nameservers`` of the port's IPv6 subnets when they have some (the
subnet's servers win, as in Neutron), else this host's resolver on
fe80::a9fe:a9fe where the host serves the network (the metadata
namespace's link-local address, see ``metadata.py``); the advertisements
carry them as RDNSS and the domain as DNSSL (RFC 8106).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import is_

from kumo.compiler import ipnet, names
from kumo.compiler.metadata import METADATA_IP, METADATA_IP6, METADATA_ROUTE, serves_metadata
from kumo.compiler.model import INTERFACES, ClusterView, NetworkView, PortView, SubnetView
from kumo.compiler.plan import Dhcp6Lease, DhcpLease, RouterAdvert

OPTION_CODES = {
    "netmask": 1,
    "router": 3,
    "dns-server": 6,
    "domain-name-server": 6,
    "hostname": 12,
    "domain-name": 15,
    "mtu": 26,
    "interface-mtu": 26,
    "ntp-server": 42,
    "lease-time": 51,
    "server-identifier": 54,
    "tftp-server": 66,
    "bootfile-name": 67,
    "domain-search": 119,
    "classless-static-route": 121,
    "tftp-server-address": 150,
}
DEFAULT_DOMAIN = "openstacklocal"


def option_code(name: str) -> int | None:
    """An ``extra_dhcp_opts`` name or number as a DHCPv4 option code."""
    text = name.strip().lower().removeprefix("option:")
    if text.isdigit():
        code = int(text)
        return code if 0 < code < 255 else None
    return OPTION_CODES.get(text)


@functools.lru_cache(maxsize=4096)
def _network(cidr: str) -> tuple[ipaddress.IPv4Network, str]:
    """A subnet's network and first host address (parsed once per CIDR: a
    host compiles one lease per port of the same few subnets)."""
    net = ipaddress.IPv4Network(cidr, strict=False)
    return net, str(next(net.hosts(), net.network_address))


def lease_for(
    port: PortView,
    subnets: dict[str, SubnetView],
    mtu: int,
    lease_time: int = 86400,
    domain: str = "",
    metadata: bool = False,
) -> DhcpLease | None:
    """``domain``: the network's ``dns_domain`` ('' for the cloud's, as the
    port's ``dns_assignment`` names it)."""
    for fixed in port.fixed_ips:
        subnet = subnets.get(fixed.subnet_id)
        if subnet is None or subnet.ip_version != 4 or not subnet.enable_dhcp:
            continue
        try:
            ip = ipaddress.IPv4Address(fixed.ip_address)
            net, first_host = _network(subnet.cidr)
        except ValueError:
            continue
        gateway = subnet.gateway_ip if subnet.gateway_ip and ":" not in subnet.gateway_ip else None
        routes: list[tuple[str, str]] = []
        if gateway:
            routes.append(("0.0.0.0/0", gateway))
        if metadata:
            routes.append((METADATA_ROUTE, "0.0.0.0"))
        for hr in subnet.host_routes:
            try:
                dst = ipnet.ip_network(hr.destination)
                hop = ipnet.ip_address(hr.nexthop)
            except ValueError:
                continue
            if dst.version == 4 and hop.version == 4:
                routes = [r for r in routes if r[0] != str(dst)] + [(str(dst), str(hop))]
        extra = tuple(
            sorted(
                (code, value)
                for name, value, version in port.extra_dhcp_opts
                if version == 4 and (code := option_code(name)) is not None
            )
        )
        return DhcpLease(
            port_id=port.id,
            ifname=names.tap_name(port.id),
            mac=port.mac,
            ip=str(ip),
            prefixlen=net.prefixlen,
            server_id=gateway or first_host,
            router=gateway,
            dns=tuple(d for d in subnet.dns_nameservers if ":" not in d)
            or ((METADATA_IP,) if metadata else ()),
            domain=lease_domain(port, str(ip), domain),
            hostname=lease_hostname(port, str(ip)),
            routes=tuple(routes),
            mtu=mtu,
            lease_time=lease_time,
            extra=extra,
        )
    return None


def lease_hostname(port: PortView, ip: str) -> str:
    """The host name the port's ``dns_assignment`` gives ``ip``, else ``host-<a-b-c-d>``."""
    assigned = port.dns_for(ip)
    return assigned.hostname if assigned else "host-" + ip.replace(".", "-").replace(":", "-")


def lease_domain(port: PortView, ip: str, network_domain: str) -> str:
    """The network's ``dns_domain``, else the cloud's (from the port's
    ``dns_assignment``), else ``openstacklocal``; without the trailing dot."""
    assigned = port.dns_for(ip)
    domain = network_domain or (assigned.domain if assigned else "")
    return domain.rstrip(".") or DEFAULT_DOMAIN


def compile_leases(
    host: str, view: ClusterView, is_instance: Callable[[PortView], bool]
) -> frozenset[DhcpLease]:
    """The leases of the host's instance ports: each network's patched with
    the ports that changed since the last call (``_NetworkLeases``)."""
    parts: list[frozenset[DhcpLease]] = []
    for network_id, ports in view.local_ports_by_network(host).items():
        network = view.networks.get(network_id)
        if network is None:
            continue
        subnets = view.subnets_of(network_id)
        key = (host, network_id)
        known = _LEASE_STATES.get(key)
        if known is None or not known.fits(network, subnets, is_instance):
            if len(_LEASE_STATES) >= 1 << 12:
                _LEASE_STATES.clear()
            known = _LEASE_STATES[key] = _NetworkLeases(network, subnets, is_instance)
        parts.append(known.patched(ports))
    last = _HOST_LEASES.get(host)
    if last is not None and len(last[0]) == len(parts) and all(map(is_, last[0], parts)):
        return last[1]
    total = frozenset().union(*parts)
    _HOST_LEASES[host] = (parts, total)
    return total


def network_leases(
    network: NetworkView,
    subnets: tuple[SubnetView, ...],
    ports: tuple[PortView, ...],
    is_instance: Callable[[PortView], bool],
) -> frozenset[DhcpLease]:
    """A network's leases built whole."""
    known = _NetworkLeases(network, subnets, is_instance)
    return known.patched(ports)


@dataclass
class _NetworkLeases:
    """A network's leases on one host, with each port's: the next call with
    the same network and subnets makes the leases of the ports that changed
    only, and patches the set with them."""

    network: NetworkView
    subnets: tuple[SubnetView, ...]
    is_instance: Callable[[PortView], bool]
    of_port: dict[str, tuple[PortView, DhcpLease | None]] = field(default_factory=dict)
    leases: frozenset[DhcpLease] = frozenset()
    ports: tuple[PortView, ...] | None = None
    """The ports of the last call: the same tuple (a patched view hands on
    the unchanged networks' own) gives the same leases without a walk."""

    def __post_init__(self) -> None:
        self._by_id = {s.id: s for s in self.subnets}
        self._metadata = serves_metadata(self.network)

    def fits(
        self,
        network: NetworkView,
        subnets: tuple[SubnetView, ...],
        is_instance: Callable[[PortView], bool],
    ) -> bool:
        return (self.network, self.subnets) == (network, subnets) and (
            self.is_instance is is_instance
        )

    def _lease(self, port: PortView) -> DhcpLease | None:
        if not port.mac or not self.is_instance(port):
            return None
        network = self.network
        return lease_for(
            port,
            self._by_id,
            port.mtu or network.mtu,
            domain=network.dns_domain,
            metadata=self._metadata,
        )

    def patched(self, ports: tuple[PortView, ...]) -> frozenset[DhcpLease]:
        if ports is self.ports:
            return self.leases
        before = self.of_port
        now: dict[str, tuple[PortView, DhcpLease | None]] = {}
        gone: list[DhcpLease] = []
        new: list[DhcpLease] = []
        for port in ports:
            had = before.get(port.id)
            if had is not None and had[0] is port:
                now[port.id] = had
                continue
            lease = self._lease(port)
            old = had[1] if had is not None else None
            if old is not None and old == lease:
                lease = old  # the same lease: the set keeps it
            elif old is not None:
                gone.append(old)
            if lease is not None and lease is not old:
                new.append(lease)
            now[port.id] = (port, lease)
        for port_id in before.keys() - now.keys():
            old = before[port_id][1]
            if old is not None:
                gone.append(old)
        self.of_port = now
        self.ports = ports
        if not before:
            self.leases = frozenset(new)
        elif gone or new:
            # Each lease names its port: no two ports give the same one.
            self.leases = self.leases.difference(gone).union(new)
        return self.leases


_LEASE_STATES: dict[tuple[str, str], _NetworkLeases] = {}
"""Per (host, network)."""

_HOST_LEASES: dict[str, tuple[list[frozenset[DhcpLease]], frozenset[DhcpLease]]] = {}
"""Per host, the networks' leases last united, and their union."""


NO_ROUTER_MAC = "fa:16:3e:ff:ff:fe"
"""Source MAC of kumo's own answers and advertisements when no router is there."""


def router_interfaces(view: ClusterView) -> set[str]:
    """Ids of every router interface, as the routers list them."""
    return {p for r in view.routers.values() for p in r.port_ids(*INTERFACES)}


def advert_for(port: PortView, view: ClusterView, mtu: int) -> RouterAdvert | None:
    """Router advertisements for a port with addresses on IPv6 subnets whose
    mode says hosts listen to them (slaac, dhcpv6-stateless, dhcpv6-stateful)."""
    prefixes: list[tuple[str, bool]] = []
    managed = other = False
    router_mac: str | None = None
    interfaces: set[str] | None = None
    for fixed in port.fixed_ips:
        subnet = view.subnets.get(fixed.subnet_id)
        if subnet is None or subnet.ipv6_mode is None:
            continue
        mode = subnet.ipv6_mode
        prefixes.append((str(ipnet.ip_network(subnet.cidr)), mode != "dhcpv6-stateful"))
        managed |= mode == "dhcpv6-stateful"
        other |= mode in ("dhcpv6-stateful", "dhcpv6-stateless")
        if router_mac is None and subnet.ipv6_ra_mode is not None:
            if interfaces is None:
                interfaces = router_interfaces(view)
            router_mac = next(
                (
                    p.mac
                    for p in view.ports_of(port.network_id)
                    if p.id in interfaces and any(f.subnet_id == subnet.id for f in p.fixed_ips)
                ),
                None,
            )
    if not prefixes:
        return None
    network = view.networks.get(port.network_id)
    return RouterAdvert(
        port_id=port.id,
        ifname=names.tap_name(port.id),
        src_mac=router_mac or NO_ROUTER_MAC,
        prefixes=tuple(sorted(set(prefixes))),
        managed=managed,
        other=other,
        router_lifetime=1800 if router_mac else 0,
        mtu=mtu,
        rdnss=dns_servers6(port, view, network),
        dnssl=_search(port, network),
    )


def dns_servers6(port: PortView, view: ClusterView, network: NetworkView | None) -> tuple[str, ...]:
    """The IPv6 DNS servers a port is told of (RDNSS, DHCPv6 option 23): the
    ``dns_nameservers`` (IPv6 ones) of its IPv6 subnets, in order, when any
    has some; else this host's resolver on fe80::a9fe:a9fe where the host
    serves the network; else none."""
    out: list[str] = []
    for fixed in port.fixed_ips:
        subnet = view.subnets.get(fixed.subnet_id)
        if subnet is None or subnet.ip_version != 6:
            continue
        out += [d for d in subnet.dns_nameservers if ":" in d and d not in out]
    if out:
        return tuple(out)
    return (METADATA_IP6,) if network is not None and serves_metadata(network) else ()


def _search(port: PortView, network: NetworkView | None) -> tuple[str, ...]:
    """The domain search list (DNSSL): the domain the port's names lie in."""
    ip = next((f.ip_address for f in port.fixed_ips if ":" in f.ip_address), "")
    return (lease_domain(port, ip, network.dns_domain if network else ""),)


def compile_adverts(host: str, view: ClusterView, is_instance: object) -> frozenset[RouterAdvert]:
    out: set[RouterAdvert] = set()
    for port in _on_ipv6_modes(host, view):
        if not port.mac or not is_instance(port):  # type: ignore[operator]
            continue
        network = view.networks.get(port.network_id)
        if network is None:
            continue
        advert = advert_for(port, view, port.mtu or network.mtu)
        if advert is not None:
            out.add(advert)
    return frozenset(out)


def _on_ipv6_modes(host: str, view: ClusterView) -> list[PortView]:
    """The ports bound to ``host`` with an address on a subnet with an IPv6
    mode: the only ones advertisements and DHCPv6 are for (most hosts have
    none, and then no port is looked at)."""
    modes = {s.id for s in view.subnets.values() if s.ipv6_mode is not None}
    if not modes:
        return []
    return [p for p in view.ports_on(host) if any(f.subnet_id in modes for f in p.fixed_ips)]


def dhcp6_for(port: PortView, view: ClusterView) -> Dhcp6Lease | None:
    """A DHCPv6 lease for a port on a dhcpv6-stateful or -stateless subnet."""
    network = view.networks.get(port.network_id)
    for fixed in port.fixed_ips:
        subnet = view.subnets.get(fixed.subnet_id)
        if subnet is None or subnet.ipv6_mode not in ("dhcpv6-stateful", "dhcpv6-stateless"):
            continue
        return Dhcp6Lease(
            port_id=port.id,
            ifname=names.tap_name(port.id),
            mac=port.mac,
            ip=fixed.ip_address if subnet.ipv6_mode == "dhcpv6-stateful" else None,
            server_mac=NO_ROUTER_MAC,
            dns=dns_servers6(port, view, network),
            domain=lease_domain(port, fixed.ip_address, network.dns_domain if network else ""),
        )
    return None


def compile_dhcp6(host: str, view: ClusterView, is_instance: object) -> frozenset[Dhcp6Lease]:
    out: set[Dhcp6Lease] = set()
    for port in _on_ipv6_modes(host, view):
        if not port.mac or not is_instance(port):  # type: ignore[operator]
            continue
        lease = dhcp6_for(port, view)
        if lease is not None:
            out.add(lease)
    return frozenset(out)
