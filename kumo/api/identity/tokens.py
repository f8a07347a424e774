"""/v3/auth: issue, validate, revoke tokens; the caller's catalog, projects, domains."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.identity import views
from kumo.api.identity.common import identity, member
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.errors import BadRequest, Unauthorized
from kumo.identity import catalog

router = APIRouter()


def _subject(request: Request) -> str:
    token = request.headers.get("x-subject-token")
    if not token:
        raise BadRequest("X-Subject-Token header is required.")
    return token


@router.post("/v3/auth/tokens")
def issue(request: Request, body: Any = Body(None)) -> Response:
    auth = member(body, "auth")
    svc = identity(request)
    token, payload = svc.authenticate(auth)
    info = svc.scope_info(payload)
    nocatalog = "nocatalog" in request.query_params
    data = views.token(request, svc, payload, info, with_catalog=not nocatalog)
    return json_response(data, status=201, headers={"X-Subject-Token": token})


@router.get("/v3/auth/tokens")
def validate(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    svc = identity(request)
    subject = _subject(request)
    payload, info = svc.check_subject_token(subject)
    nocatalog = "nocatalog" in request.query_params
    data = views.token(request, svc, payload, info, with_catalog=not nocatalog)
    return json_response(data, headers={"X-Subject-Token": subject})


@router.head("/v3/auth/tokens")
def check(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    identity(request).check_subject_token(_subject(request))
    return Response(status_code=200)


@router.delete("/v3/auth/tokens")
def revoke(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    identity(request).revoke_token(_subject(request))
    return no_content()


@router.get("/v3/auth/catalog")
def auth_catalog(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    if not (ctx.project_id or ctx.domain_id or ctx.system_scope):
        raise Unauthorized("The request you have made requires authentication.")
    svc = identity(request)
    return json_response(
        {
            "catalog": catalog.catalog(
                views.base_url(request), svc.settings.region, ctx.project_id
            ),
            "links": views.collection_links(request, "auth/catalog"),
        }
    )


@router.get("/v3/auth/projects")
def auth_projects(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    projects = identity(request).user_projects(ctx.user_id)
    return json_response(
        {
            "projects": [views.project(request, p) for p in projects if p.enabled],
            "links": views.collection_links(request, "auth/projects"),
        }
    )


@router.get("/v3/auth/domains")
def auth_domains(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    domains = identity(request).user_domains(ctx.user_id)
    return json_response(
        {
            "domains": [views.domain(request, d) for d in domains if d.enabled],
            "links": views.collection_links(request, "auth/domains"),
        }
    )


@router.get("/v3/auth/system")
def auth_system(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    rows = identity(request).assignments(user_id=ctx.user_id, system=True)
    return json_response(
        {
            "system": [{"all": True}] if rows else [],
            "links": views.collection_links(request, "auth/system"),
        }
    )
