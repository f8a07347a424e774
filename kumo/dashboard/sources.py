"""Where the dashboard reads from: the service layer, acting as the user.

Every read the dashboard makes goes through one of these functions, each a
call into the same service function the API route for that collection
calls, with the caller's context, so the service layer's visibility rules
and the policy table decide what comes back. Kept in one module so a move
inside a service package changes one file here.

The exception is the servers' summaries (``server_summaries``,
``server_count``, ``server_names``), read as columns for lists of
thousands: they keep the server list's visibility (the caller's project,
and only if the table lets the caller see its servers) and derive each
status with the compute service's own ``derive``.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import func, select

from kumo.compute.microversion import Version
from kumo.compute.server_status import derive
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.l3_models import FloatingIP
from kumo.db.network_models import IPAllocation, Network, Port
from kumo.db.outbox_models import OutboxCounter
from kumo.network import quotas as network_quotas
from kumo.network.agents import visible_views as agent_views
from kumo.network.l3 import floatingip_service, router_service
from kumo.network.l3 import routers as l3_routers
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.network.l3.views import gateway_hosts
from kumo.network.secgroups import service as secgroup_service
from kumo.policy import allowed
from kumo.runtime import Runtime

COMPUTE_VERSION = Version(2, 79)
VOLUME_VERSION = Version(3, 70)


def revision(rt: Runtime) -> int:
    """The watch feed's revision now: a page read after it has every change
    up to it, so its event stream starts there (nothing missed between)."""
    with rt.db.read_session() as s:
        return int(s.scalar(select(OutboxCounter.value).where(OutboxCounter.id == 1)) or 0)


def servers(rt: Runtime, ctx: RequestContext, base: str) -> list[dict[str, Any]]:
    return rt.compute.list_servers(ctx, {}, base, COMPUTE_VERSION, detail=True)


def server_count(rt: Runtime, ctx: RequestContext) -> int:
    """How many servers the caller's project has (as ``server_summaries`` lists them)."""
    if not allowed(ctx, "compute:servers:show", {"project_id": ctx.project_id}):
        return 0
    sv = Server.__table__.c
    with rt.db.read_session() as s:
        q = select(func.count()).select_from(Server.__table__)
        return int(s.execute(q.where(sv.project_id == ctx.project_id)).scalar_one())


def server_summaries(
    rt: Runtime,
    ctx: RequestContext,
    ids: list[str] | None = None,
    *,
    window: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """The caller's project's servers (or those of ``ids`` among them; or
    the ``window`` (offset, limit) of them, in that order),
    newest first as the server list orders them, each as the instance list
    and the topology show it: id, name, status and task/power state (derived
    as the server views derive them), fixed and floating addresses, network
    names, image, key pair, created, and host where the table shows hosts.

    Read in a handful of column queries (servers, their ports, their
    addresses, their floating IPs, the networks' names), never one query or
    one full view per server: a page of 1,000 instances needs these, not
    1,000 renderings of ``GET /servers/{id}``. The flavor's name is not
    here (it is in each server's flavor snapshot): ``flavor_names`` reads it
    for the page shown."""
    show_host = allowed(ctx, "compute:servers:show:host")
    if not allowed(ctx, "compute:servers:show", {"project_id": ctx.project_id}):
        return []
    now = utcnow()
    timeout = rt.settings.vif_plugged_timeout
    sv = Server.__table__.c
    p, a, f = Port.__table__.c, IPAllocation.__table__.c, FloatingIP.__table__.c
    nt = Network.__table__.c
    q = select(
        sv.id, sv.name, sv.project_id, sv.host, sv.vm_state, sv.task_state, sv.power_state,
        sv.driver, sv.created_at, sv.fault, sv.flavor_id, sv.image_id, sv.key_name,
    ).where(sv.project_id == ctx.project_id)  # fmt: skip
    if ids is not None:
        if not ids:
            return []
        q = q.where(sv.id.in_(ids))
    with rt.db.read_session() as s:
        conn = s.connection()
        q = q.order_by(sv.created_at.desc(), sv.id.desc())
        if window is not None:
            q = q.offset(window[0]).limit(window[1])
        rows = list(conn.execute(q))
        server_ids = [r.id for r in rows]
        statuses: dict[str, list[str]] = {}
        addresses: dict[str, list[str]] = {}
        networks: dict[str, list[str]] = {}
        owner: dict[str, str] = {}
        net_of: dict[str, str] = {}
        for start in range(0, len(server_ids), 500):
            chunk = server_ids[start : start + 500]
            q2 = select(p.id, p.device_id, p.status, p.network_id).where(p.device_id.in_(chunk))
            for port_id, device_id, status, network_id in conn.execute(
                q2.order_by(p.created_at, p.id)
            ):
                statuses.setdefault(device_id, []).append(status)
                owner[port_id] = device_id
                net_of[port_id] = network_id
        port_ids = list(owner)
        for start in range(0, len(port_ids), 500):
            chunk = port_ids[start : start + 500]
            for port_id, ip in conn.execute(
                select(a.port_id, a.ip_address).where(a.port_id.in_(chunk)).order_by(a.id)
            ):
                addresses.setdefault(owner[port_id], []).append(ip)
            for port_id, ip in conn.execute(
                select(f.fixed_port_id, f.floating_ip_address).where(f.fixed_port_id.in_(chunk))
            ):
                addresses.setdefault(owner[port_id], []).append(ip)
        net_ids = sorted(set(net_of.values()))
        names = (
            {r[0]: r[1] for r in conn.execute(select(nt.id, nt.name).where(nt.id.in_(net_ids)))}
            if net_ids
            else {}
        )
        for port_id, device_id in owner.items():
            name = names.get(net_of[port_id]) or net_of[port_id]
            nets = networks.setdefault(device_id, [])
            if name not in nets:
                nets.append(name)
    out = []
    for r in rows:
        eff = derive(cast(Server, r), statuses.get(r.id, []), now, timeout)
        out.append(
            {
                "id": r.id,
                "name": r.name,
                "status": eff.status,
                "task_state": eff.task_state,
                "power_state": eff.power_state,
                "addresses": addresses.get(r.id, []),
                "networks": sorted(networks.get(r.id, [])),
                "flavor": r.flavor_id,
                "image": r.image_id or "",
                "key_name": r.key_name,
                "host": r.host if show_host else None,
                "created": r.created_at,
                "project_id": r.project_id,
            }
        )
    return out


def server_networks(
    rt: Runtime, ctx: RequestContext, ids: list[str] | None = None
) -> dict[str, list[str]]:
    """The caller's project's servers (or those of ``ids`` among them),
    newest first as ``server_summaries`` orders them, each with the
    networks of its ports in port order (none for a server without a
    port): what the topology groups by, for thousands of servers in one
    query of plain columns (no status, no addresses)."""
    if not allowed(ctx, "compute:servers:show", {"project_id": ctx.project_id}):
        return {}
    if ids is not None and not ids:
        return {}
    sv, p = Server.__table__.c, Port.__table__.c
    q = (
        select(sv.id, p.network_id)
        .select_from(Server.__table__.outerjoin(Port.__table__, p.device_id == sv.id))
        .where(sv.project_id == ctx.project_id)
    )
    if ids is not None:
        q = q.where(sv.id.in_(ids))
    q = q.order_by(sv.created_at.desc(), sv.id.desc(), p.created_at, p.id)
    out: dict[str, list[str]] = {}
    with rt.db.read_session() as s:
        for server_id, network_id in s.execute(q):
            nets = out.setdefault(server_id, [])
            if network_id is not None and network_id not in nets:
                nets.append(network_id)
    return out


def server_search(rt: Runtime, ctx: RequestContext, text: str, limit: int) -> list[str]:
    """Up to ``limit`` of the caller's project's servers, newest first,
    whose name or id, or a fixed or floating address of whose ports,
    contains ``text`` (case-insensitive): matched in the database."""
    if not text or not allowed(ctx, "compute:servers:show", {"project_id": ctx.project_id}):
        return []
    sv, p = Server.__table__.c, Port.__table__.c
    a, f = IPAllocation.__table__.c, FloatingIP.__table__.c
    like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    by_ip = select(p.device_id).join(IPAllocation.__table__, a.port_id == p.id)
    by_ip = by_ip.where(a.ip_address.like(like, escape="\\"))
    by_fip = select(p.device_id).join(FloatingIP.__table__, f.fixed_port_id == p.id)
    by_fip = by_fip.where(f.floating_ip_address.like(like, escape="\\"))
    q = (
        select(sv.id)
        .where(sv.project_id == ctx.project_id)
        .where(
            func.lower(sv.name).like(like, escape="\\")
            | sv.id.like(like, escape="\\")
            | sv.id.in_(by_ip)
            | sv.id.in_(by_fip)
        )
        .order_by(sv.created_at.desc(), sv.id.desc())
        .limit(limit)
    )
    with rt.db.read_session() as s:
        return [r[0] for r in s.execute(q)]


def flavor_names(rt: Runtime, ctx: RequestContext, ids: list[str]) -> dict[str, str]:
    """server id -> the name in its flavor snapshot (the view's
    ``original_name``), for the caller's project's servers among ``ids``."""
    if not ids:
        return {}
    sv = Server.__table__.c
    q = select(sv.id, sv.flavor, sv.flavor_id).where(
        sv.project_id == ctx.project_id, sv.id.in_(ids)
    )
    with rt.db.read_session() as s:
        return {r[0]: (r[1] or {}).get("name", r[2]) for r in s.execute(q)}


def flavors(rt: Runtime, ctx: RequestContext, base: str) -> list[dict[str, Any]]:
    return rt.compute.list_flavors(ctx, {}, base, COMPUTE_VERSION, detail=True)


def images(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    return rt.image.list_images(ctx, {})


def keypairs(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    return [k["keypair"] for k in rt.compute.list_keypairs(ctx, None, COMPUTE_VERSION)]


def compute_limits(rt: Runtime, ctx: RequestContext) -> dict[str, Any]:
    absolute: dict[str, Any] = rt.compute.limits(ctx, None, COMPUTE_VERSION)["absolute"]
    return absolute


def network_quota_use(rt: Runtime, ctx: RequestContext) -> dict[str, tuple[int, int]]:
    """resource -> (used, limit) for the caller's project."""
    project = ctx.project_id or ""
    with rt.db.read_session() as s:
        limits = network_quotas.limits(s, rt.settings, project)
        return {
            r: (network_quotas.usage(s, project, r), limits.get(r, -1))
            for r in ("network", "subnet", "port", "router", "floatingip", "security_group")
        }


def networks(rt: Runtime, ctx: RequestContext, **filters: list[str]) -> list[dict[str, Any]]:
    return rt.network.list_networks(ctx, dict(filters))


def subnets(rt: Runtime, ctx: RequestContext, **filters: list[str]) -> list[dict[str, Any]]:
    return rt.network.list_subnets(ctx, dict(filters))


def ports(rt: Runtime, ctx: RequestContext, **filters: list[str]) -> list[dict[str, Any]]:
    return rt.network.list_ports(ctx, dict(filters))


def routers(rt: Runtime, ctx: RequestContext, **filters: list[str]) -> list[dict[str, Any]]:
    return router_service.list_routers(rt.network, ctx, dict(filters))


def router_gateways(
    rt: Runtime, ctx: RequestContext, router_ids: list[str]
) -> dict[str, list[dict[str, str]]]:
    """Each router's gateway hosts with their HA state (``active``,
    ``standby``...), as ``GET /v2.0/routers/{id}/l3-agents`` shows them; only
    for a caller the table lets see the L3 scheduling, else nothing."""
    if not allowed(ctx, "network:l3_scheduling"):
        return {}
    now = utcnow()
    out: dict[str, list[dict[str, str]]] = {}
    with rt.db.read_session() as s:
        for router_id in router_ids:
            found = l3_routers.load(s, ctx, router_id)
            out[router_id] = [
                {
                    "host": agent.host,
                    "ha_state": l3_scheduler.ha_state(found, row, agent, rt.settings, now) or "",
                }
                for row, agent in l3_scheduler.bindings(s, router_id)
            ]
        for router_id, hosts in gateway_hosts(s, router_ids).items():
            known = {g["host"] for g in out.get(router_id, [])}
            out.setdefault(router_id, []).extend(
                {"host": h, "ha_state": ""} for h in hosts if h not in known
            )
    return out


def floatingips(rt: Runtime, ctx: RequestContext, **filters: list[str]) -> list[dict[str, Any]]:
    return floatingip_service.list_floatingips(rt.network, ctx, dict(filters))


def security_groups(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    return secgroup_service.list_groups(rt.network, ctx, {})


def hypervisors(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    return rt.compute.hypervisors(ctx, COMPUTE_VERSION, detail=True)


def agents(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    with rt.db.read_session() as s:
        return agent_views(s, rt.settings, ctx)


def projects(rt: Runtime) -> list[Any]:
    return rt.identity.list_rows("project")


def user_projects(rt: Runtime, user_id: str) -> list[Any]:
    return [p for p in rt.identity.user_projects(user_id) if p.enabled]


def server_names(rt: Runtime, ctx: RequestContext) -> list[dict[str, str]]:
    """Id and name of each of the caller's project's servers, newest first
    (what a form choosing an instance offers; one column query)."""
    if not allowed(ctx, "compute:servers:show", {"project_id": ctx.project_id}):
        return []
    sv = Server.__table__.c
    q = select(sv.id, sv.name).where(sv.project_id == ctx.project_id)
    with rt.db.read_session() as s:
        rows = s.execute(q.order_by(sv.created_at.desc(), sv.id.desc()))
        return [{"id": r[0], "name": r[1]} for r in rows]


def volumes(rt: Runtime, ctx: RequestContext, base: str) -> list[dict[str, Any]]:
    """The caller's project's volumes as ``GET /volumes/detail`` shows them
    (every page of it)."""
    out: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "1000"}
    while True:
        views, more, _ = rt.volume.list_volumes(ctx, params, base, VOLUME_VERSION, detail=True)
        out.extend(views)
        if not more or not views:
            return out
        params = dict(params, marker=views[-1]["id"])


def snapshots(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    """The caller's project's volume snapshots as ``GET /snapshots/detail``
    shows them (every page of it)."""
    out: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "1000"}
    while True:
        views, more, _ = rt.volume.list_snapshots(ctx, params, VOLUME_VERSION, detail=True)
        out.extend(views)
        if not more or not views:
            return out
        params = dict(params, marker=views[-1]["id"])


def orchestration_endpoint(root: str, project_id: str) -> str:
    return f"{root}/orchestration/v1/{project_id}"


def stacks(rt: Runtime, ctx: RequestContext, root: str) -> list[dict[str, Any]]:
    project = ctx.project_id or ""
    return rt.orchestration.list_stacks(ctx, project, {}, orchestration_endpoint(root, project))


def stack(rt: Runtime, ctx: RequestContext, root: str, ident: str) -> dict[str, Any]:
    """A stack of the caller's project (by id or name) as ``GET
    /stacks/{name}/{id}`` shows it, with its resources."""
    project = ctx.project_id or ""
    endpoint = orchestration_endpoint(root, project)
    found = rt.orchestration.lookup(ctx, project, ident)
    out = rt.orchestration.show_stack(ctx, project, found.name, found.id, endpoint)
    out["resources"] = rt.orchestration.list_resources(
        ctx, project, found.name, found.id, endpoint, {}
    )
    return out
