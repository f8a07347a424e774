"""Neutron JSON shapes (the admin view) of routers and floating IPs.

``render_routers`` and ``render_floatingips`` read what the views need in
bulk (gateway ports and their addresses, associated ports, tags: one query
each), for the API, the outbox and watch snapshots alike. The watch feed's
router bodies (``render_watch_routers``) add two keys the API never shows:
``kumo_gateway_hosts``, the hosts of the router's gateway agents in
priority order, and ``kumo_ports``, the router's ports as its
``RouterPort`` rows say (the only record agents may take a router's
membership from).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.agent_models import Agent
from kumo.db.l3_models import FloatingIP, Router, RouterAgentBinding, RouterPort
from kumo.db.network_models import Network, Port
from kumo.db.port_forwarding_models import PortForwarding
from kumo.network import availability_zones
from kumo.network import tags as taglib
from kumo.network.snat import views as snat_views
from kumo.network.views import ts

GATEWAY_QOS = "kumo_gateway_qos_rules"
"""The watch-only router key with its gateway policy's rules (``qos-gateway-ip``)."""
GATEWAY_HOSTS = "kumo_gateway_hosts"
"""The watch-only router key naming its gateway hosts (agents rely on this name)."""
ROUTER_PORTS = "kumo_ports"
"""The watch-only router key listing its ports: ``[{"port_id", "port_type",
"network_id"}]`` sorted by port id (agents rely on this name)."""
INTERFACE_TYPES = frozenset({"network:router_interface", "network:router_interface_distributed"})
"""Port types of a router's interfaces: the networks it routes."""
ROUTER_PORT_TYPES = INTERFACE_TYPES | {"network:router_gateway", "network:router_centralized_snat"}
"""Every type of port a router has (its ``RouterPort.port_type`` and the
``device_owner`` it gives the port)."""


def _std(obj: Router | FloatingIP, tags: list[str]) -> dict[str, Any]:
    return {
        "description": obj.description,
        "tags": tags,
        "created_at": ts(obj.created_at),
        "updated_at": ts(obj.updated_at),
        "revision_number": obj.revision_number,
    }


def gateway_info(router: Router, gw_port: Port | None) -> dict[str, Any] | None:
    if gw_port is None:
        return None
    return {
        "network_id": gw_port.network_id,
        "enable_snat": router.enable_snat,
        "external_fixed_ips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in gw_port.fixed_ips
        ],
        "qos_policy_id": router.gw_qos_policy_id,
    }


def router_view(
    router: Router,
    gw_port: Port | None,
    tags: list[str],
    leases: list[dict[str, Any]] | None = None,
    zones: list[str] | None = None,
) -> dict[str, Any]:
    """``leases``: the router's port-block leases (``kumo.network.snat``),
    shown to admins only, like its mode; ``zones``: its agents' zones."""
    return {
        "id": router.id,
        "name": router.name,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "external_gateway_info": gateway_info(router, gw_port),
        "routes": [dict(r) for r in router.routes or []],
        "distributed": router.distributed,
        "ha": router.ha,
        snat_views.MODE: bool(router.distributed_snat),
        snat_views.LEASES: list(leases or []),
        "availability_zone_hints": list(router.availability_zone_hints or []),
        "availability_zones": list(zones or []),
        "flavor_id": router.flavor_id,
        **_std(router, tags),
    }


def port_details(port: Port | None) -> dict[str, Any] | None:
    if port is None:
        return None
    return {
        "name": port.name,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
    }


def floatingip_view(
    fip: FloatingIP,
    port: Port | None,
    tags: list[str],
    forwardings: list[dict[str, Any]] | None = None,
    network_policy: str | None = None,
) -> dict[str, Any]:
    return {
        "id": fip.id,
        "tenant_id": fip.project_id,
        "project_id": fip.project_id,
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "router_id": fip.router_id,
        "port_id": fip.fixed_port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status,
        "port_details": port_details(port),
        "port_forwardings": forwardings or [],
        "dns_domain": fip.dns_domain or "",
        "dns_name": fip.dns_name or "",
        "qos_policy_id": fip.qos_policy_id,
        "qos_network_policy_id": network_policy,
        **_std(fip, tags),
    }


def _ports(session: Session, ids: set[str]) -> dict[str, Port]:
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(select(Port).where(Port.id.in_(ids)))}


def render_routers(session: Session, routers: list[Router]) -> list[dict[str, Any]]:
    gw = _ports(session, {r.gw_port_id for r in routers if r.gw_port_id})
    ids = [r.id for r in routers]
    tags = taglib.tags_for(session, ids)
    leases = snat_views.leases_by_router(session, ids)
    zones = availability_zones.router_zones(session, ids)
    return [
        router_view(
            r, gw.get(r.gw_port_id or ""), tags.get(r.id, []), leases.get(r.id), zones.get(r.id)
        )
        for r in routers
    ]


def gateway_hosts(session: Session, router_ids: list[str]) -> dict[str, list[str]]:
    """Each router's gateway hosts (its bound agents' hosts), in priority order."""
    if not router_ids:
        return {}
    b = RouterAgentBinding
    q = (
        select(b.router_id, Agent.host)
        .join(Agent, Agent.id == b.agent_id)
        .where(b.router_id.in_(router_ids))
        .order_by(b.router_id, b.priority, b.agent_id)
    )
    out: dict[str, list[str]] = {}
    for router_id, host in session.execute(q):
        out.setdefault(router_id, []).append(host)
    return out


def router_ports(session: Session, router_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    """Each router's ports from its ``RouterPort`` rows, sorted by port id."""
    if not router_ids:
        return {}
    q = (
        select(RouterPort.router_id, RouterPort.port_id, RouterPort.port_type, Port.network_id)
        .join(Port, Port.id == RouterPort.port_id)
        .where(RouterPort.router_id.in_(router_ids))
        .order_by(RouterPort.router_id, RouterPort.port_id)
    )
    out: dict[str, list[dict[str, str]]] = {}
    for router_id, port_id, port_type, network_id in session.execute(q):
        member = {"port_id": port_id, "port_type": port_type, "network_id": network_id}
        out.setdefault(router_id, []).append(member)
    return out


def routed_networks(body: dict[str, Any]) -> list[str]:
    """The networks a watch router body has interfaces on, in port order."""
    nets = (m["network_id"] for m in body[ROUTER_PORTS] if m["port_type"] in INTERFACE_TYPES)
    return list(dict.fromkeys(nets))


def render_watch_routers(session: Session, routers: list[Router]) -> list[dict[str, Any]]:
    """Router bodies of the watch feed: the admin view plus ``kumo_gateway_hosts``,
    ``kumo_ports`` and, when its gateway has a QoS policy, the policy's rules
    (``kumo_gateway_qos_rules``)."""
    from kumo.network.qos import rules

    ids = [r.id for r in routers]
    hosts = gateway_hosts(session, ids)
    members = router_ports(session, ids)
    policies = sorted({r.gw_qos_policy_id for r in routers if r.gw_qos_policy_id})
    found = rules.rules_of(session, policies)
    out = []
    for r, view in zip(routers, render_routers(session, routers), strict=True):
        body = {**view, GATEWAY_HOSTS: hosts.get(r.id, []), ROUTER_PORTS: members.get(r.id, [])}
        if r.gw_qos_policy_id:
            body[GATEWAY_QOS] = found.get(r.gw_qos_policy_id, [])
        out.append(body)
    return out


def render_floatingips(session: Session, fips: list[FloatingIP]) -> list[dict[str, Any]]:
    ports = _ports(session, {f.fixed_port_id for f in fips if f.fixed_port_id})
    tags = taglib.tags_for(session, [f.id for f in fips])
    pfs = port_forwardings(session, [f.id for f in fips])
    nets = {f.floating_network_id for f in fips}
    policies: dict[str, str | None] = {}
    if nets:
        q = select(Network.id, Network.qos_policy_id).where(Network.id.in_(nets))
        policies = {n: p for n, p in session.execute(q)}
    return [
        floatingip_view(f, ports.get(f.fixed_port_id or ""), tags.get(f.id, []), pfs.get(f.id),
                        policies.get(f.floating_network_id))
        for f in fips
    ]  # fmt: skip


FORWARDING_HOST = "kumo_forwarding_host"
"""In floating IP bodies of the watch feed: the host answering for a
floating IP with port forwardings (``port_forwarding.answerer``)."""


def render_watch_floatingips(session: Session, fips: list[FloatingIP]) -> list[dict[str, Any]]:
    """Floating IP bodies of the watch feed: the API's view plus
    ``kumo_forwarding_host``."""
    return [
        {**view, FORWARDING_HOST: f.forwarding_host or None}
        for f, view in zip(fips, render_floatingips(session, fips), strict=True)
    ]


def port_forwardings(session: Session, fip_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each floating IP's port forwardings as its ``port_forwardings`` lists
    them (expose-port-forwarding-in-fip), by external port, with their ids
    and internal ports (floating-ip-port-forwarding-detail) and their port
    ranges (``forwardings.fip_entry``)."""
    if not fip_ids:
        return {}
    pf = PortForwarding
    q = (
        select(pf)
        .where(pf.floatingip_id.in_(fip_ids))
        .order_by(pf.floatingip_id, pf.external_port, pf.protocol)
    )
    from kumo.network.port_forwarding import forwardings

    out: dict[str, list[dict[str, Any]]] = {}
    for row in session.scalars(q):
        out.setdefault(row.floatingip_id, []).append(forwardings.fip_entry(row))
    return out


def _keys() -> dict[str, frozenset[str]]:
    """Attribute names of both collections, for filter and sort validation."""
    router = Router(id="", project_id="", name="", revision_number=0, routes=[])
    fip = FloatingIP(id="", project_id="", floating_ip_address="", revision_number=0)
    return {
        "routers": frozenset(router_view(router, None, [])),
        "floatingips": frozenset(floatingip_view(fip, None, [])),
    }


ATTRIBUTES = _keys()
