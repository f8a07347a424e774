"""Default security group rules (``security-groups-default-rules``): the
templates a new security group's rules are made from.

A template applies to each project's default group
(``used_in_default_sg``), to the groups projects create
(``used_in_non_default_sg``), or both. A ``remote_group_id`` of
``PARENT`` means the new group itself. A new database starts with the four
templates Neutron starts with (egress for both IP versions everywhere,
ingress from the group's own members in default groups, described as
Neutron describes them); an operator may delete them, and they stay
deleted. Templates change only groups made after them. Two templates of
the same rule may not apply to the same kind of group: one for default
groups and one for the others is fine, a second one for either is 409.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.secgroup_models import DefaultSecurityGroupRule, SecurityGroup, SecurityGroupRule
from kumo.db.seed_models import first_time
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InvalidInput, NotFound
from kumo.network import validate
from kumo.policy import authorize

PARENT = "PARENT"
SEED = "default_security_group_rules"
CREATE = {
    "direction", "ethertype", "protocol", "port_range_min", "port_range_max",
    "remote_ip_prefix", "remote_group_id", "remote_address_group_id", "description",
    "used_in_default_sg", "used_in_non_default_sg",
}  # fmt: skip
ATTRIBUTES = frozenset(CREATE | {"id"})
_ANY_GROUP = "00000000-0000-0000-0000-000000000000"
"""Stands in for the group a template's rule will belong to, while the
rule's own fields are validated as a security group rule's are."""


BUILT_IN_DESCRIPTION = {
    direction: f"Legacy default SG rule for {direction} traffic"
    for direction in ("egress", "ingress")
}
"""The descriptions of the built-in templates, as Neutron's."""


def ensure_seeded(session: Session) -> None:
    """Write the built-in templates, once per database."""
    if not first_time(session, SEED):
        return
    for ethertype in ("IPv4", "IPv6"):
        session.add(
            DefaultSecurityGroupRule(
                direction="egress",
                ethertype=ethertype,
                description=BUILT_IN_DESCRIPTION["egress"],
                used_in_default_sg=True,
                used_in_non_default_sg=True,
            )
        )
        session.add(
            DefaultSecurityGroupRule(
                direction="ingress",
                ethertype=ethertype,
                remote_group_id=PARENT,
                description=BUILT_IN_DESCRIPTION["ingress"],
                used_in_default_sg=True,
                used_in_non_default_sg=False,
            )
        )
    session.flush()


def view(row: DefaultSecurityGroupRule) -> dict[str, Any]:
    return {
        "id": row.id,
        "description": row.description,
        "direction": row.direction,
        "ethertype": row.ethertype,
        "protocol": row.protocol,
        "port_range_min": row.port_range_min,
        "port_range_max": row.port_range_max,
        "remote_ip_prefix": row.remote_ip_prefix,
        "remote_group_id": row.remote_group_id,
        "remote_address_group_id": row.remote_address_group_id,
        "used_in_default_sg": row.used_in_default_sg,
        "used_in_non_default_sg": row.used_in_non_default_sg,
    }


def not_found(rule_id: str) -> NotFound:
    return NotFound(
        f"Default Security Group rule {rule_id} does not exist",
        kind="DefaultSecurityGroupRuleNotFound",
    )


def listing(session: Session) -> list[DefaultSecurityGroupRule]:
    ensure_seeded(session)
    d = DefaultSecurityGroupRule
    return list(session.scalars(select(d).order_by(d.direction, d.ethertype, d.id)))


def load(session: Session, rule_id: str) -> DefaultSecurityGroupRule:
    row = session.get(DefaultSecurityGroupRule, rule_id)
    if row is None:
        raise not_found(rule_id)
    return row


def _duplicates(old: DefaultSecurityGroupRule, new: DefaultSecurityGroupRule) -> bool:
    """The same rule for the same kind of group (default groups, the
    others, or, for templates used in neither, the same flags)."""
    from kumo.network.secgroups import rules  # rules -> groups -> this module

    if rules.key(old) != rules.key(new):
        return False
    flags = (old.used_in_default_sg, old.used_in_non_default_sg)
    return (
        bool(old.used_in_default_sg and new.used_in_default_sg)
        or bool(old.used_in_non_default_sg and new.used_in_non_default_sg)
        or flags == (new.used_in_default_sg, new.used_in_non_default_sg)
    )


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> DefaultSecurityGroupRule:
    from kumo.network.secgroups import rules  # rules -> groups -> this module

    authorize(ctx, "network:create_default_security_group_rule", {})
    validate.known(body, CREATE)
    flags = {
        name: validate.boolean(body, name) if name in body else default
        for name, default in (("used_in_default_sg", False), ("used_in_non_default_sg", True))
    }
    fields = {k: v for k, v in body.items() if k not in flags}
    spec = rules.parse({**fields, "security_group_id": _ANY_GROUP})
    if spec.remote_group_id not in (None, PARENT):
        validate.uuid(spec.remote_group_id, "remote_group_id")
    if spec.remote_address_group_id is not None:
        validate.uuid(spec.remote_address_group_id, "remote_address_group_id")
    row = DefaultSecurityGroupRule(
        direction=spec.direction,
        ethertype=spec.ethertype,
        protocol=spec.protocol,
        port_range_min=spec.port_range_min,
        port_range_max=spec.port_range_max,
        remote_ip_prefix=spec.remote_ip_prefix,
        remote_group_id=spec.remote_group_id,
        remote_address_group_id=spec.remote_address_group_id,
        description=validate.string(body, "description") if "description" in body else "",
        **flags,
    )
    s = uow.session
    for old in listing(s):
        if _duplicates(old, row):
            raise Conflict(
                f"Default Security Group rule already exists. Rule id is {old.id}.",
                kind="DuplicateDefaultSgRule",
            )
    s.add(row)
    s.flush()
    return row


def update(body: dict[str, Any]) -> None:
    """Templates are not changed in place: delete one and create another."""
    if not body:
        raise InvalidInput("Failed to parse request. Body is empty.")
    raise InvalidInput(f"Cannot update read-only attribute {sorted(body)[0]}")


def remove(uow: UnitOfWork, ctx: RequestContext, rule_id: str) -> None:
    s = uow.session
    row = load(s, rule_id)
    authorize(ctx, "network:delete_default_security_group_rule", {})
    s.delete(row)


def rules_for(session: Session, group: SecurityGroup, *, default: bool) -> list[SecurityGroupRule]:
    """The rules a new group (``default``: a project's default group) starts
    with; a template naming a group that is gone is passed over."""
    out = []
    for t in listing(session):
        if not (t.used_in_default_sg if default else t.used_in_non_default_sg):
            continue
        named = t.remote_group_id
        if named not in (None, PARENT) and session.get(SecurityGroup, named) is None:
            continue
        out.append(
            SecurityGroupRule(
                project_id=group.project_id,
                security_group_id=group.id,
                direction=t.direction,
                ethertype=t.ethertype,
                protocol=t.protocol,
                port_range_min=t.port_range_min,
                port_range_max=t.port_range_max,
                remote_ip_prefix=t.remote_ip_prefix,
                remote_group_id=group.id if t.remote_group_id == PARENT else t.remote_group_id,
                remote_address_group_id=t.remote_address_group_id,
                description=t.description,
            )
        )
    return out
