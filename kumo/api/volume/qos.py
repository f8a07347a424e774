"""``/v3/qos-specs``: QoS specs, their keys and their volume type associations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import base, params, service
from kumo.context import RequestContext
from kumo.volume import qos
from kumo.volume.common import boolean

router = APIRouter()


def _one(request: Request, shown: dict[str, Any]) -> dict[str, Any]:
    href = f"{base(request)}/v3/qos-specs/{shown['id']}"
    bookmark = f"{base(request)}/qos-specs/{shown['id']}"
    return {
        "qos_specs": shown,
        "links": [{"href": href, "rel": "self"}, {"href": bookmark, "rel": "bookmark"}],
    }


@router.get("/qos-specs")
def list_qos(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    found = service(request).read(lambda s: [qos.view(q) for q in qos.listing(s, ctx)])
    return json_response({"qos_specs": found})


@router.post("/qos-specs")
def create_qos(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    made = service(request).write(lambda uow: qos.view(qos.create(uow, ctx, body)))
    return json_response(_one(request, made))


@router.get("/qos-specs/{qos_id}")
def show_qos(
    qos_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    shown = service(request).read(lambda s: qos.view(qos.show(s, ctx, qos_id)))
    return json_response(_one(request, shown))


@router.put("/qos-specs/{qos_id}")
def set_qos_keys(
    qos_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    changed = service(request).write(lambda uow: qos.set_keys(uow, ctx, qos_id, body))
    return json_response({"qos_specs": changed})


@router.put("/qos-specs/{qos_id}/delete_keys")
def delete_qos_keys(
    qos_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    service(request).write(lambda uow: qos.delete_keys(uow, ctx, qos_id, body))
    return Response(status_code=202)


@router.delete("/qos-specs/{qos_id}")
def delete_qos(
    qos_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    force = boolean(request.query_params.get("force", "false"), "force")
    service(request).write(lambda uow: qos.delete(uow, ctx, qos_id, force=force))
    return Response(status_code=202)


@router.get("/qos-specs/{qos_id}/associations")
def qos_associations(
    qos_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    found = service(request).read(lambda s: qos.associations(s, ctx, qos_id))
    return json_response({"qos_associations": found})


@router.get("/qos-specs/{qos_id}/associate")
def associate_qos(
    qos_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).write(lambda uow: qos.associate(uow, ctx, qos_id, params(request)))
    return Response(status_code=202)


@router.get("/qos-specs/{qos_id}/disassociate")
def disassociate_qos(
    qos_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).write(lambda uow: qos.disassociate(uow, ctx, qos_id, params(request)))
    return Response(status_code=202)


@router.get("/qos-specs/{qos_id}/disassociate_all")
def disassociate_all_qos(
    qos_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).write(lambda uow: qos.disassociate(uow, ctx, qos_id, None))
    return Response(status_code=202)
