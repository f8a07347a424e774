"""Compute quotas: defaults from settings, per-project overrides, usage, checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.compute.common import MAX_INT
from kumo.compute.microversion import MAX, Version
from kumo.config import Settings
from kumo.db.compute_models import ComputeQuota, KeyPair, Server, ServerGroup
from kumo.errors import BadRequest, Forbidden, shown

# Shown before 2.36 (network proxies) and before 2.57 (file injection); never enforced.
LEGACY_NETWORK = {
    "fixed_ips": -1,
    "floating_ips": -1,
    "security_group_rules": -1,
    "security_groups": -1,
}
LEGACY_FILES = {
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "injected_files": 5,
}


class QuotaExceeded(Forbidden):
    kind = "OverQuota"


def limits(session: Session, settings: Settings, project_id: str) -> dict[str, int]:
    out = dict(settings.compute_quotas)
    for row in session.scalars(select(ComputeQuota).where(ComputeQuota.project_id == project_id)):
        out[row.resource] = row.limit
    return out


def usage(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    cores, ram, count = session.execute(
        select(func.sum(Server.vcpus), func.sum(Server.memory_mb), func.count()).where(
            Server.project_id == project_id
        )
    ).one()
    groups = session.scalar(
        select(func.count()).select_from(ServerGroup).where(ServerGroup.project_id == project_id)
    )
    out = {
        "instances": int(count or 0),
        "cores": int(cores or 0),
        "ram": int(ram or 0),
        "server_groups": int(groups or 0),
        "key_pairs": 0,
    }
    if user_id is not None:
        out["key_pairs"] = int(
            session.scalar(
                select(func.count()).select_from(KeyPair).where(KeyPair.user_id == user_id)
            )
            or 0
        )
    return out


def check_instances(
    session: Session, settings: Settings, project_id: str, count: int, vcpus: int, ram: int
) -> int:
    """How many of ``count`` servers fit (at least 1, or QuotaExceeded)."""
    limit = limits(session, settings, project_id)
    used = usage(session, project_id)
    fits = count
    for resource, each in (("instances", 1), ("cores", vcpus), ("ram", ram)):
        if limit[resource] < 0 or each == 0:
            continue
        room = (limit[resource] - used[resource]) // each
        fits = min(fits, room)
    if fits >= 1:
        return fits
    for resource, each in (("instances", 1), ("cores", vcpus), ("ram", ram)):
        if limit[resource] >= 0 and used[resource] + each > limit[resource]:
            raise QuotaExceeded(
                f"Quota exceeded for {resource}: Requested {each * count}, but already used "
                f"{used[resource]} of {limit[resource]} {resource}"
            )
    raise QuotaExceeded("Quota exceeded for instances.")


def check(
    session: Session,
    settings: Settings,
    project_id: str,
    resource: str,
    used: int,
    adding: int,
    message: str,
) -> None:
    limit = limits(session, settings, project_id).get(resource, -1)
    if limit >= 0 and used + adding > limit:
        raise QuotaExceeded(message)


def quota_set(
    session: Session,
    settings: Settings,
    project_id: str,
    version: Version,
    *,
    detail: bool = False,
    defaults: bool = False,
) -> dict[str, Any]:
    values: dict[str, Any] = (
        dict(settings.compute_quotas) if defaults else limits(session, settings, project_id)
    )
    if not version.at_least("2.36"):
        values.update(LEGACY_NETWORK)
    if not version.at_least("2.57"):
        values.update(LEGACY_FILES)
    if detail:
        used = usage(session, project_id)
        values = {
            k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()
        }
    return {"id": project_id, **values}


def _limit_value(key: str, value: Any) -> int:
    """Nova's quota value: an integer of -1 or more, or the same as digits."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_INT:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {shown(value)}.")
    return value


def update(
    session: Session, settings: Settings, project_id: str, body: Any, version: Version = MAX
) -> None:
    """Set a project's limits. The legacy keys a microversion still shows
    (network quotas before 2.36, file injection before 2.57) are accepted
    and, as in Nova with Neutron, never enforced nor kept."""
    data = body.get("quota_set") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest("Invalid input for field/attribute quota_set.")
    legacy = set()
    if not version.at_least("2.36"):
        legacy |= set(LEGACY_NETWORK)
    if not version.at_least("2.57"):
        legacy |= set(LEGACY_FILES)
    for key, value in data.items():
        if key in ("force", "id"):
            continue
        if key not in settings.compute_quotas and key not in legacy:
            raise BadRequest(
                f"Invalid input for field/attribute quota_set. Additional properties are not allowed ('{key}' was unexpected)"
            )
        limit = _limit_value(key, value)
        if key in legacy:
            continue
        row = session.scalar(
            select(ComputeQuota).where(
                ComputeQuota.project_id == project_id, ComputeQuota.resource == key
            )
        )
        if row is None:
            session.add(ComputeQuota(project_id=project_id, resource=key, limit=limit))
        else:
            row.limit = limit


def reset(session: Session, project_id: str) -> None:
    for row in session.scalars(select(ComputeQuota).where(ComputeQuota.project_id == project_id)):
        session.delete(row)


def absolute_limits(
    session: Session, settings: Settings, project_id: str, user_id: str, version: Version
) -> dict[str, int]:
    limit = limits(session, settings, project_id)
    used = usage(session, project_id, user_id)
    out = {
        "maxServerMeta": limit["metadata_items"],
        "maxTotalKeypairs": limit["key_pairs"],
        "maxServerGroups": limit["server_groups"],
        "maxServerGroupMembers": limit["server_group_members"],
        "maxTotalCores": limit["cores"],
        "maxTotalInstances": limit["instances"],
        "maxTotalRAMSize": limit["ram"],
        "totalCoresUsed": used["cores"],
        "totalInstancesUsed": used["instances"],
        "totalRAMUsed": used["ram"],
        "totalServerGroupsUsed": used["server_groups"],
    }
    if not version.at_least("2.39"):
        out["maxImageMeta"] = limit["metadata_items"]
    if not version.at_least("2.57"):
        out["maxPersonality"] = LEGACY_FILES["injected_files"]
        out["maxPersonalitySize"] = LEGACY_FILES["injected_file_content_bytes"]
    if not version.at_least("2.36"):
        out.update(
            {
                "maxSecurityGroups": -1,
                "maxSecurityGroupRules": -1,
                "maxTotalFloatingIps": -1,
                "totalFloatingIpsUsed": 0,
                "totalSecurityGroupsUsed": 0,
            }
        )
    return out
