"""NetworkService: the facade the API calls for networks, subnets and ports.

Writes run in ``run_in_transaction`` (retried on lost races, outbox events
appended in the same transaction); reads render admin views in bulk (one
query per table, tags in one query) and then apply visibility.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network import agent_reports, availability_zones, policy
from kumo.network import tags as taglib
from kumo.network.core import ipam, networks, subnets
from kumo.network.l3 import auto_allocate
from kumo.network.ports import ports, read_views, revisions
from kumo.network.qos import minimum
from kumo.network.rbac import access as rbac_access
from kumo.network.segments import rows as segment_rows
from kumo.network.subnetpools import allocate
from kumo.network.trunks import subports as trunk_subports
from kumo.network.validate import boolean_value
from kumo.network.views import external_networks, network_view, port_view, subnet_view
from kumo.policy import allowed, unrestricted

T = TypeVar("T")
PORT_SQL_FILTERS = {
    "id": Port.id,
    "network_id": Port.network_id,
    "device_id": Port.device_id,
    "device_owner": Port.device_owner,
    "project_id": Port.project_id,
    "tenant_id": Port.project_id,
    "mac_address": Port.mac_address,
    "name": Port.name,
    "binding:host_id": Port.host,
}
PORT_EXACT_FILTERS = frozenset(PORT_SQL_FILTERS) - {"binding:host_id"}
"""The port filters on a text column the view shows unchanged to every
caller (a port's host is redacted for most callers)."""
_PORT_COLUMNS = {k: Port.__table__.c[v.key] for k, v in PORT_SQL_FILTERS.items()}
NETWORK_SQL_FILTERS = {
    "id": Network.id,
    "name": Network.name,
    "project_id": Network.project_id,
    "tenant_id": Network.project_id,
}
SUBNET_SQL_FILTERS = {
    "id": Subnet.id,
    "network_id": Subnet.network_id,
    "name": Subnet.name,
    "project_id": Subnet.project_id,
    "tenant_id": Subnet.project_id,
}
SUBNET_HIDDEN_FILTERS = frozenset({"shared"})
"""Filters on what a subnet does not show: ``shared``, its network's flag."""


class NetworkService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._port_views: dict[str, tuple[int, dict[str, Any]]] = {}
        self._port_redactions: policy.KeptRedactions = {}

    def _write(self, fn: Callable[[UnitOfWork], T]) -> T:
        return run_in_transaction(self.db, fn)

    # -- auto-allocated topology ("get me a network") ---------------------------------------

    def auto_allocation_available(self) -> bool:
        with self.db.read_session() as s:
            return auto_allocate.available(s)

    def auto_allocated_topology(
        self, ctx: RequestContext, project_id: str, *, dry_run: bool = False
    ) -> dict[str, Any]:
        if dry_run:
            with self.db.read_session() as s:
                auto_allocate.dry_run(s, ctx, project_id)
            return {"dry-run": "pass"}
        network_id = self._write(
            lambda uow: auto_allocate.get_or_create(uow, self.settings, ctx, project_id)
        )
        return {"id": network_id, "tenant_id": project_id, "project_id": project_id}

    def delete_auto_allocated_topology(self, ctx: RequestContext, project_id: str) -> None:
        self._write(lambda uow: auto_allocate.remove(uow, self.settings, ctx, project_id))

    # -- networks ------------------------------------------------------------------------

    def create_networks(
        self, ctx: RequestContext, bodies: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        def work(uow: UnitOfWork) -> list[str]:
            return [networks.create(uow, self.settings, ctx, b).id for b in bodies]

        return [self.show_network(ctx, i) for i in self._write(work)]

    def update_network(
        self,
        ctx: RequestContext,
        network_id: str,
        body: dict[str, Any],
        if_match: int | None = None,
    ) -> dict[str, Any]:
        self._write(
            lambda uow: networks.update(uow, self.settings, ctx, network_id, body, if_match)
        )
        return self.show_network(ctx, network_id)

    def delete_network(
        self, ctx: RequestContext, network_id: str, if_match: int | None = None
    ) -> None:
        self._write(lambda uow: networks.remove(uow, ctx, network_id, if_match))

    def show_network(self, ctx: RequestContext, network_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            net = networks.load(s, ctx, network_id)
            return self._network_views(s, ctx, [net])[0]

    def list_networks(
        self, ctx: RequestContext, prefilters: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            q = select(Network)
            q = sql_where(q, NETWORK_SQL_FILTERS, prefilters)
            everyone = unrestricted(ctx, "network:get_network")
            rows = list(s.scalars(q))
            if not everyone:
                flags = rbac_access.networks(s, ctx, [(n.id, n.shared, n.external) for n in rows])
                rows = [
                    n
                    for n in rows
                    if policy.network_visible(
                        ctx, n.project_id, flags[n.id].shared, flags[n.id].external
                    )
                ]
            return self._network_views(s, ctx, rows)

    def _network_views(
        self, s: Session, ctx: RequestContext, rows: list[Network]
    ) -> list[dict[str, Any]]:
        ids = [n.id for n in rows]
        subs: dict[str, list[str]] = {}
        if ids:
            q = select(Subnet.id, Subnet.network_id).order_by(Subnet.created_at, Subnet.id)
            if len(ids) < 500:
                q = q.where(Subnet.network_id.in_(ids))
            for sid, nid in s.execute(q):
                subs.setdefault(nid, []).append(sid)
        tags = taglib.tags_for(s, ids)
        scopes = allocate.scope_of_subnets(s, ids)
        zones = availability_zones.network_zones(s, ids)
        routed = segment_rows.routed(s, ids)
        multi = segment_rows.multi(s, ids)
        views = [
            network_view(
                n,
                subs.get(n.id, []),
                tags.get(n.id, []),
                scopes.get(n.id),
                zones.get(n.id),
                routed=n.id in routed,
                segments=multi.get(n.id),
            )  # fmt: skip
            for n in rows
        ]
        # ``shared`` as the caller sees it: also true when shared with its project by name
        shared_here = rbac_access.granted(s, "network", ctx.project_id, ids)
        for v in views:
            if rbac_access.SHARED in shared_here.get(v["id"], ()):
                v["shared"] = True
        return policy.redact_all(ctx, "networks", views)

    # -- subnets -------------------------------------------------------------------------

    def create_subnets(
        self, ctx: RequestContext, bodies: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        def work(uow: UnitOfWork) -> list[str]:
            return [subnets.create(uow, self.settings, ctx, b).id for b in bodies]

        return [self.show_subnet(ctx, i) for i in self._write(work)]

    def update_subnet(
        self, ctx: RequestContext, subnet_id: str, body: dict[str, Any], if_match: int | None = None
    ) -> dict[str, Any]:
        self._write(lambda uow: subnets.update(uow, ctx, subnet_id, body, if_match))
        return self.show_subnet(ctx, subnet_id)

    def delete_subnet(
        self, ctx: RequestContext, subnet_id: str, if_match: int | None = None
    ) -> None:
        self._write(lambda uow: subnets.remove(uow, ctx, subnet_id, if_match))

    def show_subnet(self, ctx: RequestContext, subnet_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            sub = subnets.load(s, ctx, subnet_id)
            tags = taglib.tags_for(s, [sub.id]).get(sub.id, [])
            external = sub.network_id in external_networks(s, [sub.network_id])
            view = subnet_view(sub, tags, external=external)
            return policy.redact(ctx, "subnets", view)

    def list_subnets(
        self, ctx: RequestContext, prefilters: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            q = sql_where(select(Subnet), SUBNET_SQL_FILTERS, prefilters)
            rows = list(s.scalars(q.order_by(Subnet.created_at, Subnet.id)))
            shared = {boolean_value(v) for v in prefilters.get("shared", [])}
            restricted = not unrestricted(ctx, "network:get_subnet")
            if restricted or shared:
                found = s.execute(
                    select(Network.id, Network.project_id, Network.shared, Network.external).where(
                        Network.id.in_({r.network_id for r in rows})
                    )
                ).all()
                flags = rbac_access.networks(s, ctx, [(n[0], n[2], n[3]) for n in found])
                nets = {
                    nid: (project, flags[nid].shared, flags[nid].external)
                    for nid, project, _, _ in found
                }

                def keep(r: Subnet) -> bool:
                    net_project, net_shared, net_external = nets.get(
                        r.network_id, (None, False, False)
                    )
                    if shared and net_shared not in shared:
                        return False
                    return not restricted or policy.subnet_visible(
                        ctx, r.project_id, net_project, net_shared, net_external
                    )

                rows = [r for r in rows if keep(r)]
            tags = taglib.tags_for(s, [r.id for r in rows])
            external = external_networks(s, {r.network_id for r in rows})
            views = [
                subnet_view(r, tags.get(r.id, []), external=r.network_id in external) for r in rows
            ]
            return policy.redact_all(ctx, "subnets", views)

    # -- ports ---------------------------------------------------------------------------

    def create_ports(
        self, ctx: RequestContext, bodies: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        def work(uow: UnitOfWork) -> list[dict[str, Any]]:
            out = []
            for b in bodies:
                view = ports.create(uow, self.settings, ctx, b)
                view = _with_requests(uow.session, ctx, [view])[0]
                out.append(policy.redact(ctx, "ports", view))
            return out

        return self._write(work)

    def update_port(
        self, ctx: RequestContext, port_id: str, body: dict[str, Any], if_match: int | None = None
    ) -> dict[str, Any]:
        self._write(lambda uow: ports.update(uow, ctx, port_id, body, if_match, self.settings))
        return self.show_port(ctx, port_id)

    def delete_port(self, ctx: RequestContext, port_id: str, if_match: int | None = None) -> None:
        self._write(lambda uow: ports.remove(uow, ctx, port_id, if_match))

    def report_port_status(
        self, ctx: RequestContext, active: list[str], down: list[str]
    ) -> list[str]:
        """An agent's report of its host's wired and unwired ports; the changed ids."""
        return self._write(lambda uow: agent_reports.port_status(uow, ctx, active, down))

    def show_port(self, ctx: RequestContext, port_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            port = ports.load(s, ctx, port_id)
            view = port_view(port, taglib.tags_for(s, [port.id]).get(port.id, []))
            view.update(trunk_details(s, [port.id]))
            return policy.redact(ctx, "ports", _with_requests(s, ctx, [view])[0])

    def list_ports(
        self, ctx: RequestContext, prefilters: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        """Admin views of the matching ports, each rendered once per revision.

        Every change to a port (its IPs and tags included) bumps its
        revision_number, so a view cached under (id, revision) is exact: a
        list reads two columns per port and renders only what changed.
        """
        restricted = not unrestricted(ctx, "network:get_port")
        with self.db.engine.connect() as conn:
            wanted = revisions.read(conn, _PORT_COLUMNS, prefilters, ctx.project_id, restricted)
            views = self._cached_views(wanted)
            # a policy's minimum rules change without the port's revision: asked
            # at every list, and only where some policy has such a rule
            binding = allowed(ctx, "network:get_port:binding")
            asking = minimum.asking(conn) if binding and views != [] else set()
            if views is None or asking:
                with Session(bind=conn) as s:
                    if views is None:
                        cache = self._port_views
                        stale = [pid for pid, rev in wanted if cache.get(pid, (None,))[0] != rev]
                        self._render_ports(s, stale)
                        views = [cache[pid][1] for pid, _ in wanted if pid in cache]
                    views = _with_requests(s, ctx, views, asking)
        return policy.redact_all_kept(ctx, "ports", views, self._port_redactions)

    def _cached_views(self, wanted: Sequence[Row[str, int]]) -> list[dict[str, Any]] | None:
        """The cached view of each (id, revision) in ``wanted``, in order, or
        None when one is missing or older (the list renders those first)."""
        get = self._port_views.get
        views = []
        for pid, rev in wanted:
            hit = get(pid)
            if hit is None or hit[0] != rev:
                return None
            views.append(hit[1])
        return views

    def _render_ports(self, s: Session, ids: list[str]) -> None:
        if len(self._port_views) > 100_000:
            self._port_views.clear()
        details: dict[str, Any] = {}
        for start in range(0, len(ids), read_views.CHUNK):
            details.update(trunk_subports.details_for(s, ids[start : start + read_views.CHUNK]))
        for r, view in read_views.read(s, ids):
            if r.id in details:
                view["trunk_details"] = details[r.id]
            view["resource_request"] = None  # asked anew at each list (_with_requests)
            self._port_views[r.id] = (r.revision_number, view)

    # -- availability --------------------------------------------------------------------

    def ip_availability(self, network_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Each network's used and total addresses, per subnet, with
        ``ip_availability_details`` (``network-ip-availability-details``)."""
        from kumo.network.core import availability_details as details

        with self.db.read_session() as s:
            q = select(Network)
            if network_ids:
                q = q.where(Network.id.in_(network_ids))
            nets = list(s.scalars(q.order_by(Network.created_at)))
            subnets: dict[str, list[Subnet]] = {n.id: [] for n in nets}
            if nets:
                sq = select(Subnet).where(Subnet.network_id.in_(list(subnets)))
                for sub in s.scalars(sq.order_by(Subnet.created_at, Subnet.id)):
                    subnets[sub.network_id].append(sub)
            addresses: dict[str, list[str]] = {}
            ids = [sub.id for subs in subnets.values() for sub in subs]
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                aq = select(IPAllocation.subnet_id, IPAllocation.ip_address).where(
                    IPAllocation.subnet_id.in_(chunk)
                )
                for subnet_id, address in s.execute(aq):
                    addresses.setdefault(subnet_id, []).append(address)
            out = []
            for net in nets:
                subs: list[dict[str, Any]] = []
                for sub in subnets[net.id]:
                    found = addresses.get(sub.id, [])
                    subs.append(
                        {
                            "subnet_id": sub.id,
                            "subnet_name": sub.name,
                            "cidr": sub.cidr,
                            "ip_version": sub.ip_version,
                            "total_ips": ipam.pool_size(sub),
                            "used_ips": len(found),
                            details.KEY: details.of_subnet(sub, found),
                        }
                    )
                out.append(
                    {
                        "network_id": net.id,
                        "network_name": net.name,
                        "tenant_id": net.project_id,
                        "project_id": net.project_id,
                        "total_ips": sum(x["total_ips"] for x in subs),
                        "used_ips": sum(x["used_ips"] for x in subs),
                        details.KEY: details.summed(x[details.KEY] for x in subs),
                        "subnet_ip_availability": subs,
                    }
                )
            return out


def trunk_details(session: Session, port_ids: list[str]) -> dict[str, Any]:
    """``{"trunk_details": ...}`` for a trunk parent (one port), else ``{}``."""
    found = trunk_subports.details_for(session, port_ids)
    return {"trunk_details": found[port_ids[0]]} if port_ids and port_ids[0] in found else {}


def sql_where(q: Any, columns: dict[str, Any], prefilters: dict[str, list[str]]) -> Any:
    for key, values in prefilters.items():
        col = columns.get(key)
        if col is not None:
            q = q.where(col.in_(values))
    return q


def _with_requests(
    s: Session,
    ctx: RequestContext,
    views: list[dict[str, Any]],
    asking_policies: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Port views with their ``resource_request`` (minimum bandwidth asks,
    ``kumo.network.qos.minimum``), read now: a policy's rules change without
    the port's revision. Computed only for callers who may see it."""
    if not views or not allowed(ctx, "network:get_port:binding"):
        return views
    found = minimum.resource_requests(
        s, ((v["id"], v["network_id"], v.get("qos_policy_id")) for v in views), asking_policies
    )
    # the cached list views already say None: keep those objects (their JSON is cached too)
    return [
        {**v, "resource_request": found[v["id"]]}
        if v["id"] in found
        else v
        if "resource_request" in v
        else {**v, "resource_request": None}
        for v in views
    ]
