"""``os-services`` and ``os-availability-zone``: compute hosts plus the control services.

The control services (scheduler, conductor) run inside every API process,
so they are reported up on a host named ``controller`` in zone ``internal``.
"""

from __future__ import annotations

import uuid
from typing import Any

from kumo.compute.common import ts
from kumo.compute.hypervisors import compute_hosts, legacy_id, service_view
from kumo.compute.microversion import Version
from kumo.compute.scheduler.hosts import HostState
from kumo.config import Settings
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, NotFound
from kumo.network import agents

CONTROL_HOST = "controller"
CONTROL_BINARIES = ("nova-scheduler", "nova-conductor")
INTERNAL_ZONE = "internal"


def control_service_id(binary: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kumo:service:{binary}"))


def control_services(version: Version) -> list[dict[str, Any]]:
    now = ts(utcnow())
    out = []
    for binary in CONTROL_BINARIES:
        ident = control_service_id(binary)
        row: dict[str, Any] = {
            "id": ident if version.at_least("2.53") else legacy_id(ident),
            "binary": binary,
            "host": CONTROL_HOST,
            "zone": INTERNAL_ZONE,
            "status": "enabled",
            "state": "up",
            "updated_at": now,
            "disabled_reason": None,
        }
        if version.at_least("2.11"):
            row["forced_down"] = False
        out.append(row)
    return out


def services(
    hosts: list[HostState], params: dict[str, str], version: Version
) -> list[dict[str, Any]]:
    """``os-services`` at ``version``: ``forced_down`` from 2.11, UUID ids from
    2.53 (integers before)."""
    rows = control_services(version) + [service_view(h, version) for h in hosts]
    if "host" in params:
        rows = [r for r in rows if r["host"] == params["host"]]
    if "binary" in params:
        rows = [r for r in rows if r["binary"] == params["binary"]]
    return rows


def zones(hosts: list[HostState], settings: Settings, *, detail: bool) -> list[dict[str, Any]]:
    by_zone: dict[str, list[HostState]] = {}
    for h in hosts:
        by_zone.setdefault(h.zone, []).append(h)
    if not by_zone:
        by_zone[settings.default_availability_zone] = []
    out = []
    for zone in sorted(by_zone):
        members = by_zone[zone]
        entry: dict[str, Any] = {
            "zoneName": zone,
            "zoneState": {"available": any(h.alive and h.enabled for h in members)},
            "hosts": None,
        }
        if detail:
            entry["hosts"] = {
                h.host: {
                    "nova-compute": {
                        "available": h.alive,
                        "active": h.enabled,
                        "updated_at": ts(h.updated_at),
                    }
                }
                for h in members
            }
        out.append(entry)
    if detail:
        now = ts(utcnow())
        out.append(
            {
                "zoneName": INTERNAL_ZONE,
                "zoneState": {"available": True},
                "hosts": {
                    CONTROL_HOST: {
                        b: {"available": True, "active": True, "updated_at": now}
                        for b in CONTROL_BINARIES
                    }
                },
            }
        )
    return out


def update_service(uow: UnitOfWork, settings: Settings, service_id: str, body: Any) -> str:
    """``PUT /os-services/{id}`` (2.53): enable or disable a compute host's
    service (its agent's ``admin_state_up``, which the scheduler reads); the
    host's name. kumo keeps no disable reason and forces no service down."""
    data = body if isinstance(body, dict) else None
    if data is None or not data or not set(data) <= {"status", "disabled_reason", "forced_down"}:
        raise BadRequest(f"Invalid input for field/attribute service. Value: {body}.")
    status = data.get("status")
    if status not in (None, "enabled", "disabled"):
        raise BadRequest(f"Invalid input for field/attribute status. Value: {status}.")
    if service_id in {control_service_id(b) for b in CONTROL_BINARIES}:
        raise BadRequest(
            "Updating a nova-scheduler or nova-conductor service is not supported. "
            "Only nova-compute services can be updated."
        )
    host = next((h for h in compute_hosts(uow.session, settings) if h.agent_id == service_id), None)
    if host is None:
        raise NotFound(f"Service {service_id} could not be found.", kind="ServiceNotFound")
    if "disabled_reason" in data or "forced_down" in data:
        raise BadRequest("kumo keeps no disabled_reason and does not force services down.")
    if status is not None:
        agents.update(uow, settings, service_id, {"admin_state_up": status == "enabled"})
    return host.host
