"""Per-project quotas: defaults from settings, overrides in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.l3_models import FloatingIP, Router
from kumo.db.network_models import Network, Port, Quota, Subnet
from kumo.db.rbac_models import RbacPolicy
from kumo.db.secgroup_models import SecurityGroup, SecurityGroupRule
from kumo.db.subnetpool_models import SubnetPool
from kumo.errors import BadRequest, InvalidInput, OverQuota, shown
from kumo.network.validate import MAX_INT, boolean, integer

# resource -> model counted by project_id; later features add theirs.
COUNTED: dict[str, Any] = {
    "network": Network,
    "subnet": Subnet,
    "subnetpool": SubnetPool,
    "port": Port,
    "security_group": SecurityGroup,
    "security_group_rule": SecurityGroupRule,
    "router": Router,
    "floatingip": FloatingIP,
    "rbac_policy": RbacPolicy,
}


def limits(session: Session, settings: Settings, project_id: str) -> dict[str, int]:
    out = dict(settings.default_quotas)
    for row in session.scalars(select(Quota).where(Quota.project_id == project_id)):
        out[row.resource] = row.limit
    return out


def usage(session: Session, project_id: str, resource: str) -> int:
    model = COUNTED.get(resource)
    if model is None:
        return 0
    return int(
        session.scalar(
            select(func.count()).select_from(model).where(model.project_id == project_id)
        )
        or 0
    )


def check_quota(
    session: Session, settings: Settings, project_id: str, resource: str, adding: int = 1
) -> None:
    limit = limits(session, settings, project_id).get(resource, -1)
    if limit < 0:
        return
    if usage(session, project_id, resource) + adding > limit:
        raise OverQuota(f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")


@dataclass(frozen=True)
class QuotaUpdate:
    limits: dict[str, int]
    check_limit: bool
    """Refuse a limit below what the project already uses (``quota-check-limit``)."""


FLAGS = ("force", "check_limit")
"""Request flags that ride in the quota body but are not resources: ``force``
(set the limit whatever the usage, which is the default) and ``check_limit``."""


def parse_update(settings: Settings, body: dict[str, Any]) -> QuotaUpdate:
    values = {}
    for key, value in body.items():
        if key in FLAGS:
            continue
        if key not in settings.default_quotas:
            raise InvalidInput(f"Unrecognized quota resource '{key}'")
        limit = integer(value, key)
        if limit < -1:
            raise InvalidInput(f"'{value}' should be greater than or equal to -1 for {key}")
        if limit > MAX_INT:
            raise InvalidInput(
                f"'{shown(value)}' is too large - must be no larger than '{MAX_INT}'"
            )
        values[key] = limit
    check = (
        "check_limit" in body and body["check_limit"] is not None and boolean(body, "check_limit")
    )
    return QuotaUpdate(values, check)


def update(session: Session, project_id: str, change: QuotaUpdate) -> None:
    if change.check_limit:
        for resource, limit in change.limits.items():
            used = usage(session, project_id, resource)
            if limit >= 0 and used > limit:
                raise BadRequest(
                    f"Quota limit {limit} for {resource} must be greater than or equal to "
                    f"already used {used}"
                )
    set_limits(session, project_id, change.limits)


def set_limits(session: Session, project_id: str, values: dict[str, int]) -> None:
    for resource, limit in values.items():
        row = session.scalar(
            select(Quota).where(Quota.project_id == project_id, Quota.resource == resource)
        )
        if row is None:
            session.add(Quota(project_id=project_id, resource=resource, limit=limit))
        else:
            row.limit = limit


def projects_with_overrides(session: Session) -> list[str]:
    return sorted(set(session.scalars(select(Quota.project_id))))


def reset(session: Session, project_id: str) -> None:
    for row in session.scalars(select(Quota).where(Quota.project_id == project_id)):
        session.delete(row)
