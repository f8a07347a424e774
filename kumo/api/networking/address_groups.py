"""Networking v2.0: /v2.0/address-groups and their add/remove_addresses actions."""

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.network.address_groups import service as groups

router = routes(
    Collection(
        collection="address_groups",
        member="address_group",
        path="address-groups",
        attributes=groups.ATTRIBUTES,
        sql_filters=frozenset(groups.SQL_FILTERS),
        list_items=groups.list_groups,
        show=groups.show_group,
        create=groups.create_groups,
        update=groups.update_group,
        delete=groups.delete_group,
    )
)


@router.put("/v2.0/address-groups/{group_id}/add_addresses")
def add_addresses(
    group_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    view = groups.change_addresses(service(request), ctx, group_id, body, add=True)
    return json_response({"address_group": view})


@router.put("/v2.0/address-groups/{group_id}/remove_addresses")
def remove_addresses(
    group_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    view = groups.change_addresses(service(request), ctx, group_id, body, add=False)
    return json_response({"address_group": view})
