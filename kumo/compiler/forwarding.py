"""Floating IP port forwarding on one host. Pure.

A floating IP with port forwardings (``FloatingIpView.port_forwardings``)
has no port of its own: each forwarding sends one protocol and external
port of it to one internal port's fixed IP and port, and the internal
ports may be on different hosts. Like a floating IP, each forwarding is
served on the host of its internal port: the distributed router's
namespace there translates it (``PortDnat``; connection tracking
translates the replies back) and sends the replies out through its own
external leg (they carry ``REPLY_MARK``, which a policy rule sends to the
floating IP table).

One address answers ARP on one host only: the floating IP's **answering
host** is the one the API chose (``FloatingIpView.forwarding_host``: a
host of its forwardings' internal ports with a live agent, another when
that agent dies, see ``kumo.network.port_forwarding.answerer``), else the
first by name of those hosts; every host computes the same one from the
same view. Its external
leg holds the address (and announces it); frames arriving there for a
forwarding served by another host leave the leg again at once, before
connection tracking, unchanged but for the MACs: towards the serving
host's external leg (``PortRelay``, the way a distributed-SNAT gateway
forwards return traffic, ``kumo.compiler.snat``). A frame from another
host's external leg (``fa:17:`` MACs) is never relayed again, so hosts
whose views differ for a moment cannot bounce it between them. The
replies leave the serving host directly: the upstream sees the floating
IP's packets come from several MACs, which routing does not mind.

Hairpin across hosts: an instance reaching a forwarding served by another
host is steered on its own host before routing and before connection
tracking: its frames, arriving on the router's internal legs, leave the
external leg at once towards the serving host's leg (``Served.steer``),
untranslated, whether that host answers for the address or not (on the
answering host the address is local, so routing would keep them). The
serving host translates what arrives on its leg from the router's own
networks (``Served.sources``) as it does its own instances' hairpin:
from the router's address, so the replies come back through its
namespace, which sends them, translated back, to the instance across the
internal network. The connection's state is on the serving host only;
the instance's host keeps none.

A centralized router (``distributed=false``) serves every forwarding of
its floating IPs in its one namespace, on its gateway host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kumo.compiler.model import INTERFACES, ClusterView, FloatingIpView, PortView, RouterView
from kumo.compiler.plan import PortDnat, PortRelay

REPLY_MARK = 0x6B50
"""The firewall mark of replies of translated connections in a router namespace."""
HAIRPIN_MARK = 0x6B51
"""The firewall mark of an instance's connection to a forwarded port of a
floating IP of its own router, translated in the namespace of the host
serving it: its source becomes the router's address on the way out."""
RULE_PRIORITY = 32900
"""After the main table (east-west first), before the floating IPs' rules."""
LEG_MAC_PREFIX = "fa:17:"
"""Every host's external leg MAC starts so (``routers.fip_leg_mac``)."""


@dataclass(frozen=True)
class Served:
    """What one host does for the port forwardings of one router."""

    dnat: tuple[PortDnat, ...] = ()
    relay: tuple[PortRelay, ...] = ()
    answered: tuple[str, ...] = ()
    """Floating IPs this host answers ARP for (their address on its leg)."""
    peers: tuple[tuple[str, str], ...] = ()
    """(floating IP, the answering host's leg MAC) of the floating IPs
    another host answers for: a permanent neighbour on this host's leg, so
    that its instances' other traffic to them (not to a forwarding, which
    is steered) goes straight to that leg (an ARP request from here would
    carry the router's internal address, which the answering namespace
    holds too and so ignores)."""
    steer: tuple[PortRelay, ...] = ()
    """Every forwarding served by another host (to that host's leg MAC):
    this host's instances' frames for them go straight to it."""
    sources: tuple[str, ...] = ()
    """The router's IPv4 subnets: connections from them arriving on the
    external leg (steered by another host) are hairpin connections."""

    def __bool__(self) -> bool:
        return bool(self.dnat or self.relay or self.answered or self.steer)


def _internal_port(view: ClusterView, networks: set[str], address: str) -> PortView | None:
    """The port holding ``address`` on one of the router's networks."""
    for network_id in sorted(networks):
        for port in view.ports_of(network_id):
            if any(f.ip_address == address for f in port.fixed_ips):
                return port
    return None


def forwarding_fips(view: ClusterView, router_id: str) -> list[FloatingIpView]:
    """The router's floating IPs with port forwardings, by address."""
    return sorted(
        (f for f in view.floatingips.values()
         if f.router_id == router_id and f.port_forwardings and not f.port_id),
        key=lambda f: f.floating_ip_address,
    )  # fmt: skip


def serve(
    host: str,
    view: ClusterView,
    router: RouterView,
    leg_mac: Callable[[str], str],
    *,
    distributed: bool = True,
) -> Served:
    """The port forwardings ``host`` serves, relays and answers for among
    the router's floating IPs (``leg_mac(host)``: a host's external leg).
    ``distributed=False``: the router's one namespace serves them all."""
    networks = {p.network_id for p in router.ports if p.port_type in INTERFACES}
    dnat: list[PortDnat] = []
    relay: list[PortRelay] = []
    steer: list[PortRelay] = []
    answered: list[str] = []
    peers: list[tuple[str, str]] = []
    for fip in forwarding_fips(view, router.id):
        placed = []
        for pf in fip.port_forwardings:
            port = _internal_port(view, networks, pf.internal_ip_address)
            if port is None or not port.host:
                continue
            placed.append((pf, port.host))
        if not placed:
            continue
        hosts = {h for _, h in placed}
        owner = fip.forwarding_host if fip.forwarding_host in hosts else min(hosts)
        if not distributed or owner == host:
            answered.append(fip.floating_ip_address)
        else:
            peers.append((fip.floating_ip_address, leg_mac(owner)))
        for pf, at in placed:
            ext_end = pf.external_port_end if pf.external_port_end != pf.external_port else 0
            int_end = pf.internal_port_end if pf.internal_port_end != pf.internal_port else 0
            if not distributed or at == host:
                dnat.append(PortDnat(pf.protocol, fip.floating_ip_address, pf.external_port,
                                     pf.internal_ip_address, pf.internal_port, ext_end,
                                     int_end))  # fmt: skip
                continue
            elsewhere = PortRelay(pf.protocol, fip.floating_ip_address, pf.external_port,
                                  leg_mac(at), ext_end)  # fmt: skip
            steer.append(elsewhere)
            if owner == host:
                relay.append(elsewhere)
    return Served(tuple(sorted(dnat)), tuple(sorted(relay)), tuple(answered), tuple(peers),
                  tuple(sorted(steer)), _sources(view, router) if dnat else ())  # fmt: skip


def _sources(view: ClusterView, router: RouterView) -> tuple[str, ...]:
    """The IPv4 subnets of the router's interfaces."""
    out = set()
    for rp in router.ports:
        port = view.ports.get(rp.port_id)
        if rp.port_type not in INTERFACES or port is None:
            continue
        for ip in port.fixed_ips:
            subnet = view.subnets.get(ip.subnet_id)
            if subnet is not None and subnet.ip_version == 4:
                out.add(subnet.cidr)
    return tuple(sorted(out))
