"""Which security groups a port is in, and the rules tying them to port security.

A port with port security gets its project's default group unless the
request names its groups; a port without port security, or one owned by
the network itself (``network:*``), gets none. Named groups must exist in
the port's project, and be all stateful or all stateless (409). Groups and
port security go together: asking for groups on a port without it is
refused (400 on create, 409 on update).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.network_models import Port
from kumo.db.secgroup_models import PortSecurityGroup, SecurityGroup
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InvalidInput
from kumo.network import validate
from kumo.network.rbac import access as rbac_access
from kumo.network.secgroups import groups as secgroups


def requested(session: Session, project_id: str, raw: Any) -> list[str]:
    """The named groups, checked to exist in ``project_id``; sorted. A group
    named twice is 400, as Neutron's UUID lists."""
    named = [validate.uuid(g, "security_groups") for g in validate.list_of(raw, "security_groups")]
    validate.unique(named, "security_groups")
    ids = sorted(named)
    if not ids:
        return []
    g = SecurityGroup
    rows = session.execute(select(g.id, g.stateful, g.project_id).where(g.id.in_(ids))).all()
    # another project's group only when it is shared with the port's project
    others = {gid for gid, _, owner in rows if owner != project_id}
    usable = rbac_access.shared_groups(session, project_id, others) if others else set()
    found = {gid: stateful for gid, stateful, _ in rows if gid not in others or gid in usable}
    for group_id in ids:
        if group_id not in found:
            raise secgroups.not_found(group_id)
    if len(set(found.values())) > 1:
        raise Conflict(
            "Error Cannot apply both stateful and stateless security groups on the same port "
            "at the same time while attempting the operation.",
            kind="SecurityGroupConflict",
        )
    return ids


def for_new_port(
    uow: UnitOfWork,
    project_id: str,
    body: dict[str, Any],
    port_security: bool,
    device_owner: str,
    *,
    default_group: str | None = None,
) -> list[str]:
    """The groups of a new port; ``default_group``: the project's default
    group when the caller has read it already (None: look it up, make it
    if missing)."""
    if body.get("security_groups") is not None:
        ids = requested(uow.session, project_id, body["security_groups"])
        if ids and not port_security:
            raise InvalidInput(
                "Port security must be enabled and port must have an IP address in order "
                "to use security groups.",
                kind="PortSecurityAndIPRequiredForSecurityGroups",
            )
        return ids
    if not port_security or device_owner.startswith("network:"):
        return []
    return [default_group or secgroups.ensure_default(uow, project_id)]


def bind(port: Port, group_ids: list[str]) -> None:
    """Make ``port``'s bindings exactly ``group_ids``, keeping rows that stay."""
    kept = {b.security_group_id: b for b in port.security_group_bindings}
    port.security_group_bindings = [
        kept.get(g) or PortSecurityGroup(security_group_id=g) for g in sorted(set(group_ids))
    ]


def update(session: Session, port: Port, body: dict[str, Any]) -> None:
    """Apply ``security_groups`` from an update, then check port security allows them."""
    if "security_groups" in body:
        bind(port, requested(session, port.project_id, body["security_groups"]))
    if port.security_group_bindings and not port.port_security_enabled:
        raise Conflict(
            "Port has security group associated. Cannot disable port security or ip "
            "address until security group is removed",
            kind="PortSecurityPortHasSecurityGroup",
        )
