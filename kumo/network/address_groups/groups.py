"""Address group rows: create, update, delete, add and remove addresses."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.address_group_models import AddressGroup
from kumo.db.secgroup_models import SecurityGroup, SecurityGroupRule
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound, shown
from kumo.network import policy, validate
from kumo.network.core.networks import touch
from kumo.network.rbac import access as rbac_access
from kumo.network.rbac import policies as rbac
from kumo.network.revision import check_revision
from kumo.policy import allowed, authorize

CREATE = {"name", "description", "addresses", "project_id", "tenant_id"}
UPDATE = {"name", "description"}


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Address group {group_id} could not be found.", kind="AddressGroupNotFound")


def view(group: AddressGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "project_id": group.project_id,
        "tenant_id": group.project_id,
        "addresses": list(group.addresses or []),
    }


ATTRIBUTES = frozenset(view(AddressGroup(id="", project_id="", name="", addresses=[])))


def visible(ctx: RequestContext, group: AddressGroup, shared: bool = False) -> bool:
    return allowed(
        ctx, "network:get_address_group", {"project_id": group.project_id, "shared": shared}
    )


def load(
    session: Session, ctx: RequestContext, group_id: str, *, lock: bool = False
) -> AddressGroup:
    """An address group the caller owns, or one shared with its project (RBAC)."""
    q = select(AddressGroup).where(AddressGroup.id == group_id)
    if lock:
        q = q.with_for_update()
    group = session.scalar(q)
    if group is None:
        raise not_found(group_id)
    if not visible(ctx, group):
        shared = rbac_access.shared_groups(session, ctx.project_id, [group.id], "address_group")
        if not visible(ctx, group, bool(shared)):
            raise not_found(group_id)
    return group


def addresses(raw: Any, *, cidrs: bool = False) -> list[str]:
    """A list of addresses or CIDRs, each normalised to its network
    (``10.0.0.1`` -> ``10.0.0.1/32``, ``10.0.0.5/24`` -> ``10.0.0.0/24``);
    sorted, without repeats. ``cidrs``: each needs its prefix length (a
    group's addresses at creation, as Neutron validates them; its
    add/remove actions take bare addresses)."""
    if not isinstance(raw, list):
        raise InvalidInput(f"Invalid input for addresses. Reason: '{shown(raw)}' is not a list.")
    out: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    for item in raw:
        try:
            if not isinstance(item, str):
                raise ValueError(item)
            net = ipaddress.ip_network(item, strict=False)
            if cidrs and "/" not in item:
                raise InvalidInput(
                    f"Invalid input for addresses. Reason: '{shown(item)}' isn't a recognized "
                    f"IP subnet cidr, '{net}' is recommended."
                )
            out.add(net)
        except ValueError:
            raise InvalidInput(
                f"Invalid input for addresses. Reason: '{shown(item)}' is not a valid IP "
                "address or subnet."
            ) from None
    return [str(n) for n in sorted(out, key=lambda n: (n.version, n))]


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> AddressGroup:
    validate.known(body, CREATE)
    owner = policy.owner_for_create(ctx, body)
    authorize(ctx, "network:create_address_group", {"project_id": owner})
    group = AddressGroup(
        project_id=owner,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        addresses=addresses(body.get("addresses") or [], cidrs=True),
    )
    uow.session.add(group)
    uow.session.flush()
    return group


def update(
    uow: UnitOfWork, ctx: RequestContext, group_id: str, body: dict[str, Any], if_match: int | None
) -> AddressGroup:
    for key in ("id", "project_id", "tenant_id", "addresses"):
        if key in body:
            raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    group = load(uow.session, ctx, group_id, lock=True)
    authorize(ctx, "network:update_address_group", {"project_id": group.project_id})
    check_revision(group.revision_number, if_match)
    if "name" in body:
        group.name = validate.string(body, "name")
    if "description" in body:
        group.description = validate.string(body, "description")
    touch(group)
    return group


def change_addresses(
    uow: UnitOfWork, ctx: RequestContext, group_id: str, body: Any, *, add: bool
) -> AddressGroup:
    """``add_addresses`` / ``remove_addresses``: adding one already there is
    400 ``AddressesAlreadyExist``, removing one not there 404 ``AddressesNotFound``."""
    # Neutron's action reads {"addresses": [...]}; its API reference wraps it
    # in "address_group": both are taken
    wrapped = isinstance(body, dict) and "address_group" in body
    inner = validate.member(body, "address_group") if wrapped else body
    if not isinstance(inner, dict):
        raise BadRequest("Body contains invalid data")
    validate.known(inner, {"addresses"})
    if "addresses" not in inner:
        raise BadRequest("Failed to parse request. Required attribute 'addresses' not specified")
    asked = addresses(inner["addresses"])
    group = load(uow.session, ctx, group_id, lock=True)
    authorize(ctx, "network:update_address_group_addresses", {"project_id": group.project_id})
    have = list(group.addresses or [])
    if add:
        dup = [a for a in asked if a in have]
        if dup:
            raise BadRequest(
                f"Addresses {dup} already exist in the address group {group.id}.",
                kind="AddressesAlreadyExist",
            )
        group.addresses = addresses(have + asked)
    else:
        missing = [a for a in asked if a not in have]
        if missing:
            raise NotFound(
                f"Addresses {missing} not found in the address group {group.id}.",
                kind="AddressesNotFound",
            )
        group.addresses = [a for a in have if a not in asked]
    touch(group)
    uow.session.flush()
    _rules_changed(uow, group.id)
    return group


def _rules_changed(uow: UnitOfWork, group_id: str) -> None:
    """Re-emit every security group with a rule naming the address group."""
    from kumo.network.secgroups import groups as secgroups

    r = SecurityGroupRule
    naming = select(r.security_group_id).where(r.remote_address_group_id == group_id)
    for sg in uow.session.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(naming))):
        secgroups.changed(uow, sg)


def remove(uow: UnitOfWork, ctx: RequestContext, group_id: str, if_match: int | None) -> None:
    s = uow.session
    group = load(s, ctx, group_id, lock=True)
    authorize(ctx, "network:delete_address_group", {"project_id": group.project_id})
    check_revision(group.revision_number, if_match)
    r = SecurityGroupRule
    if s.scalar(select(r.id).where(r.remote_address_group_id == group.id).limit(1)) is not None:
        raise Conflict(
            f"Address group {group.id} is in use on one or more security group rules.",
            kind="AddressGroupInUse",
        )
    rbac.object_deleted(s, "address_group", group.id)
    s.delete(group)


def addresses_of(session: Session, group_ids: set[str]) -> dict[str, list[str]]:
    """Each address group's addresses (for the rules the agents receive)."""
    if not group_ids:
        return {}
    q = select(AddressGroup.id, AddressGroup.addresses).where(AddressGroup.id.in_(group_ids))
    return {gid: list(addrs or []) for gid, addrs in session.execute(q)}
