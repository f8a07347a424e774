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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kumo.compiler.model import INTERFACES, ClusterView, RouterView, SnatLeaseView
from kumo.compiler.plan import Snat, SnatForward

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


def demand(host: str, view: ClusterView) -> dict[str, tuple[int, tuple[SnatLeaseView, ...]]]:
    """Router id → (this host's instances on the router's networks, the
    blocks it holds) for every distributed-SNAT router the host runs
    instances of or holds blocks of: what its agent asks for (a block per
    instance) and returns (every block, once no instance is left)."""
    out: dict[str, tuple[int, tuple[SnatLeaseView, ...]]] = {}
    for rid, router in sorted(view.routers.items()):
        held = tuple(sorted(x for x in router.snat_leases if x.host == host))
        if not (router.distributed_snat and router.enable_snat and router.admin_state_up):
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
