"""What host agents report about their VMs, and what it does to the servers.

An agent reports, for each VM of its host whose state changed, its power
(``running``, ``paused``, ``shutoff``, or ``error`` with a ``fault``) and
the reboots it has done. That ends the action under way when the VM got
where it was sent (``powering-off`` and ``shutoff``: the server is
``stopped``; ``rebooting`` once the reboots done reach those asked for),
turns a building VM ``active`` (or ``error``), and records a VM whose
guest powered itself off as ``stopped`` (as Nova's power-state sync does).
An agent reports only for its own host (the policy table's
``internal:report``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kumo.compute import drivers, resize, server_events
from kumo.compute.server_status import NOSTATE, PAUSED, RUNNING, SHUTDOWN, SUSPENDED
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest
from kumo.identity import agent_credentials

POWERS = ("running", "paused", "shutoff", "error")


def parse(body: Any) -> list[dict[str, Any]]:
    items = body.get("servers") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise BadRequest("Expected {'servers': [{'id', 'power', 'reboots', 'fault'}]}")
    out = []
    for item in items:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("id"), str)
            or item.get("power") not in POWERS
            or not isinstance(item.get("reboots", 0), int)
            or not isinstance(item.get("rebuilds", 0), int)
            or not isinstance(item.get("fault") or "", str)
            or not isinstance(item.get("image") or "", str)
            or not isinstance(item.get("size") or "", str)
        ):
            raise BadRequest(f"Invalid server power report: {item!r}")
        out.append(item)
    return out


def report(uow: UnitOfWork, ctx: RequestContext, items: list[dict[str, Any]]) -> int:
    """Apply the reports; how many servers changed."""
    s = uow.session
    found = _servers(s, [str(i["id"]) for i in items])
    agent_credentials.authorize_hosts(s, ctx, [v.host or "" for v in found.values()])
    changed = 0
    for item in items:
        server = found.get(str(item["id"]))
        if server is None or server.driver != drivers.QEMU:
            continue
        before = (server.vm_state, server.task_state, server.power_state)
        _apply(server, str(item["power"]), int(item.get("reboots") or 0), item.get("fault"))
        if server.task_state in (resize.RESIZING, resize.REVERTING):
            resize.reported(server, str(item["power"]), str(item.get("size") or ""))
        rebuilt = int(item.get("rebuilds") or 0) >= server.rebuilds
        if server.task_state == "rebuilding" and item["power"] == "running" and rebuilt:
            server.task_state = None
        if (server.vm_state, server.task_state, server.power_state) != before:
            server.updated_at = utcnow()
            server_events.emit(uow, server)
            changed += 1
    return changed


def _servers(session: Session, ids: list[str]) -> dict[str, Server]:
    out = {}
    for sid in sorted(set(ids)):
        server = session.get(Server, sid, with_for_update=True)
        if server is not None:
            out[sid] = server
    return out


def _apply(server: Server, power: str, reboots: int, fault: str | None) -> None:
    task = server.task_state or ""
    if power == "error":
        if server.vm_state == "building" or task:
            server.vm_state, server.task_state, server.power_state = "error", None, NOSTATE
            server.fault = {
                "code": 500,
                "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "message": (fault or "The VM failed on its host.")[:255],
            }
        return
    if task in (resize.RESIZING, resize.REVERTING):
        return  # done when the VM has its new size (``resize.reported``)
    if power == "running":
        if task == "rebuilding":
            return  # done when the VM runs the new image (above)
        if task.startswith("rebooting") and reboots >= server.reboots:
            server.task_state = None
        elif task in server_events.STARTING:
            server.vm_state, server.task_state = "active", None
        if server.vm_state == "building":
            server.vm_state, server.launched_at = "active", utcnow()
        if server.vm_state in ("active", "error") and not server.task_state:
            server.vm_state, server.power_state, server.fault = "active", RUNNING, None
        return
    if power == "shutoff":
        if task == "powering-off" or (server.vm_state == "active" and not task):
            server.vm_state, server.task_state, server.power_state = "stopped", None, SHUTDOWN
        return
    if power == "paused" and task in server_events.PAUSING:
        suspended = task == "suspending"
        server.vm_state = "suspended" if suspended else "paused"
        server.power_state = SUSPENDED if suspended else PAUSED
        server.task_state = None
