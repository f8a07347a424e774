"""Networking v2.0: /v2.0/network-ip-availabilities (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response, show_response
from kumo.api.networking.resource import service
from kumo.context import RequestContext
from kumo.errors import not_found
from kumo.network.core import availability_details as details
from kumo.policy import authorize

router = APIRouter()
ATTRS = {
    "network_id",
    "network_name",
    "tenant_id",
    "project_id",
    "ip_version",
    "total_ips",
    "used_ips",
    "subnet_ip_availability",
    details.KEY,
}


def _admin(ctx: RequestContext) -> None:
    authorize(ctx, "network:get_network_ip_availability")


@router.get("/v2.0/network-ip-availabilities")
def list_availability(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _admin(ctx)
    items = service(request).ip_availability()
    version = request.query_params.get("ip_version")
    if version:
        for item in items:
            item["subnet_ip_availability"] = [
                s for s in item["subnet_ip_availability"] if str(s["ip_version"]) == version
            ]
            item["total_ips"] = sum(s["total_ips"] for s in item["subnet_ip_availability"])
            item["used_ips"] = sum(s["used_ips"] for s in item["subnet_ip_availability"])
            item[details.KEY] = details.summed(
                s[details.KEY] for s in item["subnet_ip_availability"]
            )
        items = [i for i in items if i["subnet_ip_availability"]]
    return list_response(
        request, "network_ip_availabilities", items, ATTRS, frozenset({"ip_version"}),
        key="network_id",
    )  # fmt: skip


@router.get("/v2.0/network-ip-availabilities/{network_id}")
def show_availability(
    network_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _admin(ctx)
    items = service(request).ip_availability([network_id])
    if not items:
        raise not_found("network", network_id)
    return show_response(request, "network_ip_availability", items[0])
