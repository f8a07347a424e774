"""``/v3/group_types`` (3.11), ``/v3/groups`` (3.13), ``/v3/group_snapshots`` (3.14)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import params, service, version
from kumo.context import RequestContext
from kumo.volume import groups
from kumo.volume.microversion import require

router = APIRouter()


def _v(request: Request, at_least: str, what: str) -> None:
    require(version(request), at_least, what)


def _with_project(request: Request) -> bool:
    """Group and group snapshot views carry ``project_id`` from 3.58."""
    return version(request).at_least("3.58")


# -- group types ------------------------------------------------------------------------


@router.get("/group_types")
def list_group_types(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _v(request, "3.11", "Group types")
    return json_response({"group_types": service(request).list_group_types(ctx, params(request))})


@router.post("/group_types")
def create_group_type(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.11", "Group types")
    out = service(request).create_group_type(ctx, body)
    return json_response({"group_type": out}, 202)


@router.get("/group_types/{group_type_id}")
def show_group_type(
    group_type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.11", "Group types")
    return json_response({"group_type": service(request).show_group_type(ctx, group_type_id)})


@router.put("/group_types/{group_type_id}")
def update_group_type(
    group_type_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.11", "Group types")
    out = service(request).update_group_type(ctx, group_type_id, body)
    return json_response({"group_type": out})


@router.delete("/group_types/{group_type_id}")
def delete_group_type(
    group_type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.11", "Group types")
    service(request).delete_group_type(ctx, group_type_id)
    return Response(status_code=202)


@router.get("/group_types/{group_type_id}/group_specs")
def list_group_specs(
    group_type_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.11", "Group specs")
    return json_response({"group_specs": service(request).group_specs(ctx, group_type_id)})


@router.post("/group_types/{group_type_id}/group_specs")
def set_group_specs(
    group_type_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.11", "Group specs")
    out = service(request).set_group_specs(ctx, group_type_id, body)
    return json_response({"group_specs": out}, 202)


@router.get("/group_types/{group_type_id}/group_specs/{key}")
def show_group_spec(
    group_type_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.11", "Group specs")
    specs = service(request).group_specs(ctx, group_type_id)
    if key not in specs:
        from kumo.errors import NotFound

        raise NotFound(f"Group type {group_type_id} has no group spec {key}.")
    return json_response({key: specs[key]})


@router.put("/group_types/{group_type_id}/group_specs/{key}")
def set_group_spec(
    group_type_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.11", "Group specs")
    return json_response(service(request).set_group_spec(ctx, group_type_id, key, body))


@router.delete("/group_types/{group_type_id}/group_specs/{key}")
def delete_group_spec(
    group_type_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.11", "Group specs")
    service(request).delete_group_spec(ctx, group_type_id, key)
    return Response(status_code=202)


# -- groups -----------------------------------------------------------------------------


@router.get("/groups")
def list_groups(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _v(request, "3.13", "Groups")
    return json_response(
        {
            "groups": service(request).list_groups(
                ctx, params(request), detail=False, with_project=_with_project(request)
            )
        }
    )


@router.get("/groups/detail")
def list_groups_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _v(request, "3.13", "Groups")
    return json_response(
        {
            "groups": service(request).list_groups(
                ctx, params(request), detail=True, with_project=_with_project(request)
            )
        }
    )


@router.post("/groups")
def create_group(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.13", "Groups")
    return json_response({"group": service(request).create_group(ctx, body)}, status=202)


@router.post("/groups/action")
def create_group_from_source(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.14", "Groups from a source")
    svc, ver = service(request), version(request)
    g = svc.write(lambda uow: groups.create_from_source(uow, svc.settings, ctx, body, ver))
    return json_response({"group": {"id": g.id, "name": g.name}}, status=202)


@router.get("/groups/{group_id}")
def show_group(
    group_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.13", "Groups")
    with_volumes = version(request).at_least("3.25") and (
        request.query_params.get("list_volume", "").lower() == "true"
    )
    return json_response(
        {
            "group": service(request).show_group(
                ctx, group_id, with_volumes=with_volumes, with_project=_with_project(request)
            )
        }
    )


@router.put("/groups/{group_id}")
def update_group(
    group_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.13", "Groups")
    service(request).update_group(ctx, group_id, body)
    return Response(status_code=202)


@router.post("/groups/{group_id}/action")
def group_action(
    group_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.13", "Groups")
    service(request).group_action(ctx, group_id, body, version(request))
    return Response(status_code=202)


# -- group snapshots ----------------------------------------------------------------------


@router.get("/group_snapshots")
def list_group_snapshots(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _v(request, "3.14", "Group snapshots")
    items = service(request).list_group_snapshots(
        ctx, params(request), detail=False, with_project=_with_project(request)
    )
    return json_response({"group_snapshots": items})


@router.get("/group_snapshots/detail")
def list_group_snapshots_detail(
    request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.14", "Group snapshots")
    items = service(request).list_group_snapshots(
        ctx, params(request), detail=True, with_project=_with_project(request)
    )
    return json_response({"group_snapshots": items})


@router.post("/group_snapshots")
def create_group_snapshot(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.14", "Group snapshots")
    out = service(request).create_group_snapshot(ctx, body)
    return json_response({"group_snapshot": out}, status=202)


@router.get("/group_snapshots/{group_snapshot_id}")
def show_group_snapshot(
    group_snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.14", "Group snapshots")
    out = service(request).show_group_snapshot(
        ctx, group_snapshot_id, with_project=_with_project(request)
    )
    return json_response({"group_snapshot": out})


@router.post("/group_snapshots/{group_snapshot_id}/action")
def group_snapshot_action(
    group_snapshot_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.19", "Group snapshot actions")
    service(request).write(
        lambda uow: groups.reset_snapshot_status(uow, ctx, group_snapshot_id, body)
    )
    return Response(status_code=202)


@router.delete("/group_snapshots/{group_snapshot_id}")
def delete_group_snapshot(
    group_snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request, "3.14", "Group snapshots")
    service(request).delete_group_snapshot(ctx, group_snapshot_id)
    return Response(status_code=202)
