"""Block storage quotas: per project, per volume type, and quota classes.

Resources: ``volumes``, ``snapshots``, ``gigabytes`` (volumes and their
snapshots), ``backups``, ``backup_gigabytes``, ``groups``,
``per_volume_gigabytes``, and for each volume type T ``volumes_T``,
``snapshots_T``, ``gigabytes_T``. A project's limit is its own row, else
the quota class ``default``'s, else the setting (-1: unlimited; per-type
limits default to -1). Usage is counted from the rows themselves, in the
writing transaction that adds to it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import (
    Snapshot,
    Volume,
    VolumeGroup,
    VolumeQuota,
    VolumeQuotaClass,
    VolumeType,
)
from kumo.errors import BadRequest
from kumo.policy import authorize
from kumo.volume.common import OverLimit

PER_TYPE = ("volumes", "snapshots", "gigabytes")
DEFAULT_CLASS = "default"


def resources(session: Session, settings: Settings) -> list[str]:
    names = list(settings.volume_quotas)
    for vtype in session.scalars(select(VolumeType.name).order_by(VolumeType.name)):
        names.extend(f"{r}_{vtype}" for r in PER_TYPE)
    return names


def class_limits(session: Session, settings: Settings, class_name: str) -> dict[str, int]:
    out = {name: settings.volume_quotas.get(name, -1) for name in resources(session, settings)}
    rows = session.scalars(
        select(VolumeQuotaClass).where(VolumeQuotaClass.class_name.in_({DEFAULT_CLASS, class_name}))
    )
    ordered = sorted(rows, key=lambda r: r.class_name != DEFAULT_CLASS)  # the class's own last
    for row in ordered:
        if row.resource in out:
            out[row.resource] = row.limit
    return out


def limits(session: Session, settings: Settings, project_id: str) -> dict[str, int]:
    out = class_limits(session, settings, DEFAULT_CLASS)
    for row in session.scalars(select(VolumeQuota).where(VolumeQuota.project_id == project_id)):
        if row.resource in out:
            out[row.resource] = row.limit
    return out


def usage(session: Session, project_id: str) -> dict[str, int]:
    names = {i: n for i, n in session.execute(select(VolumeType.id, VolumeType.name))}
    out: dict[str, int] = {"volumes": 0, "snapshots": 0, "gigabytes": 0, "groups": 0}
    for type_id, count, gb in session.execute(
        select(Volume.volume_type_id, func.count(), func.sum(Volume.size))
        .where(Volume.project_id == project_id)
        .group_by(Volume.volume_type_id)
    ):
        name = names.get(type_id, type_id)
        out["volumes"] += int(count)
        out["gigabytes"] += int(gb or 0)
        out[f"volumes_{name}"] = int(count)
        out[f"gigabytes_{name}"] = int(gb or 0)
    for type_id, count, gb in session.execute(
        select(Snapshot.volume_type_id, func.count(), func.sum(Snapshot.size))
        .where(Snapshot.project_id == project_id)
        .group_by(Snapshot.volume_type_id)
    ):
        name = names.get(type_id, type_id)
        out["snapshots"] += int(count)
        out["gigabytes"] += int(gb or 0)
        out[f"snapshots_{name}"] = int(count)
        out[f"gigabytes_{name}"] = out.get(f"gigabytes_{name}", 0) + int(gb or 0)
    out["groups"] = int(
        session.scalar(
            select(func.count())
            .select_from(VolumeGroup)
            .where(VolumeGroup.project_id == project_id)
        )
        or 0
    )
    return out


_WHAT = {
    "volumes": "VolumeLimitExceeded",
    "snapshots": "SnapshotLimitExceeded",
    "gigabytes": "VolumeSizeExceedsAvailableQuota",
    "groups": "GroupLimitExceeded",
}


def check(
    session: Session,
    settings: Settings,
    project_id: str,
    type_name: str,
    deltas: dict[str, int],
) -> None:
    """Raise 413 unless the project may add ``deltas`` (resource -> amount;
    each also counts against its ``_TYPE`` limit where there is one)."""
    limit = limits(session, settings, project_id)
    used = usage(session, project_id)
    for resource, amount in deltas.items():
        if amount <= 0:
            continue
        for name in (resource, f"{resource}_{type_name}"):
            cap = limit.get(name, -1)
            if cap < 0:
                continue
            have = used.get(name, 0)
            if have + amount > cap:
                kind = _WHAT.get(resource, "OverQuota")
                if resource == "gigabytes":
                    raise OverLimit(
                        f"Requested volume or snapshot exceeds allowed {name} quota. "
                        f"Requested {amount}G, quota is {cap}G and {have}G has been consumed.",
                        kind=kind,
                    )
                raise OverLimit(
                    f"Maximum number of {resource} allowed ({cap}) exceeded for quota '{name}'.",
                    kind=kind,
                )


def check_size(session: Session, settings: Settings, project_id: str, size: int) -> None:
    cap = limits(session, settings, project_id).get("per_volume_gigabytes", -1)
    if cap >= 0 and size > cap:
        raise OverLimit(
            f"Requested volume size {size}G is larger than maximum allowed limit {cap}G.",
            kind="VolumeSizeExceedsLimit",
        )


def quota_view(
    session: Session, settings: Settings, project_id: str, *, usage_too: bool, defaults: bool
) -> dict[str, Any]:
    limit = (
        class_limits(session, settings, DEFAULT_CLASS)
        if defaults
        else limits(session, settings, project_id)
    )
    out: dict[str, Any] = {"id": project_id}
    if usage_too:
        used = usage(session, project_id)
        for name, cap in limit.items():
            out[name] = {"limit": cap, "in_use": used.get(name, 0), "reserved": 0, "allocated": 0}
    else:
        out.update(limit)
    return out


def _values(session: Session, settings: Settings, data: Any, key: str) -> dict[str, int]:
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise BadRequest(f"Missing required element '{key}' in request body.")
    known = set(resources(session, settings))
    values: dict[str, int] = {}
    bad = []
    for name, value in data[key].items():
        if name in ("id", "tenant_id", "class_name"):
            continue
        if name not in known:
            bad.append(name)
            continue
        if isinstance(value, bool):
            raise BadRequest(f"Quota value for {name} must be an integer.")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise BadRequest(f"Quota value for {name} must be an integer.") from None
        if number < -1:
            raise BadRequest(f"Quota limit {number} for {name} must be -1 or greater.")
        values[name] = number
    if bad:
        raise BadRequest(f"Bad key(s) in quota set: {', '.join(sorted(bad))}")
    return values


def update(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, project_id: str, body: Any
) -> None:
    authorize(ctx, "volume_extension:quotas:update", {"project_id": project_id})
    s = uow.session
    for name, number in _values(s, settings, body, "quota_set").items():
        row = s.scalar(
            select(VolumeQuota).where(
                VolumeQuota.project_id == project_id, VolumeQuota.resource == name
            )
        )
        if row is None:
            s.add(VolumeQuota(project_id=project_id, resource=name, limit=number))
        else:
            row.limit = number


def reset(uow: UnitOfWork, ctx: RequestContext, project_id: str) -> None:
    authorize(ctx, "volume_extension:quotas:delete", {"project_id": project_id})
    uow.session.execute(delete(VolumeQuota).where(VolumeQuota.project_id == project_id))


def update_class(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, class_name: str, body: Any
) -> None:
    authorize(ctx, "volume_extension:quota_classes")
    s = uow.session
    for name, number in _values(s, settings, body, "quota_class_set").items():
        row = s.scalar(
            select(VolumeQuotaClass).where(
                VolumeQuotaClass.class_name == class_name, VolumeQuotaClass.resource == name
            )
        )
        if row is None:
            s.add(VolumeQuotaClass(class_name=class_name, resource=name, limit=number))
        else:
            row.limit = number


def absolute_limits(session: Session, settings: Settings, project_id: str) -> dict[str, int]:
    """``GET /limits``: what ``openstack limits show --absolute`` prints."""
    limit = limits(session, settings, project_id)
    used = usage(session, project_id)
    return {
        "maxTotalVolumes": limit["volumes"],
        "maxTotalSnapshots": limit["snapshots"],
        "maxTotalVolumeGigabytes": limit["gigabytes"],
        "maxTotalBackups": limit["backups"],
        "maxTotalBackupGigabytes": limit["backup_gigabytes"],
        "totalVolumesUsed": used["volumes"],
        "totalGigabytesUsed": used["gigabytes"],
        "totalSnapshotsUsed": used["snapshots"],
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }
