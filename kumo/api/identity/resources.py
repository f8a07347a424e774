"""/v3 domains, projects, users, roles (and an empty groups collection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.identity import views
from kumo.api.identity.common import SHOW_RULES, WRITE_RULES, flag, identity, member
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize, unrestricted

router = APIRouter()
Render = Callable[[Request, Any], dict[str, Any]]
KINDS: dict[str, tuple[str, str, Render, tuple[str, ...]]] = {
    # collection: (kind, member key, view, filters)
    "domains": ("domain", "domain", views.domain, ("name", "enabled")),
    "projects": (
        "project",
        "project",
        views.project,
        ("name", "domain_id", "enabled", "parent_id"),
    ),
    "users": ("user", "user", views.user, ("name", "domain_id", "enabled")),
    "roles": ("role", "role", views.role, ("name", "domain_id")),
}


def _filters(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in allowed:
        value = request.query_params.get(key)
        if value is None:
            continue
        out[key] = flag(value) if key == "enabled" else value
    return out


def _list(collection: str) -> Callable[..., Response]:
    kind, _, render, allowed = KINDS[collection]

    def handler(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
        filters = _filters(request, allowed)
        authorize(ctx, f"identity:list_{collection}")
        rows = identity(request).list_rows(kind, **filters)
        return json_response(
            {
                collection: [render(request, r) for r in rows],
                "links": views.collection_links(request, collection),
            }
        )

    return handler


def _show(collection: str) -> Callable[..., Response]:
    kind, key, render, _ = KINDS[collection]

    def handler(
        ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        name, attribute = SHOW_RULES[collection]
        authorize(ctx, name, {attribute: ident})
        return json_response({key: render(request, identity(request).get(kind, ident))})

    return handler


def _create(collection: str) -> Callable[..., Response]:
    kind, key, render, _ = KINDS[collection]

    def handler(
        request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        authorize(ctx, WRITE_RULES[collection])
        obj = getattr(identity(request), f"create_{kind}")(member(body, key))
        return json_response({key: render(request, obj)}, status=201)

    return handler


def _update(collection: str) -> Callable[..., Response]:
    kind, key, render, _ = KINDS[collection]

    def handler(
        ident: str,
        request: Request,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authenticate),
    ) -> Response:
        data = member(body, key)
        if collection == "users":
            authorize(ctx, "identity:update_user", {"user_id": ident})
            if not unrestricted(ctx, "identity:manage_users"):
                own = {"name", "description", "email", "default_project_id"}
                if set(data) - own:
                    authorize(ctx, "identity:manage_users")
        else:
            authorize(ctx, WRITE_RULES[collection])
        if "id" in data and data["id"] != ident:
            raise BadRequest(f"Cannot change {kind} ID")
        obj = getattr(identity(request), f"update_{kind}")(ident, data)
        return json_response({key: render(request, obj)})

    return handler


def _delete(collection: str) -> Callable[..., Response]:
    kind, _, _, _ = KINDS[collection]

    def handler(
        ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        authorize(ctx, WRITE_RULES[collection])
        getattr(identity(request), f"delete_{kind}")(ident)
        return no_content()

    return handler


for _collection in KINDS:
    router.add_api_route(f"/v3/{_collection}", _list(_collection), methods=["GET"])
    router.add_api_route(f"/v3/{_collection}", _create(_collection), methods=["POST"])
    router.add_api_route(f"/v3/{_collection}/{{ident}}", _show(_collection), methods=["GET"])
    router.add_api_route(f"/v3/{_collection}/{{ident}}", _update(_collection), methods=["PATCH"])
    router.add_api_route(f"/v3/{_collection}/{{ident}}", _delete(_collection), methods=["DELETE"])


@router.post("/v3/users/{user_id}/password")
def change_password(
    user_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    authorize(ctx, "identity:change_password", {"user_id": user_id})
    data = member(body, "user")
    identity(request).change_password(user_id, data.get("original_password"), data.get("password"))
    return no_content()


@router.get("/v3/users/{user_id}/projects")
def user_projects(
    user_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    authorize(ctx, "identity:list_user_projects", {"user_id": user_id})
    projects = identity(request).user_projects(user_id)
    return json_response(
        {
            "projects": [views.project(request, p) for p in projects],
            "links": views.collection_links(request, f"users/{user_id}/projects"),
        }
    )


@router.get("/v3/groups")
def groups(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    authorize(ctx, "identity:list_groups")
    return json_response({"groups": [], "links": views.collection_links(request, "groups")})


@router.get("/v3/users/{user_id}/groups")
def user_groups(
    user_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    authorize(ctx, "identity:list_groups_for_user", {"user_id": user_id})
    identity(request).get("user", user_id)
    return json_response(
        {"groups": [], "links": views.collection_links(request, f"users/{user_id}/groups")}
    )


def _project_tags(request: Request, ctx: RequestContext, project_id: str, action: str) -> list[str]:
    reading = action == "get_project_tags"
    name = "identity:get_project_tags" if reading else "identity:manage_project_tags"
    authorize(ctx, name, {"id": project_id})
    return list(identity(request).get("project", project_id).tags or [])


@router.get("/v3/projects/{project_id}/tags")
def list_project_tags(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"tags": _project_tags(request, ctx, project_id, "get_project_tags")})


@router.put("/v3/projects/{project_id}/tags")
def replace_project_tags(
    project_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _project_tags(request, ctx, project_id, "update_project_tags")
    if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
        raise BadRequest("Invalid input for field 'tags': expected a list")
    tags = list(dict.fromkeys(body["tags"]))
    project = identity(request).update_project(project_id, {"tags": tags})
    return json_response({"tags": list(project.tags)})


@router.delete("/v3/projects/{project_id}/tags")
def clear_project_tags(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _project_tags(request, ctx, project_id, "delete_project_tags")
    identity(request).update_project(project_id, {"tags": []})
    return no_content()


@router.get("/v3/projects/{project_id}/tags/{tag}")
def check_project_tag(
    project_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    if tag not in _project_tags(request, ctx, project_id, "get_project_tags"):
        raise NotFound(f"Could not find project tag: {tag}.")
    return no_content()


@router.put("/v3/projects/{project_id}/tags/{tag}")
def add_project_tag(
    project_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    tags = _project_tags(request, ctx, project_id, "create_project_tag")
    if tag not in tags:
        identity(request).update_project(project_id, {"tags": [*tags, tag]})
    return Response(status_code=201)


@router.delete("/v3/projects/{project_id}/tags/{tag}")
def delete_project_tag(
    project_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    tags = _project_tags(request, ctx, project_id, "delete_project_tag")
    if tag not in tags:
        raise NotFound(f"Could not find project tag: {tag}.")
    identity(request).update_project(project_id, {"tags": [t for t in tags if t != tag]})
    return no_content()
