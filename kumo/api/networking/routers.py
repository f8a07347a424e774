"""Networking v2.0: /v2.0/routers, its interface and extra-route actions."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.network.l3 import router_service as rs
from kumo.network.l3.views import ATTRIBUTES
from kumo.network.validate import member

router = GatedRouter()
router.include_router(
    routes(
        Collection(
            collection="routers",
            member="router",
            attributes=ATTRIBUTES["routers"],
            sql_filters=frozenset(rs.ROUTER_SQL_FILTERS),
            list_items=rs.list_routers,
            show=rs.show_router,
            create=rs.create_routers,
            update=rs.update_router,
            delete=rs.delete_router,
        )
    )
)


@router.put("/v2.0/routers/{router_id}/add_router_interface")
def add_router_interface(
    router_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(rs.add_interface(service(request), ctx, router_id, body))


@router.put("/v2.0/routers/{router_id}/remove_router_interface")
def remove_router_interface(
    router_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(rs.remove_interface(service(request), ctx, router_id, body))


@router.put("/v2.0/routers/{router_id}/add_extraroutes")
def add_extraroutes(
    router_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    data = member(body, "router")
    return json_response(
        {"router": rs.change_routes(service(request), ctx, router_id, data, add=True)}
    )


@router.put("/v2.0/routers/{router_id}/remove_extraroutes")
def remove_extraroutes(
    router_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    data = member(body, "router")
    return json_response(
        {"router": rs.change_routes(service(request), ctx, router_id, data, add=False)}
    )
