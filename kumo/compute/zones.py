"""``os-services`` and ``os-availability-zone``: compute hosts plus the control services.

The control services (scheduler, conductor) run inside every API process,
so they are reported up on a host named ``controller`` in zone ``internal``.
"""

from __future__ import annotations

import uuid
from typing import Any

from kumo.compute.common import ts
from kumo.compute.hypervisors import service_view
from kumo.compute.scheduler.hosts import HostState
from kumo.config import Settings
from kumo.db.base import utcnow

CONTROL_HOST = "controller"
CONTROL_BINARIES = ("nova-scheduler", "nova-conductor")
INTERNAL_ZONE = "internal"


def control_services() -> list[dict[str, Any]]:
    now = ts(utcnow())
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"kumo:service:{binary}")),
            "binary": binary,
            "host": CONTROL_HOST,
            "zone": INTERNAL_ZONE,
            "status": "enabled",
            "state": "up",
            "updated_at": now,
            "disabled_reason": None,
            "forced_down": False,
        }
        for binary in CONTROL_BINARIES
    ]


def services(hosts: list[HostState], params: dict[str, str]) -> list[dict[str, Any]]:
    rows = control_services() + [service_view(h) for h in hosts]
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
