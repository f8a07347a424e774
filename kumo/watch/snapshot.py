"""A consistent snapshot of every object in a set of topics, with its revision.

The objects are what the watch feed sends to those topics: ``host:H`` holds
the ports bound to H, the floating IPs of those ports and the routers of
the gateway agents on H; ``network:N`` the network, its subnets and ports
and the routers with an interface on it; ``router:R`` the router, its
ports (its ``RouterPort`` rows) and floating IPs. Router bodies carry
``kumo_gateway_hosts`` and ``kumo_ports``, port bodies ``kumo_hostname``;
``host:H`` also holds the servers placed on H (``kumo.compute.server_events``);
``router:R`` and ``host:H`` the SNAT port-block leases of R and of H.
``metering`` holds every metering label with its rules.
``storage:H`` holds the volumes and snapshots placed on storage host H
(``kumo.volume.events``). ``secgroup:G`` holds the group with its rules,
``members:G`` the ports in the group (as member bodies where no other topic
of the list brings them, ``kumo.watch.members``); ``agents`` every agent as its peers
see it (``kumo.network.agents.peer_view``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from kumo.compute import hostnames, server_events
from kumo.config import Settings
from kumo.db.agent_models import Agent
from kumo.db.engine import Database
from kumo.db.l3_models import FloatingIP, Router, RouterAgentBinding, RouterPort
from kumo.db.network_models import Network, Port, Subnet
from kumo.db.outbox_models import OutboxCounter
from kumo.db.secgroup_models import PortSecurityGroup, SecurityGroup
from kumo.db.snat_models import SnatLease
from kumo.network import agents as agentlib
from kumo.network import tags as taglib
from kumo.network.events import subnet_ids, with_segments
from kumo.network.l3.views import INTERFACE_TYPES, render_watch_floatingips, render_watch_routers
from kumo.network.qos import attach as qos_attach
from kumo.network.secgroups.views import render_groups
from kumo.network.snat.views import lease_view
from kumo.network.trunks import subports as trunk_subports
from kumo.network.views import external_networks, network_view, port_view, subnet_view
from kumo.volume import events as volume_events
from kumo.watch import agent_views, by_topic, fragments, interest, members, port_views


def parse_topics(raw: str | None) -> frozenset[str]:
    return frozenset(t for t in (raw or "").split(",") if t)


ROUNDS = 8
"""At most this many rounds toward a host's fixed point (each round adds
what the last one's objects name: networks of its ports, their routers,
those routers' other networks, remote groups...; three or four do it)."""


def take(
    db: Database, settings: Settings, topics: frozenset[str]
) -> tuple[int, list[dict[str, Any]]]:
    """(revision, objects) where the objects are exactly the state at ``revision``."""
    revision, _, objects = take_for(db, settings, topics)
    return revision, objects


def take_for(
    db: Database,
    settings: Settings,
    topics: frozenset[str],
    host: str | None = None,
    authorize: Callable[[Session, frozenset[str]], None] | None = None,
    fast: bool = True,
) -> tuple[int, frozenset[str], list[dict[str, Any]]]:
    """(revision, topics, objects), the objects exactly the state at ``revision``.

    With ``host``, the topics are taken on to what that host needs given
    the objects they bring (``kumo.watch.interest``), all in the one
    snapshot, so an agent starting afresh gets everything in one list
    instead of listing again for each round; ``authorize`` sees each new
    set of topics before it is read. Each round reads only the topics it
    adds (a topic's objects do not depend on the other topics read with
    it; an object two topics bring comes once), each topic's objects come
    from what this process keeps of them while no event has changed them
    (``kumo.watch.fragments``), and the port and agent objects a topic
    reads come from what it keeps of them (``kumo.watch.port_views``,
    ``kumo.watch.agent_views``), shared between lists: the objects are
    read, never changed. Without ``fast``, each round reads all its topics
    again and every object is loaded and rendered anew: the same objects,
    the straightforward way."""
    with db.read_session() as s:
        if not db.is_sqlite:
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        revision = int(s.scalar(select(OutboxCounter.value).where(OutboxCounter.id == 1)) or 0)
        if not fast:
            return (revision, *_plain(s, settings, topics, host, authorize))
        read = _Topics(s, settings, db, revision)
        held = _Held()
        held.add(read(topics))
        if host is None:
            return revision, topics, held.objects
        for _ in range(ROUNDS):
            wanted = interest.topics(host, held.by_kind)
            if wanted == topics:
                break
            if authorize is not None:
                authorize(s, wanted)
            if topics <= wanted:
                held.add(read(wanted - topics))
            else:
                held = _Held()
                held.add(read(wanted))
            topics = wanted
        return revision, topics, held.objects


def _plain(
    s: Session,
    settings: Settings,
    topics: frozenset[str],
    host: str | None,
    authorize: Callable[[Session, frozenset[str]], None] | None,
) -> tuple[frozenset[str], list[dict[str, Any]]]:
    """``take_for``'s topics and objects, the straightforward way."""
    objects = _objects(s, settings, topics)
    if host is None:
        return topics, objects
    for _ in range(ROUNDS):
        wanted = interest.topics(host, interest.index(objects))
        if wanted == topics:
            break
        if authorize is not None:
            authorize(s, wanted)
        topics = wanted
        objects = _objects(s, settings, topics)
    return topics, objects


class _Topics:
    """Reads topics' objects in one list's snapshot (at ``revision``), each
    topic's from its kept fragment when it has one; the others all at once
    (``kumo.watch.by_topic``), then kept."""

    def __init__(self, s: Session, settings: Settings, db: Database, revision: int) -> None:
        self.s = s
        self.settings = settings
        self.revision = revision
        self.ports = port_views.of(db)
        self.agents = agent_views.of(db)
        self.fragments = fragments.of(db)
        self.fragments.catch_up(s, revision)

    def __call__(self, topics: frozenset[str]) -> list[fragments.Keyed]:
        out: list[fragments.Keyed] = []
        kept = self.fragments
        missing: list[str] = []
        for topic in sorted(topics):
            objects = kept.get(topic, self.revision)
            if objects is None:
                missing.append(topic)
            else:
                out.extend(objects)
        if missing:
            read = by_topic.read(self.s, frozenset(missing), self.ports, self.agents)
            for topic in missing:
                out.extend(kept.put(topic, self.revision, read[topic]))
        return out


class _Held:
    """A list's objects gathered over the rounds, each once: ``by_kind``
    (kind → id → object, as ``interest.index`` makes it, the objects
    keeping their ``kind``) and ``objects`` in the order first found. A
    port held as a member body (``kumo.watch.members``) is replaced by its
    whole body when a later round's topics bring that, in its place."""

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, dict[str, Any]]] = {}
        self.objects: list[dict[str, Any]] = []
        self._where: dict[fragments.Key, int] = {}

    def add(self, objects: list[fragments.Keyed]) -> None:
        """Objects with their keys (``kumo.watch.fragments``)."""
        where, out, by_kind = self._where, self.objects, self.by_kind
        for key, obj in objects:
            if key is None:
                out.append(obj)
                continue
            at = where.get(key)
            if at is not None:
                if members.MARK in out[at] and members.MARK not in obj:
                    out[at] = by_kind[key[0]][key[1]] = obj
                continue
            kind = by_kind.get(key[0])
            if kind is None:
                kind = by_kind[key[0]] = {}
            kind[key[1]] = obj
            where[key] = len(out)
            out.append(obj)


class _Ports:
    """The ports of a straightforward list, in the order first found."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self.found: dict[str, Port] = {}
        self.whole: set[str] = set()
        """Ids of the ports a topic other than ``members:G`` brings."""

    def add(self, where: ColumnElement[bool], member: bool = False) -> None:
        """The ports ``where`` selects; ``member``: brought by ``members:G``
        topics (sent as member bodies unless another topic brings them too)."""
        for port in self.s.scalars(select(Port).where(where)):
            self.found[port.id] = port
            if not member:
                self.whole.add(port.id)

    def objects(self) -> list[dict[str, Any]]:
        """The ports' list objects: views with what their watch bodies add,
        or member bodies (``kumo.watch.members``)."""
        s, whole = self.s, self.whole
        tags = taglib.tags_for(s, list(self.found))
        views = [port_view(port, tags.get(port.id, [])) for port in self.found.values()]
        watched = iter(_watched(s, [v for v in views if v["id"] in whole]))
        return [
            {"kind": "port", **(next(watched) if v["id"] in whole else members.body(v))}
            for v in views
        ]


def _watched(s: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Port views as the watch feed carries them (new dicts, in their order)."""
    return trunk_subports.with_trunks(s, qos_attach.with_rules(s, hostnames.watch_bodies(s, views)))


def _objects(s: Session, settings: Settings, topics: frozenset[str]) -> list[dict[str, Any]]:
    """The topics' objects, each once, read and rendered anew (the
    straightforward way: ``kumo.watch.by_topic`` reads the same objects per topic)."""
    networks = {t.split(":", 1)[1] for t in topics if t.startswith("network:")}
    hosts = {t.split(":", 1)[1] for t in topics if t.startswith("host:")}
    groups = {t.split(":", 1)[1] for t in topics if t.startswith("secgroup:")}
    members_of = {t.split(":", 1)[1] for t in topics if t.startswith("members:")}
    routers = {t.split(":", 1)[1] for t in topics if t.startswith("router:")}
    out: list[dict[str, Any]] = []
    ports = _Ports(s)
    if networks:
        from kumo.network.subnetpools.allocate import scope_of_subnets

        scopes = scope_of_subnets(s, list(networks))
        for net in s.scalars(select(Network).where(Network.id.in_(networks))):
            net_tags = taglib.tags_for(s, [net.id]).get(net.id, [])
            view = network_view(net, subnet_ids(s, net.id), net_tags, scopes.get(net.id))
            with_segments(s, [view])
            out.append({"kind": "network", **view, "kumo_dns_zone": net.dns_zone})
        external = external_networks(s, networks)
        for sub in s.scalars(select(Subnet).where(Subnet.network_id.in_(networks))):
            sub_tags = taglib.tags_for(s, [sub.id]).get(sub.id, [])
            view = subnet_view(sub, sub_tags, external=sub.network_id in external)
            out.append({"kind": "subnet", **view})
        ports.add(Port.network_id.in_(networks))
    if hosts:
        ports.add(Port.host.in_(hosts))
    if groups:
        rows = list(s.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(groups))))
        out.extend(
            {"kind": "security_group", **body} for body in render_groups(s, rows, for_agents=True)
        )
    if members_of:
        in_groups = select(PortSecurityGroup.port_id).where(
            PortSecurityGroup.security_group_id.in_(members_of)
        )
        ports.add(Port.id.in_(in_groups), member=True)
    fips: dict[str, FloatingIP] = {}
    if routers or hosts or networks:
        # with host:H, the routers of H's gateway agents, with network:N the
        # routers with an interface on N (the objects alone: their ports and
        # floating IPs come with router:R)
        b = RouterAgentBinding
        on_hosts = select(b.router_id).join(Agent, Agent.id == b.agent_id)
        on_hosts = on_hosts.where(Agent.host.in_(hosts))
        on_networks = (
            select(RouterPort.router_id)
            .join(Port, Port.id == RouterPort.port_id)
            .where(Port.network_id.in_(networks), RouterPort.port_type.in_(INTERFACE_TYPES))
        )
        q = select(Router).where(
            Router.id.in_(routers) | Router.id.in_(on_hosts) | Router.id.in_(on_networks)
        )
        found = list(s.scalars(q.order_by(Router.created_at, Router.id)))
        out.extend({"kind": "router", **body} for body in render_watch_routers(s, found))
    if routers:
        of_routers = select(RouterPort.port_id).where(RouterPort.router_id.in_(routers))
        ports.add(Port.id.in_(of_routers))
        for fip in s.scalars(select(FloatingIP).where(FloatingIP.router_id.in_(routers))):
            fips[fip.id] = fip
    if hosts:
        local = select(Port.id).where(Port.host.in_(hosts))
        for fip in s.scalars(select(FloatingIP).where(FloatingIP.fixed_port_id.in_(local))):
            fips[fip.id] = fip
    out.extend(
        {"kind": "floatingip", **body}
        for body in qos_attach.fips_with_rules(s, render_watch_floatingips(s, list(fips.values())))
    )
    if routers or hosts:
        held = select(SnatLease).where(SnatLease.router_id.in_(routers) | SnatLease.host.in_(hosts))
        for lease in s.scalars(held.order_by(SnatLease.id)):
            out.append({"kind": "snat_lease", **lease_view(lease)})
    out.extend(ports.objects())
    storage = {t.split(":", 1)[1] for t in topics if t.startswith("storage:")}
    out.extend(volume_events.storage_objects(s, storage))
    out.extend(server_events.host_bodies(s, hosts))
    if "metering" in topics:
        from kumo.network.metering import events as metering_events

        out.extend(metering_events.snapshot(s))
    if "agents" in topics:
        for agent in s.scalars(select(Agent)):
            out.append({"kind": "agent", **agentlib.peer_view(agent)})
    return out
