"""Networking v2.0: /v2.0/flavors, /v2.0/service_profiles and the binding of
profiles to flavors (``flavors``)."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.network.flavors import rows
from kumo.network.flavors import service as flavors

router = GatedRouter()
router.include_router(
    routes(
        Collection(
            collection="flavors",
            member="flavor",
            attributes=rows.FLAVOR_ATTRIBUTES,
            sql_filters=frozenset(flavors.FLAVOR_FILTERS),
            list_items=flavors.list_flavors,
            show=flavors.show_flavor,
            create=flavors.create_flavors,
            update=flavors.update_flavor,
            delete=flavors.delete_flavor,
        )
    )
)
router.include_router(
    routes(
        Collection(
            collection="service_profiles",
            member="service_profile",
            attributes=rows.PROFILE_ATTRIBUTES,
            sql_filters=frozenset(flavors.PROFILE_FILTERS),
            list_items=flavors.list_profiles,
            show=flavors.show_profile,
            create=flavors.create_profiles,
            update=flavors.update_profile,
            delete=flavors.delete_profile,
        )
    )
)


@router.post("/v2.0/flavors/{flavor_id}/service_profiles")
def bind_profile(
    flavor_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    sp_id = flavors.bind_profile(service(request), ctx, flavor_id, body)
    return json_response({"service_profile": {"id": sp_id}}, status=201)


@router.delete("/v2.0/flavors/{flavor_id}/service_profiles/{sp_id}")
def unbind_profile(
    flavor_id: str, sp_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    flavors.unbind_profile(service(request), ctx, flavor_id, sp_id)
    return Response(status_code=204)
