"""Keystone JSON shapes for identity objects and tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request

from kumo.db.identity_models import Domain, Project, Role, RoleAssignment, User
from kumo.identity import catalog
from kumo.identity.service import IdentityService, ScopeInfo
from kumo.identity.tokens import TokenPayload


def base_url(request: Request) -> str:
    runtime = request.app.state.runtime
    return str(runtime.settings.public_url or str(request.base_url)).rstrip("/")


def v3(request: Request) -> str:
    return base_url(request) + "/identity/v3"


def _links(request: Request, path: str) -> dict[str, str]:
    return {"self": f"{v3(request)}/{path}"}


def collection_links(request: Request, path: str) -> dict[str, Any]:
    return {"self": f"{v3(request)}/{path}", "previous": None, "next": None}


def domain(request: Request, d: Domain) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": [],
        "options": {},
        "links": _links(request, f"domains/{d.id}"),
    }


def project(request: Request, p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description,
        "enabled": p.enabled,
        "parent_id": p.parent_id or p.domain_id,
        "is_domain": False,
        "tags": list(p.tags or []),
        "options": {},
        "links": _links(request, f"projects/{p.id}"),
        **{k: v for k, v in (p.extra or {}).items()},
    }


def user(request: Request, u: User) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": u.id,
        "name": u.name,
        "domain_id": u.domain_id,
        "enabled": u.enabled,
        "password_expires_at": None,
        "options": {},
        "links": _links(request, f"users/{u.id}"),
    }
    if u.default_project_id:
        out["default_project_id"] = u.default_project_id
    if u.description:
        out["description"] = u.description
    if u.email:
        out["email"] = u.email
    for key, value in (u.extra or {}).items():
        out.setdefault(key, value)
    return out


def role(request: Request, r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "domain_id": r.domain_id,
        "description": r.description or None,
        "options": {},
        "links": _links(request, f"roles/{r.id}"),
    }


def assignment(
    request: Request, a: RoleAssignment, r: Role, names: dict[Any, Any] | None = None
) -> dict[str, Any]:
    if a.target_type == "project":
        scope: dict[str, Any] = {"project": {"id": a.target_id}}
        link = f"projects/{a.target_id}/users/{a.actor_id}/roles/{r.id}"
    elif a.target_type == "domain":
        scope = {"domain": {"id": a.target_id}}
        link = f"domains/{a.target_id}/users/{a.actor_id}/roles/{r.id}"
    else:
        scope = {"system": {"all": True}}
        link = f"system/users/{a.actor_id}/roles/{r.id}"
    out: dict[str, Any] = {
        "role": {"id": r.id},
        "user": {"id": a.actor_id},
        "scope": scope,
        "links": {"assignment": f"{v3(request)}/{link}"},
    }
    if names is not None:
        out["role"]["name"] = r.name
        u = names.get(("user", a.actor_id))
        if u is not None:
            out["user"]["name"] = u.name
            out["user"]["domain"] = {"id": u.domain_id, "name": names.get(("domain", u.domain_id))}
        if a.target_type == "project":
            p = names.get(("project", a.target_id))
            if p is not None:
                scope["project"]["name"] = p.name
                scope["project"]["domain"] = {
                    "id": p.domain_id,
                    "name": names.get(("domain", p.domain_id)),
                }
        elif a.target_type == "domain":
            scope["domain"]["name"] = names.get(("domain", a.target_id))
    return out


def _ts(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def token(
    request: Request,
    identity: IdentityService,
    payload: TokenPayload,
    info: ScopeInfo,
    *,
    with_catalog: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "methods": list(payload.methods),
        "user": {
            "id": info.user.id,
            "name": info.user.name,
            "domain": {"id": info.user_domain.id, "name": info.user_domain.name},
            "password_expires_at": None,
        },
        "audit_ids": [a for a in (payload.audit_id, payload.parent_audit_id) if a],
        "expires_at": _ts(payload.expires_at),
        "issued_at": _ts(payload.issued_at),
    }
    if info.project is not None:
        dom = info.project_domain
        body["project"] = {
            "id": info.project.id,
            "name": info.project.name,
            "domain": {"id": info.project.domain_id, "name": dom.name if dom else ""},
        }
        body["is_domain"] = False
    if info.domain is not None:
        body["domain"] = {"id": info.domain.id, "name": info.domain.name}
    if payload.system:
        body["system"] = {"all": True}
    if payload.project_id or payload.domain_id or payload.system:
        body["roles"] = [{"id": r.id, "name": r.name} for r in info.roles]
        if with_catalog:
            body["catalog"] = catalog.catalog(
                base_url(request), identity.settings.region, payload.project_id
            )
    return {"token": body}
