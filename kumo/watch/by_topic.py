"""Several topics' objects read together, each object filed under every
topic that brings it.

``kumo.watch.snapshot`` keeps each topic's objects apart
(``kumo.watch.fragments``) but reads the topics it does not hold in one
go: read one by one, a host's dozen topics would cost a dozen times the
statements. Each statement here also selects what names the object's
topic (a port's network and host, the group of a member, a router's
gateway hosts and networks), so one read serves every topic. For each
topic the objects are exactly what ``snapshot._objects`` reads for that
topic alone (a test compares them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import hostnames, server_events
from kumo.db.agent_models import Agent
from kumo.db.l3_models import FloatingIP, Router, RouterAgentBinding, RouterPort
from kumo.db.network_models import Network, Port, Subnet
from kumo.db.secgroup_models import PortSecurityGroup, SecurityGroup
from kumo.db.snat_models import SnatLease
from kumo.network import tags as taglib
from kumo.network.events import subnet_ids, with_segments
from kumo.network.l3.views import INTERFACE_TYPES, render_watch_floatingips, render_watch_routers
from kumo.network.qos import attach as qos_attach
from kumo.network.secgroups.views import render_groups
from kumo.network.snat.views import lease_view
from kumo.network.trunks import subports as trunk_subports
from kumo.network.views import external_networks, network_view, subnet_view
from kumo.volume import events as volume_events
from kumo.watch import agent_views, port_views


def _named(topics: Iterable[str], prefix: str) -> set[str]:
    return {t[len(prefix) :] for t in topics if t.startswith(prefix)}


def read(
    s: Session,
    topics: frozenset[str],
    ports_kept: port_views.PortViews,
    agents_kept: agent_views.AgentViews,
) -> dict[str, list[dict[str, Any]]]:
    """Topic → its objects, for every topic of ``topics``."""
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}
    networks = _named(topics, "network:")
    hosts = _named(topics, "host:")
    groups = _named(topics, "secgroup:")
    members_of = _named(topics, "members:")
    routers = _named(topics, "router:")
    if networks:
        _networks(s, networks, out)
    if groups:
        rows = list(s.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(groups))))
        for body in render_groups(s, rows, for_agents=True):
            out[f"secgroup:{body['id']}"].append({"kind": "security_group", **body})
    if routers or hosts or networks:
        _routers(s, routers, hosts, networks, out)
    if routers or hosts:
        _floatingips(s, routers, hosts, out)
        held = select(SnatLease).where(SnatLease.router_id.in_(routers) | SnatLease.host.in_(hosts))
        for lease in s.scalars(held.order_by(SnatLease.id)):
            body = {"kind": "snat_lease", **lease_view(lease)}
            for topic in (f"router:{lease.router_id}", f"host:{lease.host}"):
                if topic in out:
                    out[topic].append(body)
    _ports(s, ports_kept, networks, hosts, members_of, routers, out)
    for host in _named(topics, "storage:"):
        out[f"storage:{host}"].extend(volume_events.storage_objects(s, {host}))
    for host in hosts:
        out[f"host:{host}"].extend(server_events.host_bodies(s, {host}))
    if "metering" in topics:
        from kumo.network.metering import events as metering_events

        out["metering"].extend(metering_events.snapshot(s))
    if "agents" in topics:
        out["agents"].extend(agents_kept.objects(s))
    return out


def _networks(s: Session, networks: set[str], out: dict[str, list[dict[str, Any]]]) -> None:
    from kumo.network.subnetpools.allocate import scope_of_subnets

    scopes = scope_of_subnets(s, list(networks))
    for net in s.scalars(select(Network).where(Network.id.in_(networks))):
        net_tags = taglib.tags_for(s, [net.id]).get(net.id, [])
        view = network_view(net, subnet_ids(s, net.id), net_tags, scopes.get(net.id))
        with_segments(s, [view])
        out[f"network:{net.id}"].append({"kind": "network", **view, "kumo_dns_zone": net.dns_zone})
    external = external_networks(s, networks)
    for sub in s.scalars(select(Subnet).where(Subnet.network_id.in_(networks))):
        sub_tags = taglib.tags_for(s, [sub.id]).get(sub.id, [])
        view = subnet_view(sub, sub_tags, external=sub.network_id in external)
        out[f"network:{sub.network_id}"].append({"kind": "subnet", **view})


def _routers(
    s: Session,
    routers: set[str],
    hosts: set[str],
    networks: set[str],
    out: dict[str, list[dict[str, Any]]],
) -> None:
    """``router:R`` the router; ``host:H`` the routers of H's gateway
    agents; ``network:N`` the routers with an interface on N."""
    named: dict[str, list[str]] = {r: [f"router:{r}"] for r in routers}
    if hosts:
        b = RouterAgentBinding
        q = select(b.router_id, Agent.host).join(Agent, Agent.id == b.agent_id)
        for router_id, host in s.execute(q.where(Agent.host.in_(hosts))):
            named.setdefault(router_id, []).append(f"host:{host}")
    if networks:
        q = (
            select(RouterPort.router_id, Port.network_id)
            .join(Port, Port.id == RouterPort.port_id)
            .where(Port.network_id.in_(networks), RouterPort.port_type.in_(INTERFACE_TYPES))
        )
        for router_id, network_id in s.execute(q):
            named.setdefault(router_id, []).append(f"network:{network_id}")
    if not named:
        return
    found = list(
        s.scalars(select(Router).where(Router.id.in_(named)).order_by(Router.created_at, Router.id))
    )
    for body in render_watch_routers(s, found):
        obj = {"kind": "router", **body}
        for topic in dict.fromkeys(named[str(body["id"])]):
            out[topic].append(obj)


def _floatingips(
    s: Session, routers: set[str], hosts: set[str], out: dict[str, list[dict[str, Any]]]
) -> None:
    """``router:R`` the floating IPs of R; ``host:H`` those of H's ports."""
    named: dict[str, list[str]] = {}
    fips: dict[str, FloatingIP] = {}
    if routers:
        for fip in s.scalars(select(FloatingIP).where(FloatingIP.router_id.in_(routers))):
            fips[fip.id] = fip
            named.setdefault(fip.id, []).append(f"router:{fip.router_id}")
    if hosts:
        q = select(FloatingIP, Port.host).join(Port, Port.id == FloatingIP.fixed_port_id)
        for fip, host in s.execute(q.where(Port.host.in_(hosts))):
            fips[fip.id] = fip
            named.setdefault(fip.id, []).append(f"host:{host}")
    if not fips:
        return
    bodies = qos_attach.fips_with_rules(s, render_watch_floatingips(s, list(fips.values())))
    for body in bodies:
        obj = {"kind": "floatingip", **body}
        for topic in named[str(body["id"])]:
            out[topic].append(obj)


def _ports(
    s: Session,
    kept: port_views.PortViews,
    networks: set[str],
    hosts: set[str],
    members_of: set[str],
    routers: set[str],
    out: dict[str, list[dict[str, Any]]],
) -> None:
    """Ports whole to ``network:N`` (N's ports), ``host:H`` (bound to H) and
    ``router:R`` (R's ports); as member bodies to ``members:G`` (G's ports)."""
    key = (Port.id, Port.revision_number, Port.updated_at)
    rows: dict[str, Any] = {}
    """Port id → its id, revision and ``updated_at`` row."""
    whole: list[tuple[str, str]] = []
    member: list[tuple[str, str]] = []
    """(port id, topic)."""
    found = s.connection().execute
    if networks:
        for row in found(select(*key, Port.network_id).where(Port.network_id.in_(networks))):
            rows[row[0]] = row
            whole.append((row[0], f"network:{row[3]}"))
    if hosts:
        for row in found(select(*key, Port.host).where(Port.host.in_(hosts))):
            rows[row[0]] = row
            whole.append((row[0], f"host:{row[3]}"))
    if routers:
        q = select(*key, RouterPort.router_id).join(RouterPort, RouterPort.port_id == Port.id)
        for row in found(q.where(RouterPort.router_id.in_(routers))):
            rows[row[0]] = row
            whole.append((row[0], f"router:{row[3]}"))
    if members_of:
        psg = PortSecurityGroup
        q = select(*key, psg.security_group_id).join(psg, psg.port_id == Port.id)
        for row in found(q.where(psg.security_group_id.in_(members_of))):
            rows[row[0]] = row
            member.append((row[0], f"members:{row[3]}"))
    if not rows:
        return
    entries = {e.view["id"]: e for e in kept.entries(s, rows.values())}
    views = [entries[p].view for p in dict.fromkeys(p for p, _ in whole) if p in entries]
    servers = hostnames.server_names(s, views)
    rules = qos_attach.port_rules(s, views)
    trunks = trunk_subports.trunks_of(s, views)
    listed: dict[str, dict[str, Any]] = {}
    for port_id, topic in whole:
        e = entries.get(port_id)
        if e is None:
            continue
        obj = listed.get(port_id)
        if obj is None:
            obj = listed[port_id] = e.listed(servers, rules.get(port_id), trunks.get(port_id))
        out[topic].append(obj)
    for port_id, topic in member:
        e = entries.get(port_id)
        if e is not None:
            out[topic].append(e.member())
