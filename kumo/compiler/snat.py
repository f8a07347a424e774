"""Distributed SNAT on one host: its instances' translation and the
gateway's stateless forwarding. Pure.

A router with ``distributed_snat`` leases blocks of its external address
to the hosts of its instances (``RouterView.snat_leases``). On a host
holding blocks, the router's DVR namespace sends what leaves without a
floating IP through its own external leg and translates it there
(``instance_snat``): each local instance gets a share of the host's blocks
(instance ``i`` of ``n``, by address: blocks ``i``, ``i + n``, ...; with
fewer blocks than instances, block ``i mod blocks``), so one instance
cannot take every port; several blocks of one instance are picked at
random per new connection. TCP, UDP and ICMP echo are translated (their
ports and identifiers); other protocols are not.

The router's gateway namespace (on its gateway host) keeps the external
address and answers ARP for it. Return traffic to a leased port leaves it
again at once, before any connection tracking (``gateway_forward``): only
the MACs change, the destination becoming the owning host's external leg
(``fip_leg_mac``), so any gateway can carry any flow and none keeps state.
A host without a block yet is translated there, centrally, to ports
outside every block (``FALLBACK_PORTS``).

Every gateway host of the router (``gateway_hosts``: the API binds a
distributed-SNAT router to every live gateway agent), the one carrying
its gateway port included, also forwards the leased blocks' return
traffic where it enters the host, on the uplink of the external network
(``compile_gateway``): whichever gateway the upstream's frames reach
sends them on, so losing one loses no connection and needs no takeover
but the fabric's own (a cut link's MAC entries are flushed, frames for
the gateway MAC are flooded to the other gateways, and the first frame a
survivor forwards, from the gateway MAC, teaches the fabric where it is).
ICMP errors quoting a translated packet (port unreachable, fragmentation
needed, time exceeded) are forwarded by the port or echo identifier they
quote, so they reach the host whose connection state relates them to the
instance. A frame already forwarded (its source is a gateway MAC) is
never forwarded again, so hosts whose views of the leases differ for a
moment cannot bounce a frame between them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kumo.compiler import names
from kumo.compiler.model import GATEWAY, INTERFACES, ClusterView, RouterView, SnatLeaseView
from kumo.compiler.plan import Snat, SnatForward, SnatGateway, UplinkForward

FALLBACK_PORTS = (61440, 65535)
"""The gateway's own translation for hosts without a block; leases are
handed out below (``Settings.snat_port_range`` ends at 61439)."""


def host_blocks(router: RouterView, host: str) -> list[SnatLeaseView]:
    """The blocks of the router leased to ``host``, sorted."""
    if not (router.distributed_snat and router.enable_snat):
        return []
    return sorted(lease for lease in router.snat_leases if lease.host == host)


def shares(
    instances: Sequence[str], blocks: Sequence[SnatLeaseView]
) -> dict[str, list[SnatLeaseView]]:
    """Each instance address's blocks (see the module's docstring)."""
    if not blocks or not instances:
        return {}
    ordered = sorted(instances)
    out: dict[str, list[SnatLeaseView]] = {ip: [] for ip in ordered}
    if len(blocks) >= len(ordered):
        for j, block in enumerate(blocks):
            out[ordered[j % len(ordered)]].append(block)
    else:
        for i, ip in enumerate(ordered):
            out[ip].append(blocks[i % len(blocks)])
    return out


def instance_snat(
    out_ifname: str, instances: Sequence[str], blocks: Sequence[SnatLeaseView]
) -> tuple[Snat, ...]:
    """Rules translating each instance address to its blocks: with ``k``
    blocks, the first rule takes 1 in ``k`` new connections, the next 1 in
    ``k - 1`` of the rest, ..., the last every one left (uniform)."""
    rules: list[Snat] = []
    for ip, mine in shares(instances, blocks).items():
        for i, block in enumerate(mine):
            rules.append(
                Snat(out_ifname, block.external_ip, f"{ip}/32",
                     (block.port_min, block.port_max), pick=len(mine) - i)
            )  # fmt: skip
    return tuple(rules)


def gateway_forward(router: RouterView, mac_of: Callable[[str], str]) -> tuple[SnatForward, ...]:
    """Every leased block of the router, towards its host's external leg
    (``mac_of(host)``)."""
    if not (router.distributed_snat and router.enable_snat):
        return ()
    return tuple(
        sorted(
            SnatForward(x.external_ip, x.port_min, x.port_max, mac_of(x.host))
            for x in router.snat_leases
        )
    )


def gateway_uplink(
    host: str, view: ClusterView, router: RouterView, vlan_devices: bool
) -> str | None:
    """The device the router's external network enters ``host`` by: the
    mapped interface of a flat network, the 802.1Q device of a VLAN one
    (None on a host carrying VLANs with tc programs, or without a mapping)."""
    me = view.hosts.get(host)
    network = view.networks.get(router.gateway_network_id or "")
    if me is None or network is None:
        return None
    ifname = me.interface_for(network.physical_network)
    if ifname is None or network.network_type not in ("flat", "vlan"):
        return None
    if network.network_type == "flat":
        return ifname
    return names.vlan_name(network.id) if vlan_devices else None


def compile_gateway(
    host: str, view: ClusterView, mac_of: Callable[[str, str], str], *, vlan_devices: bool = True
) -> tuple[SnatGateway, frozenset[str]]:
    """The uplink forwarding of every distributed-SNAT router ``host`` is a
    gateway host of (``mac_of(host, router id)``: a host's external leg),
    and the external networks it needs on the host (their uplinks)."""
    out: list[UplinkForward] = []
    networks: set[str] = set()
    for rid, router in sorted(view.routers.items()):
        if not (router.distributed_snat and router.enable_snat and router.admin_state_up):
            continue
        gateway = next((view.ports[p] for p in router.port_ids(GATEWAY) if p in view.ports), None)
        if gateway is None or not gateway.mac:
            continue
        if host not in router.gateway_hosts and gateway.host != host:
            continue
        device = gateway_uplink(host, view, router, vlan_devices)
        if device is None:
            continue
        networks.add(router.gateway_network_id or "")
        out += [
            UplinkForward(device, x.external_ip, x.port_min, x.port_max, mac_of(x.host, rid),
                          gateway.mac, local=x.host == host)
            for x in router.snat_leases
        ]  # fmt: skip
    return SnatGateway(tuple(sorted(out))), frozenset(networks)


def demand(host: str, view: ClusterView) -> dict[str, tuple[int, tuple[SnatLeaseView, ...]]]:
    """Router id → (this host's instances on the router's networks, the
    blocks it holds) for every distributed-SNAT router the host runs
    instances of or holds blocks of: what its agent asks for (a block per
    instance) and returns (every block, once no instance is left)."""
    out: dict[str, tuple[int, tuple[SnatLeaseView, ...]]] = {}
    for rid, router in sorted(view.routers.items()):
        held = tuple(sorted(x for x in router.snat_leases if x.host == host))
        if not (router.distributed_snat and router.translates and router.admin_state_up):
            if held:
                out[rid] = (0, held)
            continue
        networks = {p.network_id for p in router.ports if p.port_type in INTERFACES}
        instances = sum(
            1
            for p in view.ports.values()
            if p.host == host and p.network_id in networks and p.device_owner.startswith("compute:")
        )
        if instances or held:
            out[rid] = (instances, held)
    return out
