"""Server actions beside the power ones (``kumo.compute.server_actions``
hands them here): ``os-resetState`` and ``injectNetworkInfo`` (admin),
``forceDelete`` and ``restore`` (soft delete), ``migrate`` and
``os-migrateLive`` (admin).

kumo deletes servers at once (no soft delete), so ``forceDelete`` is a
delete and ``restore`` finds nothing to restore (409). A namespace
instance's network comes from its host agent, which applies every change
of its ports, so ``injectNetworkInfo`` has nothing left to push. kumo does
not move servers between hosts: a migration of a server in a state that
allows one is refused as Nova refuses one with no other host to go to.
"""

from __future__ import annotations

from typing import Any

from kumo.compute import servers
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict
from kumo.policy import authorize

ACTIONS = (
    "os-resetState", "injectNetworkInfo", "forceDelete", "restore", "migrate", "os-migrateLive",
)  # fmt: skip
_ADMIN = {"os-resetState", "injectNetworkInfo", "migrate", "os-migrateLive"}
_RESET_STATES = ("active", "error")
_MIGRATABLE = {"migrate": ("active", "stopped"), "os-migrateLive": ("active", "paused")}


class NoValidHost(BadRequest):
    kind = "NoValidHost"


def run(uow: UnitOfWork, ctx: RequestContext, server_id: str, action: str, arg: Any) -> None:
    if action == "forceDelete":
        servers.remove(uow, ctx, server_id)
        return
    server = servers.load(uow.session, ctx, server_id, lock=True)
    if action in _ADMIN:
        authorize(ctx, "compute:servers:action:admin", {"project_id": server.project_id})
    if action == "os-resetState":
        _reset_state(server, arg)
    elif action == "restore":
        raise Conflict(
            f"Cannot 'restore' instance {server.id} while it is in vm_state {server.vm_state}",
            kind="InstanceInvalidState",
        )
    elif action in _MIGRATABLE:
        if server.vm_state not in _MIGRATABLE[action]:
            raise Conflict(
                f"Cannot '{action}' instance {server.id} while it is in vm_state {server.vm_state}",
                kind="InstanceInvalidState",
            )
        raise NoValidHost("No valid host was found. kumo does not move servers between hosts.")


def _reset_state(server: Server, arg: Any) -> None:
    state = arg.get("state") if isinstance(arg, dict) else None
    if state not in _RESET_STATES:
        raise BadRequest(f"Invalid input for field/attribute state. Value: {state}.")
    server.vm_state = state
    server.task_state = None
    if server.launched_at is None:
        server.launched_at = server.created_at
    if state == "active":
        server.fault = None
    server.updated_at = utcnow()
