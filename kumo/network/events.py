"""Outbox events for networking objects (see the contract in docs/DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import hostnames
from kumo.db.l3_models import FloatingIP, Router, RouterPort
from kumo.db.network_models import Network, Port, Subnet
from kumo.db.secgroup_models import SecurityGroup
from kumo.db.uow import UnitOfWork
from kumo.network import tags as taglib
from kumo.network.l3.views import (
    GATEWAY_HOSTS,
    ROUTER_PORT_TYPES,
    render_watch_floatingips,
    render_watch_routers,
    routed_networks,
)
from kumo.network.qos import attach as qos_attach
from kumo.network.secgroups.views import render_groups
from kumo.network.trunks import subports as trunk_subports
from kumo.network.views import external_networks, network_view, port_view, subnet_view


def subnet_ids(session: Session, network_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Subnet.id)
            .where(Subnet.network_id == network_id)
            .order_by(Subnet.created_at, Subnet.id)
        )
    )


DNS_ZONE = "kumo_dns_zone"
"""In network bodies of the watch feed: the network's ``dns_domain`` with
its keywords replaced (``Network.dns_zone``)."""


def with_segments(session: Session, bodies: list[dict[str, Any]]) -> None:
    """Add ``kumo_segments`` to the agents' bodies of networks with several
    segments: each host wires the one it serves."""
    from kumo.network.segments.rows import multi

    several = multi(session, [b["id"] for b in bodies])
    for body in bodies:
        if body["id"] in several:
            body["kumo_segments"] = several[body["id"]]


def network(uow: UnitOfWork, net: Network, op: str = "upsert") -> dict[str, object]:
    from kumo.network.subnetpools.allocate import scope_of_subnets

    s = uow.session
    scopes = scope_of_subnets(s, [net.id]).get(net.id)
    body = network_view(
        net, subnet_ids(s, net.id), taglib.tags_for(s, [net.id]).get(net.id, []), scopes
    )
    with_segments(s, [body])
    uow.emit("network", op, net.id, (f"network:{net.id}",), {**body, DNS_ZONE: net.dns_zone})
    return body


def subnet(uow: UnitOfWork, sub: Subnet, op: str = "upsert") -> dict[str, object]:
    tags = taglib.tags_for(uow.session, [sub.id]).get(sub.id, [])
    external = sub.network_id in external_networks(uow.session, [sub.network_id])
    body = subnet_view(sub, tags, external=external)
    uow.emit("subnet", op, sub.id, (f"network:{sub.network_id}",), body)
    return body


def port(
    uow: UnitOfWork,
    p: Port,
    op: str = "upsert",
    old_host: str | None = None,
    tags: list[str] | None = None,
    old_groups: list[str] | None = None,
) -> dict[str, Any]:
    """Emit a port event; ``tags`` may be given when known (a new port has none)."""
    if tags is None:
        tags = taglib.tags_for(uow.session, [p.id]).get(p.id, [])
    return port_body(uow, port_view(p, tags), op, old_host, old_groups, _router_of(uow, p))


def port_status(uow: UnitOfWork, p: Port) -> None:
    """Emit a change of the port's ``status`` alone (its host's report) to
    its host only: no other host compiles anything from another host's
    port status, and a cloud starting up turns thousands of ports ACTIVE,
    each otherwise an event to every host of its network and of the groups
    naming its groups (~500 hosts for a member of a big group). Other
    hosts' caches keep the port's earlier status until their next list."""
    if not p.host:
        port(uow, p)
        return
    body = port_view(p, taglib.tags_for(uow.session, [p.id]).get(p.id, []))
    uow.emit("port", "upsert", p.id, (f"host:{p.host}",), _watched(uow, body))


def _router_of(uow: UnitOfWork, p: Port) -> str | None:
    """The router the port is part of, from its ``RouterPort`` row."""
    if p.device_owner not in ROUTER_PORT_TYPES:
        return None  # the port API keeps a router port's owner as the router set it
    q = select(RouterPort.router_id).where(RouterPort.port_id == p.id)
    return uow.session.scalar(q)


def port_body(
    uow: UnitOfWork,
    body: dict[str, Any],
    op: str = "upsert",
    old_host: str | None = None,
    old_groups: list[str] | None = None,
    router_id: str | None = None,
) -> dict[str, Any]:
    """Emit a port event for the port's admin view ``body``.

    Topics: the port's network, its host (and ``old_host`` when it moved),
    and ``members:G`` of every security group it is in now or was in before
    (``old_groups``), so the hosts whose rules name a group see its ports
    leave it as well as join it (the group's rules, on ``secgroup:G``, go
    only to the hosts of its ports); a router's
    own port also goes to ``router:<router_id>`` (whatever its ``device_id``
    says, only a ``RouterPort`` row names a port's router). The event's body
    also names the hostname of the instance on the port (``kumo_hostname``,
    ``kumo/compute/hostnames.py``); the returned ``body`` does not.
    """
    topics = [f"network:{body['network_id']}"]
    for host in (body["binding:host_id"], old_host):
        if host and f"host:{host}" not in topics:
            topics.append(f"host:{host}")
    for group_id in dict.fromkeys([*body["security_groups"], *(old_groups or [])]):
        topics.append(f"members:{group_id}")
    if router_id:
        topics.append(f"router:{router_id}")
    uow.emit("port", op, body["id"], tuple(topics), _watched(uow, body))
    return body


def _watched(uow: UnitOfWork, body: dict[str, Any]) -> dict[str, Any]:
    """The watch body of a port's admin view: with its instance's hostname,
    its QoS rules and its trunk."""
    (watched,) = trunk_subports.with_trunks(
        uow.session, qos_attach.with_rules(uow.session, hostnames.watch_bodies(uow.session, [body]))
    )
    return watched


def security_group(uow: UnitOfWork, group: SecurityGroup, op: str = "upsert") -> dict[str, object]:
    """Emit a group with all its rules (rule changes re-emit their group) to
    ``secgroup:G``: the hosts of its ports (its members are on ``members:G``)."""
    body = render_groups(uow.session, [group], for_agents=True)[0]
    uow.emit("security_group", op, group.id, (f"secgroup:{group.id}",), body)
    return body


def router(
    uow: UnitOfWork,
    r: Router,
    op: str = "upsert",
    old_hosts: Sequence[str] = (),
    old_networks: Sequence[str] = (),
) -> dict[str, object]:
    """Emit a router with its ``kumo_gateway_hosts`` and ``kumo_ports``: to
    ``router:R``, to ``host:H`` of every gateway host and to ``network:N``
    of every network it has an interface on, now and before (``old_hosts``,
    ``old_networks``), so a host the router left sees it go, and the hosts
    of a network learn which routers serve it."""
    body = render_watch_routers(uow.session, [r])[0]
    topics = [f"router:{r.id}"]
    for host in [*body[GATEWAY_HOSTS], *old_hosts]:
        if host and f"host:{host}" not in topics:
            topics.append(f"host:{host}")
    for network_id in [*routed_networks(body), *old_networks]:
        if f"network:{network_id}" not in topics:
            topics.append(f"network:{network_id}")
    uow.emit("router", op, r.id, tuple(topics), body)
    return body


def floatingip(
    uow: UnitOfWork,
    fip: FloatingIP,
    op: str = "upsert",
    old_router_id: str | None = None,
    old_host: str | None = None,
) -> dict[str, object]:
    """Emit a floating IP to its router and to the host of its associated port,
    before (``old_router_id``, ``old_host``) and after the change."""
    s = uow.session
    host = None
    if fip.fixed_port_id:
        host = s.scalar(select(Port.host).where(Port.id == fip.fixed_port_id))
    topics: list[str] = []
    for router_id in (fip.router_id, old_router_id):
        if router_id and f"router:{router_id}" not in topics:
            topics.append(f"router:{router_id}")
    for h in (host, old_host):
        if h and f"host:{h}" not in topics:
            topics.append(f"host:{h}")
    from kumo.network.qos import attach

    body = attach.fips_with_rules(s, render_watch_floatingips(s, [fip]))[0]
    uow.emit("floatingip", op, fip.id, tuple(topics), body)
    return body
