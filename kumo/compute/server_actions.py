"""Server actions: os-start, os-stop, reboot, lock, unlock.

Only the recorded state changes here (vm_state, power_state); stopping
the instance on its host is the data plane's business.
"""

from __future__ import annotations

from typing import Any

from kumo.compute import server_networks, servers
from kumo.compute.server_status import RUNNING, SHUTDOWN, derive
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict
from kumo.policy import allowed

ACTIONS = ("os-start", "os-stop", "reboot", "lock", "unlock")


class InstanceInvalidState(Conflict):
    kind = "InstanceInvalidState"


def _invalid(server: Server, action: str, vm_state: str) -> InstanceInvalidState:
    return InstanceInvalidState(
        f"Cannot '{action}' instance {server.id} while it is in vm_state {vm_state}"
    )


def run(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, body: Any
) -> None:
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: expected one action.")
    ((action, arg),) = body.items()
    if action not in ACTIONS:
        raise BadRequest(f"There is no such action: {action}")
    s = uow.session
    server = servers.load(s, ctx, server_id, lock=True)
    if server.locked and not allowed(ctx, "compute:servers:locked_override") and action != "lock":
        raise Conflict(f"Instance {server_id} is locked", kind="InstanceIsLocked")
    statuses = [p.status for p in server_networks.server_ports(s, server.id)]
    current = derive(server, statuses, utcnow(), settings.vif_plugged_timeout).vm_state
    if action == "os-start":
        if current != "stopped":
            raise _invalid(server, "start", current)
        _set(server, "active", RUNNING)
    elif action == "os-stop":
        if current not in ("active", "error"):
            raise _invalid(server, "stop", current)
        _set(server, "stopped", SHUTDOWN)
    elif action == "reboot":
        kind = arg.get("type") if isinstance(arg, dict) else None
        if kind not in ("SOFT", "HARD", "soft", "hard"):
            raise BadRequest(f"Invalid input for field/attribute type. Value: {kind}.")
        accepted = ("active",) if kind.upper() == "SOFT" else ("active", "stopped", "error")
        if current not in accepted:
            raise _invalid(server, "reboot", current)
        _set(server, "active", RUNNING)
    elif action in ("lock", "unlock"):
        server.locked = action == "lock"
        server.updated_at = utcnow()


def _set(server: Server, vm_state: str, power_state: int) -> None:
    if server.launched_at is None:
        server.launched_at = server.created_at
    server.vm_state = vm_state
    server.power_state = power_state
    server.task_state = None
    server.fault = None
    server.updated_at = utcnow()
