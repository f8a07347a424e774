"""``/stacks``: create, list, look up (with Heat's redirects), show, update,
delete, actions, and the stack's resources, events, outputs and template."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from kumo.api.auth import authenticate
from kumo.api.orchestration.common import endpoint, flag, query, service
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext

router = APIRouter()
SUBPATHS = ("resources", "events", "outputs", "template", "environment", "files")


@router.get("/stacks")
def list_stacks(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    stacks = service(request).list_stacks(
        ctx, project_id, query(request), endpoint(request, project_id)
    )
    return json_response({"stacks": stacks})


@router.post("/stacks")
async def create_stack(
    project_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    svc = service(request)
    made = await run_in_threadpool(
        svc.create_stack, ctx, project_id, body, endpoint(request, project_id)
    )
    r = json_response({"stack": made}, status=201)
    # Heat names the new stack in Location (the address clients poll)
    r.headers["Location"] = (
        f"{endpoint(request, project_id)}/stacks/{body['stack_name']}/{made['id']}"
    )
    return r


@router.post("/stacks/preview")
def preview_stack(
    project_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    made = service(request).preview_stack(ctx, project_id, body, endpoint(request, project_id))
    return json_response({"stack": made})


def _redirect(
    request: Request, project_id: str, name: str, stack_id: str, sub: str = ""
) -> Response:
    url = f"{endpoint(request, project_id)}/stacks/{name}/{stack_id}" + (f"/{sub}" if sub else "")
    if request.url.query:
        url += "?" + request.url.query
    return RedirectResponse(url, status_code=302)


@router.get("/stacks/{stack_name}")
def lookup_stack(
    project_id: str, stack_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    row = service(request).lookup(ctx, project_id, stack_name)
    return _redirect(request, project_id, row.name, row.id)


@router.get("/stacks/{stack_name}/{stack_id}")
def show_stack(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    svc = service(request)
    if stack_id in SUBPATHS:
        row = svc.lookup(ctx, project_id, stack_name)
        return _redirect(request, project_id, row.name, row.id, stack_id)
    shown = svc.show_stack(ctx, project_id, stack_name, stack_id, endpoint(request, project_id),
                           resolve_outputs=flag(request, "resolve_outputs", True))  # fmt: skip
    return json_response({"stack": shown})


async def _update(request: Request, ctx: RequestContext, project_id: str, ident: str,
                  body: Any, patch: bool) -> Response:  # fmt: skip
    svc = service(request)
    await run_in_threadpool(lambda: svc.update_stack(ctx, project_id, ident, body, patch=patch))
    return Response(status_code=202)


def _lookup_redirect(
    project_id: str, stack_name: str, request: Request, ctx: RequestContext
) -> Response:
    """Heat answers a stack named without its id, whatever the method, with 302 to
    the stack's own URL; clients (python-heatclient, keystoneauth) send the same
    request again there."""
    row = service(request).lookup(ctx, project_id, stack_name)
    return _redirect(request, project_id, row.name, row.id)


@router.put("/stacks/{stack_name}")
def update_stack_by_name(
    project_id: str, stack_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return _lookup_redirect(project_id, stack_name, request, ctx)


@router.patch("/stacks/{stack_name}")
def patch_stack_by_name(
    project_id: str, stack_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return _lookup_redirect(project_id, stack_name, request, ctx)


@router.put("/stacks/{stack_name}/{stack_id}")
async def update_stack(
    project_id: str, stack_name: str, stack_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    service(request)._named(project_id, stack_name, stack_id)
    return await _update(request, ctx, project_id, stack_id, body, False)


@router.patch("/stacks/{stack_name}/{stack_id}")
async def patch_stack(
    project_id: str, stack_name: str, stack_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    service(request)._named(project_id, stack_name, stack_id)
    return await _update(request, ctx, project_id, stack_id, body, True)


@router.delete("/stacks/{stack_name}")
def delete_stack_by_name(
    project_id: str, stack_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return _lookup_redirect(project_id, stack_name, request, ctx)


@router.delete("/stacks/{stack_name}/{stack_id}")
def delete_stack(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    svc = service(request)
    svc._named(project_id, stack_name, stack_id)
    svc.delete_stack(ctx, project_id, stack_id)
    return no_content()


@router.post("/stacks/{stack_name}/actions")
def stack_action_by_name(
    project_id: str, stack_name: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    service(request).stack_action(ctx, project_id, stack_name, body)
    return Response(status_code=200)


@router.post("/stacks/{stack_name}/{stack_id}/actions")
def stack_action(
    project_id: str, stack_name: str, stack_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    svc = service(request)
    svc._named(project_id, stack_name, stack_id)
    svc.stack_action(ctx, project_id, stack_id, body)
    return Response(status_code=200)


@router.get("/stacks/{stack_name}/{stack_id}/resources")
def list_resources(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    items = service(request).list_resources(ctx, project_id, stack_name, stack_id,
                                            endpoint(request, project_id), query(request))  # fmt: skip
    return json_response({"resources": items})


@router.get("/stacks/{stack_name}/{stack_id}/resources/{resource_name}")
def show_resource(
    project_id: str, stack_name: str, stack_id: str, resource_name: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    shown = service(request).show_resource(
        ctx, project_id, stack_name, stack_id, resource_name, endpoint(request, project_id),
        request.query_params.getlist("with_attr"),
    )  # fmt: skip
    return json_response({"resource": shown})


@router.patch("/stacks/{stack_name}/{stack_id}/resources/{resource_name}")
def mark_unhealthy(
    project_id: str, stack_name: str, stack_id: str, resource_name: str, request: Request,
    body: Any = Body(None), ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    service(request).mark_unhealthy(ctx, project_id, stack_name, stack_id, resource_name, body)
    return json_response({})


@router.post("/stacks/{stack_name}/{stack_id}/resources/{resource_name}/signal")
def signal_resource(
    project_id: str, stack_name: str, stack_id: str, resource_name: str, request: Request,
    body: Any = Body(None), ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    service(request).signal(ctx, project_id, stack_name, stack_id, resource_name, body)
    return Response(status_code=200)


@router.get("/stacks/{stack_name}/{stack_id}/events")
def list_events(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    items = service(request).list_events(ctx, project_id, stack_id, endpoint(request, project_id),
                                         query(request), name=stack_name)  # fmt: skip
    return json_response({"events": items})


@router.get("/stacks/{stack_name}/{stack_id}/resources/{resource_name}/events")
def list_resource_events(
    project_id: str, stack_name: str, stack_id: str, resource_name: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    items = service(request).list_events(ctx, project_id, stack_id, endpoint(request, project_id),
                                         query(request), name=stack_name, resource=resource_name)  # fmt: skip
    return json_response({"events": items})


@router.get("/stacks/{stack_name}/{stack_id}/resources/{resource_name}/events/{event_id}")
def show_event(
    project_id: str, stack_name: str, stack_id: str, resource_name: str, event_id: str,
    request: Request, ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    shown = service(request).show_event(ctx, project_id, stack_name, stack_id, resource_name,
                                        event_id, endpoint(request, project_id))  # fmt: skip
    return json_response({"event": shown})


@router.get("/stacks/{stack_name}/{stack_id}/outputs")
def list_outputs(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    outs = service(request).outputs(ctx, project_id, stack_name, stack_id)
    brief = [{"output_key": o["output_key"], "description": o["description"]} for o in outs]
    return json_response({"outputs": brief})


@router.get("/stacks/{stack_name}/{stack_id}/outputs/{output_key}")
def show_output(
    project_id: str, stack_name: str, stack_id: str, output_key: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    out = service(request).output(ctx, project_id, stack_name, stack_id, output_key)
    return json_response({"output": out})


@router.get("/stacks/{stack_name}/{stack_id}/template")
def stack_template(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    return json_response(service(request).stack_template(ctx, project_id, stack_name, stack_id))


@router.get("/stacks/{stack_name}/{stack_id}/environment")
def stack_environment(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    env = service(request).stack_environment(ctx, project_id, stack_name, stack_id)
    return json_response(env)


@router.get("/stacks/{stack_name}/{stack_id}/files")
def stack_files(
    project_id: str, stack_name: str, stack_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    return json_response(service(request).stack_files(ctx, project_id, stack_name, stack_id))
