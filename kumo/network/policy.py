"""Who may see and do what, as Neutron's default policy says.

A project sees its own resources plus shared and external networks and
the subnets of shared networks (an external network's subnets stay its
owner's; they show the network's ``router:external``); a network's
owner also sees the ports on it. Anything else
is reported as not found, never as forbidden. Admins see everything.
Every decision here is a rule of the one policy table (``kumo.policy``);
this module only names the targets and attributes the networking service
asks about.
"""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.errors import BadRequest, Forbidden
from kumo.policy import allowed, authorize

# Attributes only some callers see, and the table's rule that decides.
VISIBLE_BY = {
    "networks": {
        "provider:network_type": "network:get_network:provider",
        "provider:physical_network": "network:get_network:provider",
        "provider:segmentation_id": "network:get_network:provider",
        "segments": "network:get_network:segments",
    },
    "ports": {
        "binding:host_id": "network:get_port:binding",
        "binding:vif_type": "network:get_port:binding",
        "binding:profile": "network:get_port:binding",
        "binding:vif_details": "network:get_port:binding",
        "resource_request": "network:get_port:binding",
    },
    "subnets": {"segment_id": "network:get_subnet:segment_id"},
    "routers": {
        "distributed": "network:get_router:distributed",
        "ha": "network:get_router:distributed",
        "kumo_distributed_snat": "network:get_router:snat_leases",
        "kumo_snat_leases": "network:get_router:snat_leases",
    },
    "floatingips": {},
}

# Attributes only some callers may set, and the table's rule that decides.
WRITABLE_BY = {
    "networks": {
        "provider:network_type": "network:create_network:provider",
        "provider:physical_network": "network:create_network:provider",
        "provider:segmentation_id": "network:create_network:provider",
        "segments": "network:create_network:segments",
        "shared": "network:create_network:shared",
        "router:external": "network:create_network:router:external",
        "is_default": "network:create_network:is_default",
    },
    "ports": {
        "binding:host_id": "network:create_port:binding",
        "binding:profile": "network:create_port:binding",
        "mac_address_update": "network:update_port:mac_address",
    },
    "subnets": {},
    "routers": {
        "distributed": "network:create_router:distributed",
        "ha": "network:create_router:ha",
    },
    "floatingips": {},
}


def network_visible(ctx: RequestContext, project_id: str, shared: bool, external: bool) -> bool:
    return allowed(
        ctx,
        "network:get_network",
        {"project_id": project_id, "shared": shared, "router:external": external},
    )


def subnet_visible(
    ctx: RequestContext,
    project_id: str,
    network_project_id: str | None,
    network_shared: bool,
    network_external: bool = False,
) -> bool:
    """``network_shared``/``network_external``: the network is shared with, or
    external for, the caller's project (subnets of external networks are
    readable where the network is usable: ``subnet-external-network``)."""
    return allowed(
        ctx,
        "network:get_subnet",
        {
            "project_id": project_id,
            "network:project_id": network_project_id,
            "network:shared": network_shared,
            "network:router:external": network_external,
        },
    )


def port_visible(ctx: RequestContext, project_id: str, network_project_id: str | None) -> bool:
    return allowed(
        ctx,
        "network:get_port",
        {"project_id": project_id, "network:project_id": network_project_id},
    )


def _hidden_from(ctx: RequestContext, collection: str) -> tuple[str, ...]:
    """The attributes of ``collection`` the caller may not see. The rules
    read no target, so the answer holds for every item of one request."""
    return tuple(key for key, name in VISIBLE_BY[collection].items() if not allowed(ctx, name))


def _without(item: dict[str, Any], hidden: tuple[str, ...]) -> dict[str, Any]:
    if not any(key in item for key in hidden):
        return item
    return {k: v for k, v in item.items() if k not in hidden}


def redact(ctx: RequestContext, collection: str, item: dict[str, Any]) -> dict[str, Any]:
    return _without(item, _hidden_from(ctx, collection))


def redact_all(
    ctx: RequestContext, collection: str, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``redact`` for every item of a list, asking the table once, not once per item."""
    hidden = _hidden_from(ctx, collection)
    if not hidden:
        return items
    return [_without(item, hidden) for item in items]


KeptRedactions = dict[tuple[tuple[str, ...], object], tuple[dict[str, Any], dict[str, Any]]]
"""(hidden attributes, item id) -> (the view, its redacted copy)."""


def redact_all_kept(
    ctx: RequestContext, collection: str, items: list[dict[str, Any]], kept: KeptRedactions
) -> list[dict[str, Any]]:
    """``redact_all`` of views a service keeps between requests (replaced,
    never changed, when their object changes): each redacted copy is kept
    with the very view it was made from and reused while that view is
    listed, so a caller who sees less than an admin gets the same objects
    list after list, and their kept JSON (``kumo.api.render.ItemJson``)."""
    hidden = _hidden_from(ctx, collection)
    if not hidden:
        return items
    if len(kept) > 200_000:
        kept.clear()
    out = []
    for item in items:
        key = (hidden, item.get("id"))
        hit = kept.get(key)
        if hit is None or hit[0] is not item:
            hit = (item, _without(item, hidden))
            kept[key] = hit
        out.append(hit[1])
    return out


def check_writable(ctx: RequestContext, collection: str, action: str, body: dict[str, Any]) -> None:
    for key, name in WRITABLE_BY[collection].items():
        if key in body and not allowed(ctx, name):
            raise Forbidden(f"(rule:{action}:{key}) is disallowed by policy")


def check_device_owner(
    ctx: RequestContext, action: str, device_owner: str, network_project_id: str | None
) -> None:
    """``create_port:device_owner``: a ``network:*`` owner (a port the cloud's own
    services make) is set by admins and services, or by the network's owner
    on their own network; anyone else is refused. Such an owner alone makes
    a port nothing: router and floating IP membership are server records."""
    if not device_owner.startswith("network:"):
        return
    if not allowed(
        ctx, "network:create_port:device_owner", {"network:project_id": network_project_id}
    ):
        raise Forbidden(f"(rule:{action}:device_owner) is disallowed by policy")


# Port attributes only some callers may set, and the table's rule that decides;
# each rule is asked with the port's network as target (its owner may).
PORT_ON_NETWORK = ("port_security_enabled", "allowed_address_pairs")


def check_port_attributes(
    ctx: RequestContext, action: str, body: dict[str, Any], network_project_id: str | None
) -> None:
    """``create_port:port_security_enabled`` and ``create_port:allowed_address_pairs``
    (and their ``update_port`` twins): on another project's shared network a
    port's user may neither turn its port security off nor give it address
    pairs; admins and the network's owner may. As in Neutron, an attribute
    named in the request is checked whatever its value."""
    target = {"network:project_id": network_project_id}
    for key in PORT_ON_NETWORK:
        if key in body:
            authorize(ctx, f"network:{action}:{key}", target)
    if action != "create_port":
        return
    # choosing a port's address or MAC: the network's owner (and admins, services)
    if body.get("mac_address") is not None:
        authorize(ctx, "network:create_port:mac_address", target)
    fixed = body.get("fixed_ips")
    if isinstance(fixed, list) and any(isinstance(f, dict) and f.get("ip_address") for f in fixed):
        authorize(ctx, "network:create_port:fixed_ips", target)


def foreign_project() -> BadRequest:
    """Neutron's answer to a non-admin naming another project in a request
    body: 400, before any policy rule is asked."""
    return BadRequest(
        "Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
        "request requires admin privileges",
        kind="HTTPBadRequest",
    )


def owner_for_create(ctx: RequestContext, body: dict[str, Any]) -> str:
    """The project a new resource belongs to: the caller's, or any for admins."""
    project = body.get("project_id")
    tenant = body.get("tenant_id")
    if project is not None and tenant is not None and project != tenant:
        raise BadRequest("'project_id' and 'tenant_id' do not match")
    wanted = project or tenant
    if wanted is not None and not isinstance(wanted, str):
        from kumo.errors import InvalidInput

        raise InvalidInput(f"'{wanted}' is not a valid project id")
    if wanted and wanted != ctx.project_id and not allowed(ctx, "network:create:project_id"):
        raise foreign_project()
    owner = wanted or ctx.project_id
    if not owner:
        raise BadRequest("Running without a project requires project_id in the request body")
    return owner
