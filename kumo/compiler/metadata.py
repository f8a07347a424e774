"""The metadata service's plumbing on one host. Pure.

For every network with a local instance port that has an address, a
namespace ``km-<host tag>-<network>`` with one leg in the
network's bridge (``km`` + network id outside, ``eth0`` inside, a MAC
derived from host and network so it survives a rebuild), 169.254.169.254/32
and fe80::a9fe:a9fe/64 on it and an on-link route per subnet of the
network. The same two addresses answer DNS (``dns.py``). IPv6 instances
reach fe80::a9fe:a9fe on their own link (link-local: it is never routed, so
it needs no route and no address of the tenant's subnets, works on
IPv6-only subnets without a router, and is answered by the instance's own
host like 169.254.169.254). They ask from their link-local address (the
one their MAC makes, which the port's anti-spoofing admits), so each
port's clients include it beside its fixed IPs. IPv4 instances reach
it on their own segment (the DHCP lease carries an on-link route to
169.254.169.254/32; statically configured ones get the same route), so the
address is answered on every host by that host and ARP for it never needs
the tunnel: the VXLAN devices have no flood entries and their proxy only
answers for remote ports.

On flat and VLAN networks the segment is shared with other hosts through
the physical interface, where every host's namespace would answer: there
the leg and the uplink (see ``compile.py``) are both isolated bridge ports,
which the bridge never lets talk to each other, so the leg reaches the
host's own instance ports only.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Callable
from dataclasses import dataclass, field

from kumo.compiler import ipnet, names
from kumo.compiler.firewall import link_local
from kumo.compiler.memo import LastAnswer
from kumo.compiler.model import ClusterView, NetworkView, PortView, SubnetView
from kumo.compiler.plan import (
    HOST_NS,
    Address,
    Link,
    MetadataClient,
    MetadataEndpoint,
    Netns,
    Route,
    VethPeer,
)

METADATA_IP = "169.254.169.254"
METADATA_ROUTE = f"{METADATA_IP}/32"
METADATA_IP6 = "fe80::a9fe:a9fe"
"""OpenStack's IPv6 metadata address; kumo's resolver answers there too."""
METADATA_ADDRESS6 = f"{METADATA_IP6}/64"
METADATA_IFNAME = "eth0"
"""The leg's name inside a metadata namespace."""


@dataclass
class MetadataObjects:
    """What the metadata stage adds to a host plan (merged by compile_host)."""

    netns: set[Netns] = field(default_factory=set)
    links: set[Link] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    routes: set[Route] = field(default_factory=set)
    endpoints: set[MetadataEndpoint] = field(default_factory=set)


def serves_metadata(network: NetworkView) -> bool:
    """Whether a host answers 169.254.169.254 and fe80::a9fe:a9fe on this
    network's segment."""
    return network.network_type in ("vxlan", "local", "flat", "vlan")


def metadata_mac(host: str, network_id: str) -> str:
    """The inside leg's MAC: locally administered, unique per (host, network)."""
    digest = hashlib.sha256(f"metadata/{host}/{network_id}".encode()).digest()
    return "fa:18:" + ":".join(f"{b:02x}" for b in digest[:4])


def client_addresses(port: PortView, subnets: frozenset[str]) -> list[MetadataClient]:
    """The port's addresses on ``subnets`` (its network's), and its IPv6
    link-local address when it has an IPv6 one (the source it asks
    fe80::a9fe:a9fe from)."""
    out: list[MetadataClient] = []
    ipv6 = False
    for fixed in port.fixed_ips:
        if fixed.subnet_id not in subnets:
            continue
        ipv6 |= ":" in fixed.ip_address
        out.append(MetadataClient(fixed.ip_address, port.id, port.device_id, port.device_owner))
    if ipv6:
        own = link_local(port.mac).split("/")[0]
        out.append(MetadataClient(own, port.id, port.device_id, port.device_owner))
    return out


def compile_metadata(
    host: str, view: ClusterView, is_instance: Callable[[PortView], bool]
) -> MetadataObjects:
    out = MetadataObjects()
    local = view.local_ports_by_network(host)
    for network_id in sorted(local):
        network = view.networks.get(network_id)
        if network is None or not serves_metadata(network):
            continue
        subnets = view.subnets_of(network_id)
        ports = local[network_id]
        part = _PARTS.get(
            (host, network_id), _network_metadata, host, network, subnets, ports, is_instance
        )
        if part is not None:
            out.netns.add(part.netns)
            out.links |= part.links
            out.addresses |= part.addresses
            out.routes |= part.routes
            out.endpoints.add(part.endpoint)
    return out


_PARTS: LastAnswer[_NetworkMetadata | None] = LastAnswer()
"""Per (host, network): a change elsewhere leaves a network's part be."""


def _client_order(client: MetadataClient) -> tuple[str, str, str, str]:
    """The dataclass's own order (its fields in turn), as a sort key."""
    return (client.ip, client.port_id, client.device_id, client.device_owner)


@dataclass
class _Clients:
    """A network's metadata clients on one host, sorted, with each port's
    (the next call with the same subnets re-sorts only the changed ports')."""

    subnets: tuple[SubnetView, ...]
    is_instance: Callable[[PortView], bool]
    of_port: dict[str, tuple[PortView, list[MetadataClient]]] = field(default_factory=dict)
    ordered: list[MetadataClient] = field(default_factory=list)
    made: tuple[MetadataClient, ...] | None = None

    def add(self, clients: list[MetadataClient]) -> None:
        for client in clients:
            insort(self.ordered, client, key=_client_order)
        self.made = None

    def remove(self, clients: list[MetadataClient]) -> None:
        for client in clients:
            at = bisect_left(self.ordered, _client_order(client), key=_client_order)
            del self.ordered[at]
        self.made = None


_NETWORK_CLIENTS: dict[tuple[str, str], _Clients] = {}
"""Per (host, network)."""


def _network_clients(
    host: str,
    network_id: str,
    subnets: tuple[SubnetView, ...],
    ports: tuple[PortView, ...],
    is_instance: Callable[[PortView], bool],
) -> tuple[MetadataClient, ...]:
    """The clients of a network's instance ports, sorted."""
    key = (host, network_id)
    known = _NETWORK_CLIENTS.get(key)
    if known is None or known.subnets != subnets or known.is_instance is not is_instance:
        if len(_NETWORK_CLIENTS) >= 1 << 12:
            _NETWORK_CLIENTS.clear()
        known = _NETWORK_CLIENTS[key] = _Clients(subnets, is_instance)
    ids = frozenset(s.id for s in subnets)
    before = known.of_port
    now: dict[str, tuple[PortView, list[MetadataClient]]] = {}
    for port in ports:
        had = before.get(port.id)
        if had is not None and had[0] is port:
            now[port.id] = had
            continue
        made = client_addresses(port, ids) if port.mac and is_instance(port) else []
        now[port.id] = (port, made)
        if had is not None:
            known.remove(had[1])
        known.add(made)
    for port_id in before.keys() - now.keys():
        known.remove(before[port_id][1])
    known.of_port = now
    if known.made is None:
        known.made = tuple(known.ordered)
    return known.made


@dataclass(frozen=True)
class _NetworkMetadata:
    netns: Netns
    links: frozenset[Link]
    addresses: frozenset[Address]
    routes: frozenset[Route]
    endpoint: MetadataEndpoint


def _network_metadata(
    host: str,
    network: NetworkView,
    subnets: tuple[SubnetView, ...],
    ports: tuple[PortView, ...],
    is_instance: Callable[[PortView], bool],
) -> _NetworkMetadata | None:
    """One network's metadata namespace, its legs and the clients it answers
    (the instance ports among ``ports``)."""
    clients = _network_clients(host, network.id, subnets, ports, is_instance)
    if not clients:
        return None
    network_id = network.id
    ns = names.metadata_netns(host, network_id)
    return _NetworkMetadata(
        netns=Netns(ns),
        links=frozenset(
            {
                Link(ns, "lo", "device", up=True),
                Link(
                    HOST_NS,
                    names.metadata_port_name(network_id),
                    "veth",
                    mtu=network.mtu,
                    up=True,
                    master=names.bridge_name(network_id),
                    isolated=True if network.network_type in ("flat", "vlan") else None,
                    peer=VethPeer(ns, METADATA_IFNAME),
                ),
                Link(
                    ns,
                    METADATA_IFNAME,
                    "veth",
                    mtu=network.mtu,
                    mac=metadata_mac(host, network_id),
                    up=True,
                ),
            }
        ),
        addresses=frozenset(
            {
                Address(ns, METADATA_IFNAME, METADATA_ROUTE),
                Address(ns, METADATA_IFNAME, METADATA_ADDRESS6),
            }
        ),
        routes=frozenset(
            Route(ns, str(ipnet.ip_network(s.cidr)), None, METADATA_IFNAME) for s in subnets
        ),
        endpoint=MetadataEndpoint(ns, network_id, clients),
    )
