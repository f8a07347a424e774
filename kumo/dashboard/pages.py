"""The data of each page, gathered server-side in one call.

Each function takes the runtime, the caller and the query parameters and
returns everything its page draws. Lists are filtered (``q``: a substring
of the name, id or address) and paged (``page``, ``per``) here, on the
server, so a project with thousands of instances sends the browser one
page of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kumo.compute.common import ts
from kumo.context import RequestContext
from kumo.dashboard import sources
from kumo.errors import BadRequest
from kumo.policy import allowed, authorize
from kumo.runtime import Runtime

PER_PAGE = 50
MAX_PER_PAGE = 500

Params = dict[str, str]


def _int(params: Params, key: str, default: int, top: int) -> int:
    raw = params.get(key, "")
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise BadRequest(f"Invalid value for {key}: {raw!r}.")
    return int(raw)


def window(total: int, params: Params) -> dict[str, Any]:
    """The page asked for (``page``, ``per``) of ``total`` items: the
    listing without its items, and ``start``, the first item's index."""
    per = _int(params, "per", PER_PAGE, MAX_PER_PAGE)
    pages = max(1, -(-total // per))
    page = min(_int(params, "page", 1, 1_000_000), pages)
    return {
        "items": [],
        "total": total,
        "page": page,
        "pages": pages,
        "per": per,
        "q": params.get("q", ""),
        "start": (page - 1) * per,
    }


def paged(items: list[dict[str, Any]], params: Params, *fields: str) -> dict[str, Any]:
    """One page of ``items`` whose ``fields`` contain ``q`` (case-insensitive)."""
    q = params.get("q", "").strip().lower()
    if q:
        items = [i for i in items if any(q in str(i.get(f) or "").lower() for f in fields)]
    out = window(len(items), params)
    start = out.pop("start")
    out["items"] = items[start : start + out["per"]]
    return out


def project_page(ctx: RequestContext) -> None:
    authorize(ctx, "dashboard:project_pages", {"project_id": ctx.project_id})


def instance_rows(
    rt: Runtime, ctx: RequestContext, summaries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What the instance list shows of ``summaries`` (``status`` drives the
    badge): each summary with its flavor's name and its creation time as
    the compute API writes it."""
    flavors = sources.flavor_names(rt, ctx, [s["id"] for s in summaries])
    out = []
    for s in summaries:
        row = {k: v for k, v in s.items() if k != "project_id"}
        row["flavor"] = flavors.get(s["id"], s["flavor"])
        row["created"] = ts(s["created"])
        out.append(row)
    return out


def instances(rt: Runtime, ctx: RequestContext, params: Params, base: str) -> dict[str, Any]:
    """One page of the project's instances, filtered and paged here. What
    the launch and floating IP forms offer is not here: the forms load it
    (``launch``) when opened, so the list paints without waiting for it."""
    project_page(ctx)
    if params.get("q", "").strip():  # matched on derived fields: every summary
        fields = ("name", "id", "status", "addresses")
        listing = paged(sources.server_summaries(rt, ctx), params, *fields)
    else:  # only the page shown is read
        listing = window(sources.server_count(rt, ctx), params)
        start = listing.pop("start")
        listing["items"] = sources.server_summaries(rt, ctx, window=(start, listing["per"]))
    listing["items"] = instance_rows(rt, ctx, listing["items"])
    return {"instances": listing, "can_write": _can_write(ctx)}


def launch(rt: Runtime, ctx: RequestContext, params: Params, root: str) -> dict[str, Any]:
    """What the launch and associate forms offer, and the project's floating IPs."""
    project_page(ctx)
    return {
        "launch": launch_options(rt, ctx, f"{root}/compute"),
        "floatingips": [
            _fip_row(f) for f in sources.floatingips(rt, ctx) if f["project_id"] == ctx.project_id
        ],
    }


def _can_write(ctx: RequestContext) -> bool:
    """Whether the caller's roles let it change its project's things (the
    page hides the buttons it would be refused; the API decides anyway)."""
    return allowed(ctx, "compute:servers:create", {"project_id": ctx.project_id})


def launch_options(rt: Runtime, ctx: RequestContext, base: str) -> dict[str, Any]:
    """What the launch form offers: images, flavors, networks, groups, keys."""
    nets = sources.networks(rt, ctx)
    return {
        "images": [
            {"id": i["id"], "name": i.get("name") or i["id"]}
            for i in sources.images(rt, ctx)
            if i.get("status") == "active"
        ],
        "flavors": [
            {"id": f["id"], "name": f["name"], "vcpus": f["vcpus"], "ram": f["ram"]}
            for f in sources.flavors(rt, ctx, base)
        ],
        "networks": [
            {"id": n["id"], "name": n["name"] or n["id"]}
            for n in nets
            if not n.get("router:external") and n.get("status", "ACTIVE") == "ACTIVE"
        ],
        "security_groups": [
            {"id": g["id"], "name": g["name"]}
            for g in sources.security_groups(rt, ctx)
            if g["project_id"] == ctx.project_id
        ],
        "keypairs": [{"name": k["name"]} for k in sources.keypairs(rt, ctx)],
        "external_networks": [
            {"id": n["id"], "name": n["name"] or n["id"]} for n in nets if n.get("router:external")
        ],
    }


def overview(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    project_page(ctx)
    limits = sources.compute_limits(rt, ctx)
    use = [
        ("Instances", limits.get("totalInstancesUsed", 0), limits.get("maxTotalInstances", -1)),
        ("VCPUs", limits.get("totalCoresUsed", 0), limits.get("maxTotalCores", -1)),
        ("RAM (MB)", limits.get("totalRAMUsed", 0), limits.get("maxTotalRAMSize", -1)),
        ("Key pairs", len(sources.keypairs(rt, ctx)), limits.get("maxTotalKeypairs", -1)),
    ]
    names = {
        "network": "Networks",
        "subnet": "Subnets",
        "port": "Ports",
        "router": "Routers",
        "floatingip": "Floating IPs",
        "security_group": "Security groups",
    }
    for resource, (used, limit) in sources.network_quota_use(rt, ctx).items():
        use.append((names[resource], used, limit))
    return {"quota": [{"name": n, "used": u, "limit": lim} for n, u, lim in use]}


def _net_row(n: dict[str, Any], subnets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": n["id"],
        "name": n["name"],
        "status": n.get("status"),
        "shared": n.get("shared", False),
        "external": n.get("router:external", False),
        "project_id": n.get("project_id"),
        "subnets": [
            {"id": s, "cidr": subnets[s]["cidr"], "name": subnets[s]["name"]}
            for s in n.get("subnets", [])
            if s in subnets
        ],
    }


def networks(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    project_page(ctx)
    subs = {s["id"]: s for s in sources.subnets(rt, ctx)}
    rows = [_net_row(n, subs) for n in sources.networks(rt, ctx)]
    return {"networks": paged(rows, params, "name", "id"), "can_write": _can_write(ctx)}


def _router_row(r: dict[str, Any]) -> dict[str, Any]:
    gw = r.get("external_gateway_info") or {}
    return {
        "id": r["id"],
        "name": r["name"],
        "status": r.get("status"),
        "admin_state_up": r.get("admin_state_up"),
        "ha": r.get("ha", False),
        "external_network_id": gw.get("network_id"),
        "external_ips": [ip.get("ip_address") for ip in gw.get("external_fixed_ips") or []],
    }


def routers(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    project_page(ctx)
    rows = [_router_row(r) for r in sources.routers(rt, ctx) if r["project_id"] == ctx.project_id]
    return {"routers": paged(rows, params, "name", "id"), "can_write": _can_write(ctx)}


def _fip_row(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f["id"],
        "floating_ip_address": f["floating_ip_address"],
        "fixed_ip_address": f.get("fixed_ip_address"),
        "port_id": f.get("port_id"),
        "floating_network_id": f["floating_network_id"],
        "router_id": f.get("router_id"),
        "status": f.get("status"),
    }


def floatingips(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    project_page(ctx)
    rows = [_fip_row(f) for f in sources.floatingips(rt, ctx) if f["project_id"] == ctx.project_id]
    nets = sources.networks(rt, ctx)
    return {
        "floatingips": paged(rows, params, "floating_ip_address", "fixed_ip_address", "id"),
        "external_networks": [
            {"id": n["id"], "name": n["name"]} for n in nets if n.get("router:external")
        ],
        "can_write": _can_write(ctx),
    }


def ports(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    """The project's ports, and the networks a new port may go on."""
    project_page(ctx)
    nets = sources.networks(rt, ctx)
    names = {n["id"]: n["name"] or n["id"] for n in nets}
    rows = [
        {
            "id": p["id"],
            "name": p.get("name") or "",
            "network_id": p["network_id"],
            "network": names.get(p["network_id"], p["network_id"]),
            "fixed_ips": [ip["ip_address"] for ip in p.get("fixed_ips", [])],
            "mac_address": p.get("mac_address"),
            "device_owner": p.get("device_owner") or "",
            "device_id": p.get("device_id") or "",
            "status": p.get("status"),
        }
        for p in sources.ports(rt, ctx)
        if p.get("project_id") == ctx.project_id
    ]
    return {
        "ports": paged(rows, params, "name", "id", "fixed_ips", "network", "device_owner"),
        "networks": [
            {"id": n["id"], "name": names[n["id"]]}
            for n in nets
            if not n.get("router:external")
            and (n.get("project_id") == ctx.project_id or n.get("shared"))
        ],
        "can_write": allowed(ctx, "network:create_port", {"project_id": ctx.project_id}),
    }


def security_groups(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    project_page(ctx)
    rows = [
        {
            "id": g["id"],
            "name": g["name"],
            "description": g.get("description", ""),
            "rules": [
                {
                    "id": r["id"],
                    "direction": r["direction"],
                    "ethertype": r.get("ethertype"),
                    "protocol": r.get("protocol"),
                    "port_range_min": r.get("port_range_min"),
                    "port_range_max": r.get("port_range_max"),
                    "remote_ip_prefix": r.get("remote_ip_prefix"),
                    "remote_group_id": r.get("remote_group_id"),
                }
                for r in g.get("security_group_rules", [])
            ],
        }
        for g in sources.security_groups(rt, ctx)
        if g["project_id"] == ctx.project_id
    ]
    return {"security_groups": paged(rows, params, "name", "id"), "can_write": _can_write(ctx)}


def keypairs(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    project_page(ctx)
    rows = [
        {"name": k["name"], "fingerprint": k.get("fingerprint"), "type": k.get("type", "ssh")}
        for k in sources.keypairs(rt, ctx)
    ]
    return {"keypairs": paged(rows, params, "name"), "can_write": _can_write(ctx)}


def _admin_page(ctx: RequestContext) -> None:
    authorize(ctx, "dashboard:admin_pages")


def hypervisors(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    _admin_page(ctx)
    rows = [
        {
            "name": h["hypervisor_hostname"],
            "state": h["state"],
            "status": h["status"],
            "vcpus": h.get("vcpus"),
            "vcpus_used": h.get("vcpus_used"),
            "memory_mb": h.get("memory_mb"),
            "memory_mb_used": h.get("memory_mb_used"),
            "running_vms": h.get("running_vms"),
            "host_ip": h.get("host_ip"),
        }
        for h in sources.hypervisors(rt, ctx)
    ]
    return {"hypervisors": paged(rows, params, "name")}


def agents(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    _admin_page(ctx)
    rows = [
        {
            "id": a["id"],
            "host": a["host"],
            "agent_type": a.get("agent_type"),
            "alive": a.get("alive"),
            "admin_state_up": a.get("admin_state_up"),
            "heartbeat_timestamp": a.get("heartbeat_timestamp"),
        }
        for a in sources.agents(rt, ctx)
    ]
    return {"agents": paged(rows, params, "host", "agent_type")}


def projects(rt: Runtime, ctx: RequestContext, params: Params) -> dict[str, Any]:
    _admin_page(ctx)
    authorize(ctx, "identity:list_projects")
    rows = [
        {"id": p.id, "name": p.name, "enabled": p.enabled, "description": p.description or ""}
        for p in sources.projects(rt)
        if not getattr(p, "is_domain", False)
    ]
    return {"projects": paged(rows, params, "name", "id")}


PAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "overview": overview,
    "networks": networks,
    "routers": routers,
    "floatingips": floatingips,
    "ports": ports,
    "security-groups": security_groups,
    "keypairs": keypairs,
}
"""The project's pages that need no compute base URL (``instances`` and
``topology`` do)."""

LINKED_PAGES: dict[str, Callable[..., dict[str, Any]]] = {"launch": launch}
"""Pages whose data carries the APIs' links (they take the APIs' root URL);
the service pages add theirs."""

ADMIN_PAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "hypervisors": hypervisors,
    "agents": agents,
    "projects": projects,
}
