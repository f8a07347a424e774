"""Nova's proxies to the Networking API, served up to microversion 2.35 (404
from 2.36, as Nova answers): ``/os-security-groups``,
``/os-security-group-rules``, ``/os-floating-ips``, ``/os-floating-ip-pools``,
``/os-networks``, ``/os-tenant-networks``. A server's own groups
(``/servers/{id}/os-security-groups``) stay at every version.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import served_until, service
from kumo.api.render import json_response
from kumo.compute.common import truthy
from kumo.context import RequestContext
from kumo.errors import NotFound

router = APIRouter()
LAST = "2.35"


# -- security groups ---------------------------------------------------------------------


@router.get("/os-security-groups")
def list_security_groups(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    served_until(request, LAST)
    all_tenants = truthy(request.query_params.get("all_tenants", "0")) or False
    items = service(request).security_groups.list_groups(ctx, all_tenants)
    return json_response({"security_groups": items})


@router.post("/os-security-groups")
def create_security_group(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    group = service(request).security_groups.create(ctx, body)
    return json_response({"security_group": group})


@router.get("/os-security-groups/{group_id}")
def show_security_group(
    group_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    return json_response({"security_group": service(request).security_groups.show(ctx, group_id)})


@router.put("/os-security-groups/{group_id}")
def update_security_group(
    group_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    served_until(request, LAST)
    group = service(request).security_groups.update(ctx, group_id, body)
    return json_response({"security_group": group})


@router.delete("/os-security-groups/")
def delete_security_group_without_id(
    request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    """No group named: 404 as Nova answers (not a redirect to the collection)."""
    raise NotFound("Security group  not found.", kind="SecurityGroupNotFound")


@router.delete("/os-security-groups/{group_id}")
def delete_security_group(
    group_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    service(request).security_groups.delete(ctx, group_id)
    return Response(status_code=202)


@router.post("/os-security-group-rules")
def create_security_group_rule(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    rule = service(request).security_groups.create_rule(ctx, body)
    return json_response({"security_group_rule": rule})


@router.delete("/os-security-group-rules/{rule_id}")
def delete_security_group_rule(
    rule_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    service(request).security_groups.delete_rule(ctx, rule_id)
    return Response(status_code=202)


@router.get("/servers/{server_id}/os-security-groups")
def server_security_groups(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = service(request).server_security_groups(ctx, server_id)
    return json_response({"security_groups": items})


# -- floating IPs and pools --------------------------------------------------------------


@router.get("/os-floating-ips")
def list_floating_ips(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    served_until(request, LAST)
    return json_response({"floating_ips": service(request).networks.list_floating_ips(ctx)})


@router.post("/os-floating-ips")
def create_floating_ip(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    return json_response({"floating_ip": service(request).networks.create_floating_ip(ctx, body)})


@router.get("/os-floating-ips/{fip_id}")
def show_floating_ip(
    fip_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    return json_response({"floating_ip": service(request).networks.show_floating_ip(ctx, fip_id)})


@router.delete("/os-floating-ips/{fip_id}")
def delete_floating_ip(
    fip_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    service(request).networks.delete_floating_ip(ctx, fip_id)
    return Response(status_code=202)


@router.get("/os-floating-ip-pools")
def floating_ip_pools(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    served_until(request, LAST)
    return json_response({"floating_ip_pools": service(request).networks.pools(ctx)})


# -- networks ----------------------------------------------------------------------------


@router.get("/os-networks")
def list_networks(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    served_until(request, LAST)
    return json_response({"networks": service(request).networks.list_networks(ctx, full=True)})


@router.get("/os-networks/{network_id}")
def show_network(
    network_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    net = service(request).networks.show_network(ctx, network_id, full=True)
    return json_response({"network": net})


@router.get("/os-tenant-networks")
def list_tenant_networks(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    served_until(request, LAST)
    return json_response({"networks": service(request).networks.list_networks(ctx, full=False)})


@router.get("/os-tenant-networks/{network_id}")
def show_tenant_network(
    network_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    net = service(request).networks.show_network(ctx, network_id, full=False)
    return json_response({"network": net})
