"""``/v3/types``: volume types, their extra specs and access lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import params, service
from kumo.context import RequestContext
from kumo.volume import encryption

router = APIRouter()


@router.get("/types")
def list_types(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"volume_types": service(request).list_types(ctx, params(request))})


@router.post("/types")
def create_type(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"volume_type": service(request).create_type(ctx, body)})


@router.get("/types/{type_id}")
def show_type(
    type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"volume_type": service(request).show_type(ctx, type_id)})


@router.put("/types/{type_id}")
def update_type(
    type_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response({"volume_type": service(request).update_type(ctx, type_id, body)})


@router.delete("/types/{type_id}")
def delete_type(
    type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_type(ctx, type_id)
    return Response(status_code=202)


@router.get("/types/{type_id}/extra_specs")
def list_specs(
    type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"extra_specs": service(request).type_specs(ctx, type_id)})


@router.post("/types/{type_id}/extra_specs")
def set_specs(
    type_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response({"extra_specs": service(request).set_type_specs(ctx, type_id, body)})


@router.get("/types/{type_id}/extra_specs/{key}")
def show_spec(
    type_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    specs = service(request).type_specs(ctx, type_id)
    if key not in specs:
        from kumo.errors import NotFound

        raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
    return json_response({key: specs[key]})


@router.put("/types/{type_id}/extra_specs/{key}")
def set_spec(
    type_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response(service(request).set_type_spec(ctx, type_id, key, body))


@router.delete("/types/{type_id}/extra_specs/{key}")
def delete_spec(
    type_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_type_spec(ctx, type_id, key)
    return Response(status_code=202)


@router.get("/types/{type_id}/os-volume-type-access")
def list_access(
    type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"volume_type_access": service(request).type_access(ctx, type_id)})


@router.post("/types/{type_id}/action")
def type_action(
    type_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    service(request).type_action(ctx, type_id, body)
    return Response(status_code=202)


@router.get("/types/{type_id}/encryption")
def show_encryption(
    type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).read(lambda s: encryption.show(s, ctx, type_id)))


@router.get("/types/{type_id}/encryption/{key}")
def show_encryption_item(
    type_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    shown = service(request).read(lambda s: encryption.show(s, ctx, type_id))
    if key not in encryption.FIELDS or not shown:
        from kumo.errors import NotFound

        raise NotFound(f"Volume type encryption for type {type_id} has no {key}.")
    return json_response({key: shown[key]})


@router.post("/types/{type_id}/encryption")
def create_encryption(
    type_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    made = service(request).write(lambda uow: encryption.create(uow, ctx, type_id, body))
    return json_response({"encryption": made})


@router.put("/types/{type_id}/encryption/{encryption_id}")
def update_encryption(
    type_id: str,
    encryption_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    changed = service(request).write(
        lambda uow: encryption.update(uow, ctx, type_id, encryption_id, body)
    )
    return json_response({"encryption": changed})


@router.delete("/types/{type_id}/encryption/{encryption_id}")
def delete_encryption(
    type_id: str, encryption_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).write(lambda uow: encryption.delete(uow, ctx, type_id, encryption_id))
    return Response(status_code=202)
