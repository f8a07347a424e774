"""``/flavors``: list, detail, show; admin create and delete; extra specs and access."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import base, params, service, version
from kumo.api.compute.paging import page
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import BadRequest, NotFound

router = APIRouter()


def _list(request: Request, ctx: RequestContext, *, detail: bool) -> Response:
    items = service(request).list_flavors(
        ctx, params(request), base(request), version(request), detail=detail
    )
    return json_response(page(request, "flavors", items))


@router.get("/flavors")
def list_flavors(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, detail=False)


@router.get("/flavors/detail")
def list_flavors_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, detail=True)


@router.get("/flavors/{flavor_id}")
def show_flavor(
    flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    flavor = service(request).show_flavor(ctx, flavor_id, base(request), version(request))
    return json_response({"flavor": flavor})


@router.post("/flavors")
def create_flavor(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    flavor = service(request).create_flavor(ctx, body, base(request), version(request))
    return json_response({"flavor": flavor})


@router.put("/flavors/{flavor_id}")
def update_flavor(
    flavor_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if not version(request).at_least("2.55"):
        raise NotFound("The resource could not be found.")
    flavor = service(request).update_flavor(ctx, flavor_id, body, base(request), version(request))
    return json_response({"flavor": flavor})


@router.delete("/flavors/{flavor_id}")
def delete_flavor(
    flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_flavor(ctx, flavor_id)
    return Response(status_code=202)


@router.get("/flavors/{flavor_id}/os-extra_specs")
def extra_specs(
    flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"extra_specs": service(request).flavor_extra_specs(ctx, flavor_id)})


@router.post("/flavors/{flavor_id}/os-extra_specs")
def set_extra_specs(
    flavor_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    specs = body.get("extra_specs") if isinstance(body, dict) else None
    merged = service(request).set_flavor_extra_specs(ctx, flavor_id, specs)
    return json_response({"extra_specs": merged})


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}")
def extra_spec(
    flavor_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).flavor_extra_spec(ctx, flavor_id, key))


@router.put("/flavors/{flavor_id}/os-extra_specs/{key}")
def set_extra_spec(
    flavor_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(service(request).set_flavor_extra_spec(ctx, flavor_id, key, body))


@router.delete("/flavors/{flavor_id}/os-extra_specs/{key}")
def unset_extra_spec(
    flavor_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).unset_flavor_extra_spec(ctx, flavor_id, key)
    return Response(status_code=200)


@router.get("/flavors/{flavor_id}/os-flavor-access")
def flavor_access(
    flavor_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"flavor_access": service(request).flavor_access(ctx, flavor_id)})


@router.post("/flavors/{flavor_id}/action")
def flavor_action(
    flavor_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    action = next(iter(body), None) if isinstance(body, dict) and len(body) == 1 else None
    arg = body[action] if action else None
    if action not in ("addTenantAccess", "removeTenantAccess") or not (
        isinstance(arg, dict) and isinstance(arg.get("tenant"), str)
    ):
        raise BadRequest(
            "Invalid input: expected addTenantAccess or removeTenantAccess with a tenant."
        )
    svc = service(request)
    if action == "addTenantAccess":
        access = svc.add_flavor_access(ctx, flavor_id, arg["tenant"])
    else:
        access = svc.remove_flavor_access(ctx, flavor_id, arg["tenant"])
    return json_response({"flavor_access": access})
