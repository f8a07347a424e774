"""The network topology's data: the whole graph for the page, and patches
of it for the event stream.

``page`` gathers the project's networks (with subnets), routers (with their
interfaces and gateways), instances (with their ports) and floating IPs,
plus the external networks its routers and floating IPs use. ``patch``
renders the same entries for only the objects a batch of watch events
touched, so the open page redraws a change without fetching the graph
again: each entry comes from the service layer acting as the caller, and an
object asked for that does not come back (deleted, or no longer the
caller's to see) is listed under ``removed``. Hosts come along only where
the service layer shows them to this caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kumo.context import RequestContext
from kumo.dashboard import sources
from kumo.dashboard.pages import (
    MAX_PER_PAGE,
    Params,
    _fip_row,
    _int,
    _net_row,
    _router_row,
    project_page,
)
from kumo.errors import BadRequest
from kumo.policy import allowed, unrestricted
from kumo.runtime import Runtime

KINDS = ("networks", "routers", "instances", "floatingips")
GROUP = 40
"""Instances of a network the page gets with the graph (newest first); it
asks for more (``members``) when the group is opened."""


def _split_ports(
    ports: Iterable[dict[str, Any]], router_ids: set[str], server_ids: set[str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]], set[str]]:
    """Router legs and instance ports (as the page draws them) of ``ports``,
    and the networks they are on."""
    legs: dict[str, list[dict[str, Any]]] = {}
    nics: dict[str, list[dict[str, Any]]] = {}
    used: set[str] = set()
    for p in ports:
        ips = [ip["ip_address"] for ip in p.get("fixed_ips", [])]
        leg: dict[str, Any] = {"port_id": p["id"], "network_id": p["network_id"], "ips": ips}
        host = p.get("binding:host_id")
        if host:
            leg["host"] = host
        device = p.get("device_id")
        if device in router_ids and p.get("device_owner", "").startswith("network:router_"):
            legs.setdefault(device, []).append(
                dict(leg, gateway=p["device_owner"] == "network:router_gateway")
            )
            used.add(p["network_id"])
        elif device in server_ids:
            nics.setdefault(device, []).append(leg)
            used.add(p["network_id"])
    return legs, nics, used


def _instance(
    s: dict[str, Any], nics: dict[str, list[dict[str, Any]]], group: str
) -> dict[str, Any]:
    return {
        "id": s["id"],
        "name": s.get("name", ""),
        "status": s["status"],
        "host": s["host"],
        "network_id": group,
        "ports": nics.get(s["id"], []),
    }


def _group(nets: list[str]) -> str:
    """The network an instance is drawn under: its first port's ("" for none)."""
    return nets[0] if nets else ""


def _instances(
    rt: Runtime, ctx: RequestContext, groups: dict[str, list[str]], ids: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entries of the servers ``ids`` (newest first) and the project's
    floating IPs on their ports."""
    servers = sources.server_summaries(rt, ctx, ids) if ids else []
    ports = sources.ports(rt, ctx, device_id=ids) if ids else []
    _, nics, _ = _split_ports(ports, set(), set(ids))
    entries = [_instance(s, nics, _group(groups.get(s["id"], []))) for s in servers]
    port_ids = sorted(p["port_id"] for ps in nics.values() for p in ps)
    fips = sources.floatingips(rt, ctx, port_id=port_ids) if port_ids else []
    return entries, [_fip_row(f) for f in fips if f["project_id"] == ctx.project_id]


def _counts(groups: dict[str, list[str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for nets in groups.values():
        key = _group(nets)
        out[key] = out.get(key, 0) + 1
    return out


def _routers(
    rt: Runtime,
    ctx: RequestContext,
    routers: list[dict[str, Any]],
    legs: dict[str, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    gateways = sources.router_gateways(rt, ctx, sorted(r["id"] for r in routers))
    return [
        dict(_router_row(r), interfaces=legs.get(r["id"], []), gateways=gateways.get(r["id"], []))
        for r in routers
    ]


def _gateway_nets(routers: list[dict[str, Any]], fips: list[dict[str, Any]]) -> set[str]:
    used = {f["floating_network_id"] for f in fips}
    for r in routers:
        gw = (r.get("external_gateway_info") or {}).get("network_id")
        if gw:
            used.add(gw)
    return used


def page(rt: Runtime, ctx: RequestContext, params: Params, base: str) -> dict[str, Any]:
    """The project's graph as drawn: every network, router and gateway it
    shows, each network's count of instances (``groups``: network id ->
    count, "" for those without a port), and only the first ``GROUP`` of
    each network's instances (newest first) with the floating IPs on them;
    the page asks for more (``members``) when a group is opened or
    searched."""
    project_page(ctx)
    groups = sources.server_networks(rt, ctx)
    shown: list[str] = []
    per_net: dict[str, int] = {}
    for server_id, nets in groups.items():
        key = _group(nets)
        if per_net.get(key, 0) < GROUP:
            per_net[key] = per_net.get(key, 0) + 1
            shown.append(server_id)
    routers = [r for r in sources.routers(rt, ctx) if r["project_id"] == ctx.project_id]
    router_ids = {r["id"] for r in routers}
    legs, _, used = _split_ports(
        sources.ports(rt, ctx, device_id=sorted(router_ids)) if router_ids else [],
        router_ids,
        set(),
    )
    instances, fips = _instances(rt, ctx, groups, shown)
    used |= {n for nets in groups.values() for n in nets}
    used |= _gateway_nets(routers, fips)
    # the project's networks and those its things use: not every network the
    # caller may read (an admin may read every project's)
    shown_nets = sources.networks(rt, ctx, project_id=[ctx.project_id or ""])
    others = sorted(used - {n["id"] for n in shown_nets})
    shown_nets += sources.networks(rt, ctx, id=others) if others else []
    net_ids = [n["id"] for n in shown_nets]
    subs = {s["id"]: s for s in sources.subnets(rt, ctx, network_id=net_ids)} if shown_nets else {}
    return {
        "networks": [_net_row(n, subs) for n in shown_nets],
        "routers": _routers(rt, ctx, routers, legs),
        "instances": instances,
        "groups": _counts(groups),
        "floatingips": fips,
        "show_hosts": unrestricted(ctx, "network:get_port:binding"),
    }


def members(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    """More of the topology's instances, as ``page`` draws them: those of
    one network's group (``network``; "" for the instances without a port),
    the window ``start``, ``per`` of it, newest first; or, with ``q``, up
    to ``per`` instances whose name, id or an address contains it. With the
    floating IPs on their ports and, for a network, its count."""
    project_page(ctx)
    per = _int(params, "per", GROUP * 5, MAX_PER_PAGE)
    q = params.get("q", "").strip()
    if q:
        ids = sources.server_search(rt, ctx, q, per)
        groups = sources.server_networks(rt, ctx, ids)
        total = len(ids)
    else:
        if "network" not in params:
            raise BadRequest("Give a network or a search (q).")
        raw = params.get("start") or "0"
        if not raw.isdigit():
            raise BadRequest(f"Invalid value for start: {raw!r}.")
        start = int(raw)
        groups = sources.server_networks(rt, ctx)
        group = [i for i, nets in groups.items() if _group(nets) == params["network"]]
        total = len(group)
        ids = group[start : start + per]
    instances, fips = _instances(rt, ctx, groups, ids)
    return {"instances": instances, "floatingips": fips, "total": total}


def patch(rt: Runtime, ctx: RequestContext, changed: dict[str, set[str]]) -> dict[str, Any]:
    """The entries of the objects in ``changed`` (kind -> ids, kinds as in
    ``KINDS``) as ``page`` draws them, and under ``removed`` (kind -> ids)
    those that are gone. A network comes with ``referenced``: whether a
    router, instance or floating IP of the patch is on it (the page draws
    another project's network only when something of the project uses it)."""
    out: dict[str, Any] = {k: [] for k in KINDS}
    out["removed"] = {k: [] for k in KINDS}
    if not allowed(ctx, "dashboard:project_pages", {"project_id": ctx.project_id}):
        return out
    want = {k: sorted(changed.get(k, ())) for k in KINDS}
    routers = (
        [
            r
            for r in sources.routers(rt, ctx, id=want["routers"])
            if r["project_id"] == ctx.project_id
        ]
        if want["routers"]
        else []
    )
    fips = (
        [
            f
            for f in sources.floatingips(rt, ctx, id=want["floatingips"])
            if f["project_id"] == ctx.project_id
        ]
        if want["floatingips"]
        else []
    )
    servers = sources.server_summaries(rt, ctx, want["instances"]) if want["instances"] else []
    groups = sources.server_networks(rt, ctx) if want["instances"] else {}
    devices = sorted({r["id"] for r in routers} | {s["id"] for s in servers})
    ports = sources.ports(rt, ctx, device_id=devices) if devices else []
    legs, nics, used = _split_ports(ports, {r["id"] for r in routers}, {s["id"] for s in servers})
    used |= _gateway_nets(routers, fips)
    net_ids = sorted(set(want["networks"]) | used)
    nets = sources.networks(rt, ctx, id=net_ids) if net_ids else []
    subs = {s["id"]: s for s in sources.subnets(rt, ctx, network_id=net_ids)} if net_ids else {}
    out["networks"] = [dict(_net_row(n, subs), referenced=n["id"] in used) for n in nets]
    out["routers"] = _routers(rt, ctx, routers, legs)
    out["instances"] = [_instance(s, nics, _group(groups.get(s["id"], []))) for s in servers]
    out["floatingips"] = [_fip_row(f) for f in fips]
    if want["instances"]:
        out["groups"] = _counts(groups)
    for kind in KINDS:
        found = {e["id"] for e in out[kind]}
        out["removed"][kind] = [i for i in want[kind] if i not in found]
    return out


PAGES = {"network-members": members}
"""The topology's on-demand data (its graph is ``page``)."""
