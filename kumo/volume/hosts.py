"""``os-hosts`` (the block storage services by host, and what each storage
host holds per project) and ``capabilities/{host}`` (a backend's
capabilities as the scheduler matches extra specs against them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.volume_models import Snapshot, StorageHost, Volume
from kumo.errors import NotFound
from kumo.policy import authorize
from kumo.volume import pools

# what each capability means, for ``capabilities/{host}``'s ``properties``
PROPERTIES: dict[str, tuple[str, str, str]] = {
    "thin_provisioning": ("Thin provisioning", "boolean",
                          "Volumes take pool space as data is written (qcow2 files)."),
    "consistent_group_snapshot_enabled": ("Consistent group snapshots", "boolean",
                                          "A group's volumes are snapshotted in one atomic cut."),
    "multiattach": ("Multi-attach", "boolean",
                    "Whether a volume may be attached to more than one server."),
    "total_capacity_gb": ("Total capacity", "integer", "The pool's size in GiB."),
    "reserved_percentage": ("Reserved space", "integer",
                            "The share of the pool kept free of new volumes, in percent."),
}  # fmt: skip


def _host_row(session: Session, name: str) -> StorageHost | None:
    return session.get(StorageHost, name.split("@", 1)[0].split("#", 1)[0])


def listing(
    session: Session, settings: Settings, ctx: RequestContext, version: Version
) -> list[dict[str, Any]]:
    authorize(ctx, "volume_extension:hosts")
    return [
        {
            "host_name": s["host"],
            "service": s["binary"],
            "zone": s["zone"],
            "service-status": "available" if s["state"] == "up" else "unavailable",
            "service-state": s["status"],
            "last-update": s["updated_at"],
        }
        for s in pools.services_view(session, settings, ctx, {}, version)
    ]


def show(session: Session, ctx: RequestContext, name: str) -> list[dict[str, Any]]:
    """Totals on an enabled storage host, then one row per project; 404 otherwise."""
    authorize(ctx, "volume_extension:hosts")
    host = _host_row(session, name)
    if host is None or host.disabled:
        raise NotFound(f"Host {name} could not be found.", kind="HostNotFound")
    rows: dict[str, list[int]] = {}
    volumes = select(Volume.project_id, func.count(), func.coalesce(func.sum(Volume.size), 0))
    for project, count, size in session.execute(
        volumes.where(Volume.storage_host == host.host).group_by(Volume.project_id)
    ):
        rows.setdefault(project, [0, 0, 0, 0])[0:2] = [int(count), int(size)]
    snaps = select(Snapshot.project_id, func.count(), func.coalesce(func.sum(Snapshot.size), 0))
    for project, count, size in session.execute(
        snaps.where(Snapshot.storage_host == host.host).group_by(Snapshot.project_id)
    ):
        rows.setdefault(project, [0, 0, 0, 0])[2:4] = [int(count), int(size)]
    total = [sum(r[i] for r in rows.values()) for i in range(4)]

    def resource(project: str, r: list[int]) -> dict[str, Any]:
        return {"resource": {
            "host": name, "project": project, "volume_count": str(r[0]),
            "total_volume_gb": str(r[1]), "snapshot_count": str(r[2]),
            "total_snapshot_gb": str(r[3])}}  # fmt: skip

    return [resource("(total)", total)] + [resource(p, r) for p, r in sorted(rows.items())]


def capabilities(
    session: Session, settings: Settings, ctx: RequestContext, name: str
) -> dict[str, Any]:
    """``name`` is ``host``, ``host@backend`` or a pool's ``host@backend#pool``."""
    authorize(ctx, "volume_extension:capabilities")
    host = _host_row(session, name)
    wanted_pool = name.split("#", 1)[1] if "#" in name else None
    found = [
        st for st in pools.states(session, settings)
        if host is not None and st.host == host.host
        and (wanted_pool is None or st.pool == wanted_pool)
    ]  # fmt: skip
    if host is None or not found:
        raise NotFound(f"Host {name} could not be found.", kind="HostNotFound")
    st = found[0]
    return {
        "namespace": f"OS::Storage::Capabilities::{name}",
        "vendor_name": "kumo",
        "volume_backend_name": str(st.capabilities.get("volume_backend_name", host.backend)),
        "pool_name": wanted_pool,
        "driver_version": "1.0",
        "storage_protocol": str(st.capabilities.get("storage_protocol", "nbd")),
        "display_name": None,
        "description": None,
        "visibility": None,
        "replication_targets": [],
        "properties": {
            key: {"title": title, "type": kind, "description": text}
            for key, (title, kind, text) in PROPERTIES.items()
        },
    }
