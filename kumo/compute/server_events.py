"""Outbox events for servers: what a host agent needs to run one.

A server with a host is sent to ``host:H`` (and to its old host when it
moved) as kind ``server``: its driver, flavor resources, image (id and
hashes: the agent fetches the data by them), the power state its host
should hold (``power``: ``running``, ``stopped`` or ``paused``, from the
recorded state and the action under way), how many reboots were asked
for (``reboots``, and whether the last was ``reboot_hard``), the image a
snapshot under way goes into (``snapshot``, ``kumo.compute.snapshots``),
its ports in attachment order and, for a server booted from a volume,
its root volume's NBD export (``root_volume``, ``ready`` once the volume
is made; the image is then the one the volume was made from). Every change of any of these re-emits it; a delete
emits the last body with ``op`` delete. See the watch contract in
docs/DESIGN.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import block_devices, hostnames, server_networks
from kumo.db.compute_models import ImageSnapshot, Server
from kumo.db.network_models import Port
from kumo.db.uow import UnitOfWork

KIND = "server"
STOPPING = ("powering-off",)
STARTING = ("powering-on", "unpausing", "resuming")
PAUSING = ("pausing", "suspending")


def desired_power(server: Server) -> str:
    """The power state the host should hold: the action under way's target,
    else the recorded state's."""
    task = server.task_state or ""
    if task in STOPPING:
        return "stopped"
    if task in STARTING:
        return "running"
    if task in PAUSING:
        return "paused"
    if server.vm_state == "stopped":
        return "stopped"
    if server.vm_state == "resized" and (server.previous_flavor or {}).get("vm_state") == "stopped":
        return "stopped"
    if server.vm_state in ("paused", "suspended"):
        return "paused"
    return "running"


def body(session: Session, server: Server) -> dict[str, Any]:
    image = block_devices.image_of(session, server)
    ports = session.scalars(
        server_networks.in_server_order(select(Port.id).where(Port.device_id == server.id))
    )
    flavor = server.flavor or {}
    return {
        "id": server.id,
        "name": server.name,
        "hostname": hostnames.server_hostname(server.id, server.name),
        "project_id": server.project_id,
        "host": server.host or "",
        "driver": server.driver,
        "vcpus": server.vcpus,
        "memory_mb": server.memory_mb,
        "disk_gb": int(flavor.get("disk") or 0),
        "image": {
            "id": image.id if image else server.image_id,
            "checksum": image.checksum if image else None,
            "os_hash_value": image.os_hash_value if image else None,
            "size": image.size if image else None,
        },
        "power": desired_power(server),
        "reboots": server.reboots,
        "rebuilds": server.rebuilds,
        "reboot_hard": server.task_state == "rebooting_hard",
        "snapshot": _snapshot(session, server),
        "ports": list(ports),
        "root_volume": block_devices.root_body(session, server),
    }


def _snapshot(session: Session, server: Server) -> str:
    """The image a snapshot under way goes into ("" for none)."""
    if server.task_state != "image_snapshot":
        return ""
    found = session.scalar(
        select(ImageSnapshot.image_id)
        .where(ImageSnapshot.server_id == server.id)
        .order_by(ImageSnapshot.created_at)
        .limit(1)
    )
    return found or ""


def emit(uow: UnitOfWork, server: Server, op: str = "upsert", old_host: str | None = None) -> None:
    """Send the server to its host's topic (and its old host's); nothing
    when it has neither (never placed)."""
    hosts = [h for h in dict.fromkeys([server.host, old_host]) if h]
    if not hosts:
        return
    uow.session.flush()
    topics = tuple(f"host:{h}" for h in hosts)
    uow.emit(KIND, op, server.id, topics, body(uow.session, server))


def host_bodies(session: Session, hosts: set[str]) -> list[dict[str, Any]]:
    """Every server placed on ``hosts``, as the watch feed sends them."""
    if not hosts:
        return []
    rows = session.scalars(select(Server).where(Server.host.in_(sorted(hosts))).order_by(Server.id))
    return [{"kind": KIND, **body(session, s)} for s in rows]
