"""Networking v2.0: /v2.0/subnetpools, their add_prefixes / remove_prefixes
and onboard_network_subnets actions."""

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.network.subnetpools import service as pools

router = routes(
    Collection(
        collection="subnetpools",
        member="subnetpool",
        attributes=pools.ATTRIBUTES,
        sql_filters=frozenset(pools.SQL_FILTERS),
        list_items=pools.list_pools,
        show=pools.show_pool,
        create=pools.create_pools,
        update=pools.update_pool,
        delete=pools.delete_pool,
    )
)


@router.put("/v2.0/subnetpools/{pool_id}/add_prefixes")
def add_prefixes(
    pool_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    prefixes = pools.change_prefixes(service(request), ctx, pool_id, body, add=True)
    return json_response({"prefixes": prefixes})


@router.put("/v2.0/subnetpools/{pool_id}/remove_prefixes")
def remove_prefixes(
    pool_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    prefixes = pools.change_prefixes(service(request), ctx, pool_id, body, add=False)
    return json_response({"prefixes": prefixes})


@router.put("/v2.0/subnetpools/{pool_id}/onboard_network_subnets")
def onboard_network_subnets(
    pool_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(pools.onboard(service(request), ctx, pool_id, body))
