"""Per-project quotas: defaults from settings, overrides in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.l3_models import FloatingIP, Router
from kumo.db.network_models import Network, Port, Quota, Subnet
from kumo.db.secgroup_models import SecurityGroup, SecurityGroupRule
from kumo.errors import OverQuota

# resource -> model counted by project_id; later features add theirs.
COUNTED: dict[str, Any] = {
    "network": Network,
    "subnet": Subnet,
    "port": Port,
    "security_group": SecurityGroup,
    "security_group_rule": SecurityGroupRule,
    "router": Router,
    "floatingip": FloatingIP,
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
