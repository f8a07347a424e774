"""A server's status, derived on read from its stored state and its ports.

A new server is ``building`` in the database. It shows as BUILD until every
one of its ports is ACTIVE (its host agent has wired them: Nova's "vif
plugged" contract) and, for a VM, until its host reports it running, then as ACTIVE; if that takes longer than
``vif_plugged_timeout`` it shows as ERROR with a fault. Actions (stop,
start, reboot) write ``active``/``stopped`` and end the derivation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kumo.db.compute_models import Server

NOSTATE, RUNNING, PAUSED, SHUTDOWN, SUSPENDED = 0, 1, 3, 4, 7
STATUS_BY_VM_STATE = {
    "active": "ACTIVE",
    "stopped": "SHUTOFF",
    "error": "ERROR",
    "building": "BUILD",
    "paused": "PAUSED",
    "suspended": "SUSPENDED",
    "resized": "VERIFY_RESIZE",
}
STATUS_BY_TASK = {
    "rebooting": "REBOOT", "rebooting_hard": "HARD_REBOOT", "rebuilding": "REBUILD",
    "resize_finish": "RESIZE", "resize_reverting": "REVERT_RESIZE",
}  # fmt: skip


@dataclass(frozen=True)
class Effective:
    status: str
    vm_state: str
    task_state: str | None
    power_state: int
    fault: dict[str, Any] | None


def derive(
    server: Server, port_statuses: list[str], now: dt.datetime, timeout_seconds: int
) -> Effective:
    if server.vm_state == "building":
        # A VM is built when its host reports it running (its ports may be
        # wired long before); a namespace instance when its ports are.
        vm_up = server.driver != "qemu" or server.power_state == RUNNING
        if vm_up and all(s == "ACTIVE" for s in port_statuses):
            return Effective("ACTIVE", "active", None, RUNNING, None)
        if (now - server.created_at).total_seconds() > timeout_seconds:
            fault = {
                "code": 500,
                "created": server.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "message": f"Build of instance {server.id} aborted: timed out waiting for "
                "its ports to become ACTIVE",
            }
            return Effective("ERROR", "error", None, NOSTATE, fault)
        return Effective("BUILD", "building", "spawning", NOSTATE, None)
    if server.vm_state == "rebooting":
        return Effective("REBOOT", "active", "reboot_started", RUNNING, None)
    status = STATUS_BY_VM_STATE.get(server.vm_state, "UNKNOWN")
    if server.task_state in STATUS_BY_TASK:
        status = STATUS_BY_TASK[server.task_state]
    return Effective(status, server.vm_state, server.task_state, server.power_state, server.fault)


def is_active(server: Server, port_statuses: list[str], now: dt.datetime, timeout: int) -> bool:
    return derive(server, port_statuses, now, timeout).status == "ACTIVE"
