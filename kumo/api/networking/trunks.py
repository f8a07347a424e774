"""Networking v2.0: /v2.0/trunks — CRUD, and the ``add_subports``,
``remove_subports`` and ``get_subports`` member actions."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.network.trunks import service as trunks

router = GatedRouter(local="/v2.0/trunks")
router.include_router(
    routes(
        Collection(
            collection="trunks",
            member="trunk",
            attributes=trunks.ATTRIBUTES,
            sql_filters=frozenset(trunks.SQL_FILTERS),
            list_items=trunks.list_trunks,
            show=trunks.show_trunk,
            create=trunks.create_trunks,
            update=trunks.update_trunk,
            delete=trunks.delete_trunk,
        )
    )
)


@router.put("/v2.0/trunks/{trunk_id}/add_subports")
def add_subports(
    trunk_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(trunks.change_subports(service(request), ctx, trunk_id, body, "add"))


@router.put("/v2.0/trunks/{trunk_id}/remove_subports")
def remove_subports(
    trunk_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(trunks.change_subports(service(request), ctx, trunk_id, body, "remove"))


@router.get("/v2.0/trunks/{trunk_id}/get_subports")
def get_subports(
    trunk_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(trunks.get_subports(service(request), ctx, trunk_id))
