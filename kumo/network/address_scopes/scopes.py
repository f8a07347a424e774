"""Address scope rows: create, update, delete, and who sees them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.subnetpool_models import AddressScope, SubnetPool
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound
from kumo.network import policy, validate
from kumo.network.core.networks import touch
from kumo.network.rbac import access as rbac_access
from kumo.network.rbac import policies as rbac
from kumo.network.revision import check_revision
from kumo.policy import allowed, authorize

CREATE = {"name", "description", "ip_version", "shared", "project_id", "tenant_id"}
UPDATE = {"name", "description", "shared"}


def not_found(scope_id: str) -> NotFound:
    return NotFound(f"Address scope {scope_id} could not be found.", kind="AddressScopeNotFound")


def view(scope: AddressScope, shared_here: bool = False) -> dict[str, Any]:
    return {
        "id": scope.id,
        "name": scope.name,
        "description": scope.description,
        "project_id": scope.project_id,
        "tenant_id": scope.project_id,
        "ip_version": scope.ip_version,
        "shared": bool(scope.shared or shared_here),
    }


ATTRIBUTES = frozenset(view(AddressScope(id="", project_id="", name="", ip_version=4)))


def visible(ctx: RequestContext, scope: AddressScope, shared: bool = False) -> bool:
    return allowed(
        ctx,
        "network:get_address_scope",
        {"project_id": scope.project_id, "shared": shared or scope.shared},
    )


def shared_with(session: Session, ctx: RequestContext, scope_id: str) -> bool:
    grants = rbac_access.granted(session, "address_scope", ctx.project_id, [scope_id])
    return rbac_access.SHARED in grants.get(scope_id, ())


def load(
    session: Session, ctx: RequestContext, scope_id: str, *, lock: bool = False
) -> AddressScope:
    """An address scope the caller owns, or one shared with it (RBAC)."""
    q = select(AddressScope).where(AddressScope.id == scope_id)
    if lock:
        q = q.with_for_update()
    scope = session.scalar(q)
    if scope is None:
        raise not_found(scope_id)
    if not visible(ctx, scope) and not visible(ctx, scope, shared_with(session, ctx, scope.id)):
        raise not_found(scope_id)
    return scope


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> AddressScope:
    validate.known(body, CREATE)
    for key in ("name", "ip_version"):
        if key not in body:
            raise BadRequest(f"Failed to parse request. Required attribute '{key}' not specified")
    version = validate.integer(body["ip_version"], "ip_version")
    if version not in (4, 6):
        raise InvalidInput(f"Invalid input for ip_version. Reason: '{version}' is not in [4, 6].")
    owner = policy.owner_for_create(ctx, body)
    authorize(ctx, "network:create_address_scope", {"project_id": owner})
    shared = validate.boolean(body, "shared") if "shared" in body else False
    if shared:
        authorize(ctx, "network:create_address_scope:shared", {"project_id": owner})
    scope = AddressScope(
        project_id=owner,
        name=validate.string(body, "name"),
        description=validate.string(body, "description") if "description" in body else "",
        ip_version=version,
        shared=shared,
    )
    s = uow.session
    s.add(scope)
    s.flush()
    if shared:
        rbac.set_object_shared(s, "address_scope", scope, True)
    return scope


def update(
    uow: UnitOfWork, ctx: RequestContext, scope_id: str, body: dict[str, Any], if_match: int | None
) -> AddressScope:
    for key in ("id", "project_id", "tenant_id", "ip_version"):
        if key in body:
            raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    s = uow.session
    scope = load(s, ctx, scope_id, lock=True)
    authorize(ctx, "network:update_address_scope", {"project_id": scope.project_id})
    check_revision(scope.revision_number, if_match)
    if "name" in body:
        scope.name = validate.string(body, "name")
    if "description" in body:
        scope.description = validate.string(body, "description")
    if "shared" in body:
        shared = validate.boolean(body, "shared")
        # as Neutron: naming the attribute takes the rule, whatever the value
        authorize(ctx, "network:update_address_scope:shared", {"project_id": scope.project_id})
        if scope.shared and not shared:
            raise BadRequest(
                f"Unable to update address scope {scope.id} : Shared address scope can't be "
                "unshared.",
                kind="AddressScopeUpdateError",
            )
        if shared != scope.shared:
            rbac.set_object_shared(s, "address_scope", scope, shared)
    touch(scope)
    return scope


def remove(uow: UnitOfWork, ctx: RequestContext, scope_id: str, if_match: int | None) -> None:
    s = uow.session
    scope = load(s, ctx, scope_id, lock=True)
    authorize(ctx, "network:delete_address_scope", {"project_id": scope.project_id})
    check_revision(scope.revision_number, if_match)
    if s.scalar(select(SubnetPool.id).where(SubnetPool.address_scope_id == scope.id).limit(1)):
        raise Conflict(
            f"Unable to complete operation on address scope {scope.id}. There are one or more "
            "subnet pools in use on the address scope.",
            kind="AddressScopeInUse",
        )
    rbac.object_deleted(s, "address_scope", scope.id)
    s.delete(scope)
