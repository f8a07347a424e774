"""``os-hosts`` (deprecated by Nova at 2.43, served up to 2.42): the control
and compute hosts, one host's resources, enabling or disabling one.

The control services report on host ``controller`` (zone ``internal``, see
``zones.py``); a compute host is a host agent. Host power actions
(startup, shutdown, reboot) are not something kumo does to its hosts: they
answer 501, as Nova's libvirt driver does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.compute.hypervisors import compute_hosts
from kumo.compute.scheduler.hosts import HostState
from kumo.compute.zones import CONTROL_BINARIES, CONTROL_HOST, INTERNAL_ZONE
from kumo.config import Settings
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, NotFound, NotImplementedYet
from kumo.network import agents


def listing(session: Session, settings: Settings, zone: str | None) -> list[dict[str, str]]:
    rows = [
        {"host_name": CONTROL_HOST, "service": b.removeprefix("nova-"), "zone": INTERNAL_ZONE}
        for b in CONTROL_BINARIES
    ] + [
        {"host_name": h.host, "service": "compute", "zone": h.zone}
        for h in compute_hosts(session, settings)
    ]
    return [r for r in rows if r["zone"] == zone] if zone else rows


def _not_found(host: str) -> NotFound:
    return NotFound(f"Compute host {host} could not be found.", kind="ComputeHostNotFound")


def _compute_host(session: Session, settings: Settings, host: str) -> HostState:
    found = next((h for h in compute_hosts(session, settings) if h.host == host), None)
    if found is None:
        raise _not_found(host)
    return found


def _known(session: Session, settings: Settings, host: str) -> None:
    if host != CONTROL_HOST:
        _compute_host(session, settings, host)


def show(session: Session, settings: Settings, host: str) -> list[dict[str, Any]]:
    """The host's total, used-now and per-project resources (Nova's shape)."""
    h = _compute_host(session, settings, host)

    def resource(project: str, cpu: int, memory_mb: int) -> dict[str, Any]:
        return {
            "resource": {
                "host": h.host,
                "project": project,
                "cpu": cpu,
                "memory_mb": memory_mb,
                "disk_gb": 0,
            }
        }

    per_project: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for project, vcpus, memory in session.execute(
        select(Server.project_id, func.sum(Server.vcpus), func.sum(Server.memory_mb))
        .where(Server.host == h.host)
        .group_by(Server.project_id)
        .order_by(Server.project_id)
    ):
        per_project[project] = (int(vcpus or 0), int(memory or 0))
    return [
        resource("(total)", h.vcpus, h.memory_mb),
        resource("(used_now)", h.vcpus_used, h.memory_mb_used),
        resource("(used_max)", h.vcpus_used, h.memory_mb_used),
        *(resource(p, c, m) for p, (c, m) in per_project.items()),
    ]


def update(uow: UnitOfWork, settings: Settings, host: str, body: Any) -> dict[str, str]:
    """``status`` enable/disable sets the host agent's admin state (what the
    scheduler reads); kumo has no maintenance mode."""
    data = body if isinstance(body, dict) else {}
    status = data.get("status")
    maintenance = data.get("maintenance_mode")
    if status is None and maintenance is None:
        raise BadRequest("'status' or 'maintenance_mode' needed for host update")
    for field, value in (("status", status), ("maintenance_mode", maintenance)):
        if value is not None and value not in ("enable", "disable"):
            raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")
    unknown = sorted(set(data) - {"status", "maintenance_mode"})
    if unknown:
        raise BadRequest(f"Invalid input: unexpected {unknown[0]}")
    s = uow.session
    _known(s, settings, host)
    if maintenance is not None:
        raise NotImplementedYet("kumo has no host maintenance mode.")
    if host == CONTROL_HOST:
        raise BadRequest(f"Host {host} runs no compute service to enable or disable.")
    h = _compute_host(s, settings, host)
    agents.update(uow, settings, h.agent_id, {"admin_state_up": status == "enable"})
    return {"host": host, "status": "enabled" if status == "enable" else "disabled"}


def power_action(session: Session, settings: Settings, host: str, action: str) -> None:
    _known(session, settings, host)
    raise NotImplementedYet(f"kumo does not {action} its hosts through the API.")
