"""Highly available routers on one host: where their gateway is, and the gate.

Pure. A highly available router (``ha`` true, with ``gateway_hosts``) has
the same gateway namespace on every one of its gateway hosts: same legs,
same MACs, same addresses. Which host is active is not in the API's
objects but in the host's liveness view (``kumo.ha.liveness``), handed to
the compiler as ``active``: router id → active host, or None while no
host is.

``locate`` rewrites the binding of the router's centrally placed ports
(gateway, SNAT, a centralized router's interfaces) to the active host
before any other stage runs, so every later stage follows the active
gateway without a special case: the other hosts' VXLAN FDB entries for
those MACs point at the active host's tunnel, a standby's own bridge sends
them into the tunnel as well, and only the active host wires the ports.

``compile_gate`` lists the host ends of the legs of every highly available
router namespace on this host and whether each is open (see ``HaGate``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from kumo.compiler import names
from kumo.compiler.model import GATEWAY, INTERFACE, SNAT, ClusterView, PortView, RouterView
from kumo.compiler.plan import HOST_NS, GateLeg, HaGate, Link

CENTRAL = (GATEWAY, SNAT, INTERFACE)
"""The router ports placed on its gateway host (a centralized router's
interfaces among them)."""

Active = Mapping[str, str | None]
"""Router id → the host that is its active gateway (None: no host is)."""


def ha_routers(view: ClusterView) -> dict[str, RouterView]:
    """Routers whose gateway is highly available, by id."""
    return {rid: r for rid, r in view.routers.items() if r.ha and r.gateway_hosts}


def locate(view: ClusterView, active: Active | None) -> ClusterView:
    """``view`` with each highly available router's central ports bound to
    its active host. Routers missing from ``active`` keep the API's
    binding (the host the control plane last heard was active)."""
    if not active:
        return view
    moved: dict[str, PortView] = {}
    for rid, router in ha_routers(view).items():
        if rid not in active:
            continue
        host = active[rid] or ""
        for pid in router.port_ids(*CENTRAL):
            port = view.ports.get(pid)
            if port is not None and port.host != host:
                moved[pid] = dataclasses.replace(port, host=host)
    if not moved:
        return view
    ports = dict(view.ports)
    ports.update(moved)
    return dataclasses.replace(view, ports=MappingProxyType(dict(sorted(ports.items()))))


def gated_legs(view: ClusterView, router_id: str) -> list[str]:
    """Host ends of the legs of a highly available router's gateway
    namespace (the names the router stage gives them)."""
    router = view.routers.get(router_id)
    if router is None:
        return []
    legs = [names.gateway_port_name(p) for p in router.port_ids(GATEWAY) if p in view.ports]
    legs += [
        names.router_port_name(p)
        for p in router.port_ids(SNAT if router.distributed else INTERFACE)
        if p in view.ports
    ]
    return sorted(legs)


def compile_gate(
    host: str,
    view: ClusterView,
    links: Iterable[Link],
    *,
    beat_device: str | None,
    beat_port: int,
    lease_ms: int,
) -> HaGate:
    """The gate of this host's highly available router namespaces. ``view``
    is already ``locate``d; ``links`` are the plan's links (only legs the
    plan creates are gated)."""
    present: set[str] | None = None
    legs: list[GateLeg] = []
    for rid, router in sorted(ha_routers(view).items()):
        if host not in router.gateway_hosts or not router.admin_state_up:
            continue
        if present is None:  # only on gateway hosts (the host's links are many)
            present = {link.name for link in links if link.netns == HOST_NS}
        is_active = _active_host(view, rid) == host
        legs.extend(GateLeg(rid, leg, is_active) for leg in gated_legs(view, rid) if leg in present)
    if not legs:
        return HaGate()
    return HaGate(
        legs=tuple(sorted(legs)), beat_device=beat_device, beat_port=beat_port, lease_ms=lease_ms
    )


def _active_host(view: ClusterView, router_id: str) -> str:
    """The host the (located) gateway port of a router is bound to."""
    router = view.routers.get(router_id)
    for pid in router.port_ids(GATEWAY) if router is not None else ():
        port = view.ports.get(pid)
        if port is not None:
            return port.host
    return ""
