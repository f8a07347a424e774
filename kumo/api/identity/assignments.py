"""Role grants on projects, domains and the system; /v3/role_assignments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.identity import views
from kumo.api.identity.common import flag, identity
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.policy import authorize

router = APIRouter()


def _target(kind: str, target_id: str) -> tuple[str, str]:
    return (kind, target_id) if kind != "system" else ("system", "all")


for _kind, _prefix in (
    ("project", "/v3/projects/{target_id}"),
    ("domain", "/v3/domains/{target_id}"),
):

    def _make(kind: str, prefix: str) -> None:
        @router.put(prefix + "/users/{user_id}/roles/{role_id}")
        def put(
            target_id: str,
            user_id: str,
            role_id: str,
            request: Request,
            ctx: RequestContext = Depends(authenticate),
        ) -> Response:
            authorize(ctx, "identity:manage_grants")
            identity(request).grant(user_id, kind, target_id, role_id)
            return no_content()

        @router.head(prefix + "/users/{user_id}/roles/{role_id}")
        @router.get(prefix + "/users/{user_id}/roles/{role_id}")
        def check(
            target_id: str,
            user_id: str,
            role_id: str,
            request: Request,
            ctx: RequestContext = Depends(authenticate),
        ) -> Response:
            authorize(ctx, "identity:manage_grants")
            if not identity(request).has_grant(user_id, kind, target_id, role_id):
                raise NotFound(f"Could not find role assignment with role: {role_id}.")
            return no_content()

        @router.delete(prefix + "/users/{user_id}/roles/{role_id}")
        def revoke(
            target_id: str,
            user_id: str,
            role_id: str,
            request: Request,
            ctx: RequestContext = Depends(authenticate),
        ) -> Response:
            authorize(ctx, "identity:manage_grants")
            identity(request).revoke_grant(user_id, kind, target_id, role_id)
            return no_content()

        @router.get(prefix + "/users/{user_id}/roles")
        def list_grants(
            target_id: str,
            user_id: str,
            request: Request,
            ctx: RequestContext = Depends(authenticate),
        ) -> Response:
            authorize(ctx, "identity:manage_grants")
            roles = identity(request).grants(user_id, kind, target_id)
            return json_response(
                {
                    "roles": [views.role(request, r) for r in roles],
                    "links": views.collection_links(request, "roles"),
                }
            )

    _make(_kind, _prefix)


@router.put("/v3/system/users/{user_id}/roles/{role_id}")
def put_system(
    user_id: str, role_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    authorize(ctx, "identity:manage_grants")
    identity(request).grant(user_id, "system", "all", role_id)
    return no_content()


@router.get("/v3/system/users/{user_id}/roles")
def list_system(
    user_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    authorize(ctx, "identity:manage_grants")
    roles = identity(request).grants(user_id, "system", "all")
    return json_response(
        {
            "roles": [views.role(request, r) for r in roles],
            "links": views.collection_links(request, "roles"),
        }
    )


@router.delete("/v3/system/users/{user_id}/roles/{role_id}")
def revoke_system(
    user_id: str, role_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    authorize(ctx, "identity:manage_grants")
    identity(request).revoke_grant(user_id, "system", "all", role_id)
    return no_content()


@router.get("/v3/role_assignments")
def role_assignments(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    q = request.query_params
    user_id = q.get("user.id")
    authorize(ctx, "identity:list_role_assignments", {"user_id": user_id})
    svc = identity(request)
    rows = svc.assignments(
        user_id=user_id,
        project_id=q.get("scope.project.id"),
        domain_id=q.get("scope.domain.id"),
        system=q.get("scope.system") is not None,
        role_id=q.get("role.id"),
        effective=flag(q.get("effective")) is True if "effective" in q else False,
    )
    names: dict[Any, Any] | None = None
    if flag(q.get("include_names")):
        names = {}
        for a, _r in rows:
            try:
                u = svc.get("user", a.actor_id)
                names[("user", u.id)] = u
                names.setdefault(("domain", u.domain_id), svc.get("domain", u.domain_id).name)
                if a.target_type == "project":
                    p = svc.get("project", a.target_id)
                    names[("project", p.id)] = p
                    names.setdefault(("domain", p.domain_id), svc.get("domain", p.domain_id).name)
                elif a.target_type == "domain":
                    names[("domain", a.target_id)] = svc.get("domain", a.target_id).name
            except NotFound:
                continue
    return json_response(
        {
            "role_assignments": [views.assignment(request, a, r, names) for a, r in rows],
            "links": views.collection_links(request, "role_assignments"),
        }
    )
