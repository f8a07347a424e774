"""Storage hosts and their pools: what agents register and beat, what the
scheduler reads (``states``), and the admin views (``os-services``,
``scheduler-stats/get_pools``, availability zones).

A pool's provisioned (allocated) capacity is the sum of the sizes of the
volumes and snapshots placed in it, counted from their rows; its free
capacity is what its agent measured on disk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version, parse
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Snapshot, StorageHost, StoragePool, Volume
from kumo.errors import BadRequest, NotFound
from kumo.identity.agent_credentials import authorize_hosts, check_host_name
from kumo.policy import authorize
from kumo.volume import common, replication
from kumo.volume.scheduler import PoolState

V_SERVICE_CLUSTER = parse("3.7")

GiB = 1 << 30
SCHEDULER_HOST = "kumo-api"
"""The host name ``os-services`` shows for the scheduler (it runs in every API server)."""


def is_up(settings: Settings, host: StorageHost, now: dt.datetime | None = None) -> bool:
    age = ((now or utcnow()) - host.heartbeat_at).total_seconds()
    return age <= settings.storage_host_down_time


def _pool(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadRequest("Each pool must be an object.")
    name = common.text(item.get("name"), "pool name", required=True)
    assert name is not None
    if any(c in name for c in "@#/ ") or not name.isprintable():
        raise BadRequest(f"Invalid pool name {common.shown(name)!r}.")
    total = item.get("total_gb")
    free = item.get("free_bytes", 0)
    ratio = item.get("max_over_subscription_ratio", 20.0)
    reserved = item.get("reserved_percentage", 0)
    caps = item.get("capabilities") or {}
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise BadRequest(f"Pool {name}: total_gb must be a positive integer.")
    if not isinstance(free, int) or isinstance(free, bool) or free < 0:
        raise BadRequest(f"Pool {name}: free_bytes must be a non-negative integer.")
    if not isinstance(ratio, int | float) or ratio < 1:
        raise BadRequest(f"Pool {name}: max_over_subscription_ratio must be at least 1.")
    if not isinstance(reserved, int) or not 0 <= reserved <= 100:
        raise BadRequest(f"Pool {name}: reserved_percentage must be 0 to 100.")
    if not isinstance(caps, dict):
        raise BadRequest(f"Pool {name}: capabilities must be an object.")
    return {
        "name": name,
        "total_gb": total,
        "free_bytes": free,
        "max_over_subscription_ratio": float(ratio),
        "reserved_percentage": reserved,
        "capabilities": {str(k): str(v) for k, v in caps.items()},
    }


def register(uow: UnitOfWork, ctx: RequestContext, body: Any) -> StorageHost:
    """A storage agent's registration or heartbeat: its host, zone and pools
    (each report replaces the pools' figures; a pool no longer reported is
    dropped unless volumes or snapshots are placed in it)."""
    data = common.body_of(body, "storage_host")
    host_name = check_host_name(data.get("host"))
    s = uow.session
    authorize_hosts(s, ctx, [host_name], "internal:storage_report")
    raw_pools = data.get("pools")
    if not isinstance(raw_pools, list) or not raw_pools:
        raise BadRequest("A storage host reports at least one pool.")
    pools = [_pool(p) for p in raw_pools]
    if len({p["name"] for p in pools}) != len(pools):
        raise BadRequest("Pool names must be unique on a host.")
    zone = common.text(data.get("availability_zone"), "availability_zone") or "nova"
    backend = common.text(data.get("backend"), "backend") or "file"
    now = utcnow()
    host = s.get(StorageHost, host_name, with_for_update=True)
    if host is None:
        host = StorageHost(host=host_name, started_at=now)
        s.add(host)
    if data.get("started"):
        host.started_at = now
    host.availability_zone = zone
    host.backend = backend
    host.heartbeat_at = now
    address = common.text(data.get("export_address"), "export_address")
    if address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise BadRequest(f"export_address {address!r} is not an IP address.") from None
        host.export_address = address
    port = data.get("export_port")
    if port is not None:
        if not isinstance(port, int) or not 0 < port < 65536:
            raise BadRequest("export_port must be a TCP port number.")
        host.export_port = port
    s.flush()
    have = {p.name: p for p in s.scalars(select(StoragePool).where(StoragePool.host == host_name))}
    for item in pools:
        row = have.pop(item["name"], None)
        if row is None:
            row = StoragePool(host=host_name, name=item["name"], total_gb=item["total_gb"])
            s.add(row)
        for key, value in item.items():
            setattr(row, key, value)
        row.updated_at = now
    for name, row in have.items():
        used = s.scalar(
            select(func.count())
            .select_from(Volume)
            .where(Volume.storage_host == host_name, Volume.pool == name)
        )
        if not used:
            s.delete(row)
    return host


def _allocated(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
    """(host, pool) -> (GiB provisioned, volume count)."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for host, pool, gb, count in session.execute(
        select(Volume.storage_host, Volume.pool, func.sum(Volume.size), func.count())
        .where(Volume.storage_host.is_not(None))
        .group_by(Volume.storage_host, Volume.pool)
    ):
        out[(str(host), str(pool))] = (int(gb or 0), int(count))
    for host, pool, gb, count in session.execute(
        select(Volume.replica_host, Volume.replica_pool, func.sum(Volume.size), func.count())
        .where(Volume.replica_host.is_not(None))
        .group_by(Volume.replica_host, Volume.replica_pool)
    ):
        have, n = out.get((str(host), str(pool)), (0, 0))
        out[(str(host), str(pool))] = (have + int(gb or 0), n + int(count))
    for host, pool, gb in session.execute(
        select(Snapshot.storage_host, Snapshot.pool, func.sum(Snapshot.size))
        .where(Snapshot.storage_host.is_not(None))
        .group_by(Snapshot.storage_host, Snapshot.pool)
    ):
        have, count = out.get((str(host), str(pool)), (0, 0))
        out[(str(host), str(pool))] = (have + int(gb or 0), count)
    return out


def states(session: Session, settings: Settings) -> list[PoolState]:
    hosts = {h.host: h for h in session.scalars(select(StorageHost))}
    allocated = _allocated(session)
    now = utcnow()
    out = []
    for p in session.scalars(select(StoragePool).order_by(StoragePool.host, StoragePool.name)):
        host = hosts[p.host]
        gb, count = allocated.get((p.host, p.name), (0, 0))
        caps = {
            "volume_backend_name": host.backend,
            "storage_protocol": "nbd",
            "vendor_name": "kumo",
            "thin_provisioning_support": "True",
            "multiattach": "False",
            "consistent_group_snapshot_enabled": "True",
            "pool_name": p.name,
            **(p.capabilities or {}),
        }
        out.append(
            PoolState(
                host=p.host,
                pool=p.name,
                backend=host.backend,
                total_gb=float(p.total_gb),
                free_gb=p.free_bytes / GiB,
                allocated_gb=float(gb),
                volume_count=count,
                zone=host.availability_zone,
                max_over_subscription_ratio=p.max_over_subscription_ratio,
                reserved_percentage=p.reserved_percentage,
                capabilities=caps,
                up=is_up(settings, host, now) and not host.disabled,
            )
        )
    return out


def state_of(session: Session, settings: Settings, host: str, pool: str | None) -> PoolState | None:
    return next((p for p in states(session, settings) if (p.host, p.pool) == (host, pool)), None)


def lock_pool(session: Session, host: str, pool: str) -> None:
    """Serialise placements into one pool (PostgreSQL: the pool's row lock)."""
    session.scalar(
        select(StoragePool.id)
        .where(StoragePool.host == host, StoragePool.name == pool)
        .with_for_update()
    )


def pools_view(
    session: Session, settings: Settings, ctx: RequestContext, detail: bool
) -> list[dict[str, Any]]:
    authorize(ctx, "scheduler_extension:scheduler_stats:get_pools")
    rows = {(p.host, p.name): p for p in session.scalars(select(StoragePool))}
    out = []
    for st in states(session, settings):
        item: dict[str, Any] = {"name": st.name}
        if detail:
            row = rows[(st.host, st.pool)]
            item["capabilities"] = {
                **st.capabilities,
                "total_capacity_gb": st.total_gb,
                "free_capacity_gb": round(st.free_gb, 2),
                "allocated_capacity_gb": int(st.allocated_gb),
                "provisioned_capacity_gb": int(st.allocated_gb),
                "max_over_subscription_ratio": st.max_over_subscription_ratio,
                "reserved_percentage": st.reserved_percentage,
                "thin_provisioning_support": True,
                "thick_provisioning_support": False,
                "multiattach": False,
                "consistent_group_snapshot_enabled": True,
                "vendor_name": "kumo",
                "driver_version": "1.0",
                "timestamp": common.stamp(row.updated_at),
            }
        out.append(item)
    return out


def services_view(
    session: Session,
    settings: Settings,
    ctx: RequestContext,
    params: dict[str, str],
    version: Version,
) -> list[dict[str, Any]]:
    """Cinder's services: the scheduler and one ``cinder-volume`` per storage
    host (with its replication fields); ``cluster`` from 3.7."""
    authorize(ctx, "volume_extension:services:index")
    now = utcnow()
    out: list[dict[str, Any]] = [
        {
            "binary": "cinder-scheduler",
            "host": SCHEDULER_HOST,
            "zone": settings.default_availability_zone,
            "status": "enabled",
            "state": "up",
            "updated_at": common.stamp(now),
            "disabled_reason": None,
        }
    ]
    storage_hosts = list(session.scalars(select(StorageHost).order_by(StorageHost.host)))
    for h in storage_hosts:
        out.append(
            {
                "binary": "cinder-volume",
                "host": f"{h.host}@{h.backend}",
                "zone": h.availability_zone,
                "status": "disabled" if h.disabled else "enabled",
                "state": "up" if is_up(settings, h, now) else "down",
                "updated_at": common.stamp(h.heartbeat_at),
                "disabled_reason": h.disabled_reason,
                "replication_status": replication.service_status(h, len(storage_hosts)),
                "frozen": False,
                "active_backend_id": h.active_backend_id,
            }
        )
    if version >= V_SERVICE_CLUSTER:
        for item in out:
            item["cluster"] = None
    if params.get("host"):
        wanted = params["host"]
        out = [s for s in out if wanted in (s["host"], str(s["host"]).split("@")[0])]
    if params.get("binary"):
        out = [s for s in out if s["binary"] == params["binary"]]
    return out


def set_enabled(uow: UnitOfWork, ctx: RequestContext, action: str, body: Any) -> dict[str, Any]:
    """``PUT /os-services/enable|disable|disable-log-reason`` for a ``cinder-volume``."""
    authorize(ctx, "volume_extension:services:update")
    if not isinstance(body, dict):
        raise BadRequest("Expected {'host': ..., 'binary': 'cinder-volume'}.")
    name = common.text(body.get("host"), "host", required=True) or ""
    binary = body.get("binary", "cinder-volume")
    if action == "disable-log-reason" and not body.get("disabled_reason"):
        raise BadRequest("Missing disabled reason field.")
    host = uow.session.get(StorageHost, name.split("@", 1)[0])
    known = host is not None if binary == "cinder-volume" else (
        binary == "cinder-scheduler" and name == SCHEDULER_HOST
    )  # fmt: skip
    if not known:
        raise NotFound(f"Service {name} ({common.shown(binary)}) could not be found.",
                       kind="ServiceNotFound")  # fmt: skip
    if binary != "cinder-volume" or host is None:
        raise BadRequest("Only cinder-volume services can be enabled or disabled here.")
    host.disabled = action != "enable"
    host.disabled_reason = (
        common.text(body.get("disabled_reason"), "disabled_reason")
        if action == "disable-log-reason"
        else None
    )
    return {
        "host": name,
        "binary": binary,
        "status": "disabled" if host.disabled else "enabled",
        "disabled": host.disabled,
        "disabled_reason": host.disabled_reason,
    }


def freeze(uow: UnitOfWork, ctx: RequestContext, action: str, body: Any) -> None:
    """``PUT /os-services/freeze|thaw``: an unknown host is a 400 (as in Cinder); kumo
    has no frozen state for a backend, so a known one is refused too, saying so."""
    authorize(ctx, "volume_extension:services:update")
    if not isinstance(body, dict):
        raise BadRequest("Expected {'host': ...}.")
    name = common.text(body.get("host"), "host", required=True) or ""
    if uow.session.get(StorageHost, name.split("@", 1)[0]) is None:
        raise BadRequest(f"Host {name} not found.", kind="InvalidInput")
    raise BadRequest(f"kumo cannot {action} a storage backend: the host is unchanged.",
                     kind="InvalidInput")  # fmt: skip


def zones(session: Session, settings: Settings) -> list[dict[str, Any]]:
    now = utcnow()
    found: dict[str, bool] = {}
    for h in session.scalars(select(StorageHost)):
        up = is_up(settings, h, now) and not h.disabled
        found[h.availability_zone] = found.get(h.availability_zone, False) or up
    return [{"zoneName": z, "zoneState": {"available": up}} for z, up in sorted(found.items())]
