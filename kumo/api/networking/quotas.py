"""Networking v2.0: /v2.0/quotas."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import Forbidden
from kumo.network import quotas
from kumo.network.validate import member
from kumo.policy import allowed, unrestricted

router = APIRouter()


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _may_read(ctx: RequestContext, project_id: str) -> None:
    if not allowed(ctx, "network:get_quota", {"project_id": project_id}):
        raise Forbidden("(rule:get_quota) is disallowed by policy")


@router.get("/v2.0/quotas")
def list_quotas(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    rt = _runtime(request)
    with rt.db.read_session() as s:
        everyone = unrestricted(ctx, "network:update_quota")
        projects = quotas.projects_with_overrides(s) if everyone else [ctx.project_id]
        items = [
            {**quotas.limits(s, rt.settings, p), "project_id": p, "tenant_id": p}
            for p in projects
            if p
        ]
    return json_response({"quotas": items})


@router.get("/v2.0/quotas/{project_id}/default")
def default_quota(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _may_read(ctx, project_id)
    return json_response({"quota": dict(_runtime(request).settings.default_quotas)})


@router.get("/v2.0/quotas/{project_id}/details")
def quota_details(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _may_read(ctx, project_id)
    rt = _runtime(request)
    with rt.db.read_session() as s:
        lim = quotas.limits(s, rt.settings, project_id)
        body = {
            r: {"limit": v, "used": quotas.usage(s, project_id, r), "reserved": 0}
            for r, v in lim.items()
        }
    return json_response({"quota": body})


@router.get("/v2.0/quotas/{project_id}")
def show_quota(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _may_read(ctx, project_id)
    rt = _runtime(request)
    with rt.db.read_session() as s:
        return json_response({"quota": quotas.limits(s, rt.settings, project_id)})


@router.put("/v2.0/quotas/{project_id}")
def update_quota(
    project_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if not allowed(ctx, "network:update_quota"):
        raise Forbidden("(rule:update_quota) is disallowed by policy")
    rt = _runtime(request)
    change = quotas.parse_update(rt.settings, member(body, "quota"))

    def work(uow: UnitOfWork) -> None:
        quotas.update(uow.session, project_id, change)

    run_in_transaction(rt.db, work)
    with rt.db.read_session() as s:
        return json_response({"quota": quotas.limits(s, rt.settings, project_id)})


@router.delete("/v2.0/quotas/{project_id}")
def delete_quota(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    if not allowed(ctx, "network:update_quota"):
        raise Forbidden("(rule:delete_quota) is disallowed by policy")
    run_in_transaction(_runtime(request).db, lambda uow: quotas.reset(uow.session, project_id))
    return no_content()
