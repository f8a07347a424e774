"""Who may see and do what, as Neutron's default policy says.

A project sees its own resources plus shared and external networks and
the subnets of shared networks (an external network's subnets stay its
owner's: kumo does not list ``subnet-external-network``); a network's
owner also sees the ports on it. Anything else
is reported as not found, never as forbidden. Admins see everything.
"""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.errors import Forbidden

ADMIN_ONLY_VISIBLE = {
    "networks": ("provider:network_type", "provider:physical_network", "provider:segmentation_id"),
    "ports": ("binding:host_id", "binding:vif_type", "binding:profile", "binding:vif_details"),
    "subnets": (),
    "routers": ("distributed", "ha"),
    "floatingips": (),
}

ADMIN_ONLY_WRITABLE = {
    "networks": (
        "provider:network_type",
        "provider:physical_network",
        "provider:segmentation_id",
        "shared",
        "router:external",
        "is_default",
    ),
    "ports": ("binding:host_id", "binding:profile", "mac_address_update"),
    "subnets": (),
    "routers": ("distributed", "ha"),
    "floatingips": (),
}


def network_visible(ctx: RequestContext, project_id: str, shared: bool, external: bool) -> bool:
    return ctx.is_admin or project_id == ctx.project_id or shared or external


def subnet_visible(
    ctx: RequestContext, project_id: str, network_project_id: str | None, network_shared: bool
) -> bool:
    return ctx.is_admin or ctx.project_id in (project_id, network_project_id) or network_shared


def port_visible(ctx: RequestContext, project_id: str, network_project_id: str | None) -> bool:
    return ctx.is_admin or ctx.project_id in (project_id, network_project_id)


def redact(ctx: RequestContext, collection: str, item: dict[str, Any]) -> dict[str, Any]:
    if ctx.is_admin:
        return item
    hidden = ADMIN_ONLY_VISIBLE[collection]
    if not hidden:
        return item
    return {k: v for k, v in item.items() if k not in hidden}


def check_writable(ctx: RequestContext, collection: str, action: str, body: dict[str, Any]) -> None:
    if ctx.is_admin:
        return
    for key in ADMIN_ONLY_WRITABLE[collection]:
        if key in body:
            raise Forbidden(f"(rule:{action}:{key}) is disallowed by policy")


def check_device_owner(
    ctx: RequestContext, action: str, device_owner: str, network_project_id: str | None
) -> None:
    """``<action>:device_owner``: a ``network:*`` owner (a port the cloud's own
    services make) is set by admins and services, or by the network's owner
    on their own network; anyone else is refused. Such an owner alone makes
    a port nothing: router and floating IP membership are server records."""
    if not device_owner.startswith("network:") or ctx.is_service:
        return
    if network_project_id is None or network_project_id != ctx.project_id:
        raise Forbidden(f"(rule:{action}:device_owner) is disallowed by policy")


def owner_for_create(ctx: RequestContext, body: dict[str, Any], member: str) -> str:
    """The project a new resource belongs to: the caller's, or any for admins."""
    project = body.get("project_id")
    tenant = body.get("tenant_id")
    if project is not None and tenant is not None and project != tenant:
        from kumo.errors import BadRequest

        raise BadRequest("'project_id' and 'tenant_id' do not match")
    wanted = project or tenant
    if wanted is not None and not isinstance(wanted, str):
        from kumo.errors import InvalidInput

        raise InvalidInput(f"'{wanted}' is not a valid project id")
    if wanted and wanted != ctx.project_id and not ctx.is_admin:
        raise Forbidden(f"(rule:create_{member}) is disallowed by policy")
    owner = wanted or ctx.project_id
    if not owner:
        from kumo.errors import BadRequest

        raise BadRequest("Running without a project requires project_id in the request body")
    return owner
