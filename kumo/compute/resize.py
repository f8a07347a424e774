"""Resize on the same host: ``resize``, ``confirmResize``, ``revertResize``.

``resize`` checks that the server's host has room for the new flavor
(the scheduler's RAM and vCPU filters with the difference, the host's
agent rows locked as for a placement), records the new flavor and keeps
the old one to revert to. A namespace server is resized at once (it has
nothing to change); a VM shows RESIZE until its host reports it running
with the new vCPUs, RAM and disk (the agent powers it off, changes it,
grows its disk and starts it), then VERIFY_RESIZE. ``confirmResize``
forgets the old flavor; ``revertResize`` puts it back (REVERT_RESIZE until
the host reports the old size; the disk keeps its size, as qcow2 disks
never shrink).
"""

from __future__ import annotations

from typing import Any

from kumo.compute import drivers, flavors, quotas, scheduler, servers
from kumo.compute.scheduler import filters
from kumo.compute.scheduler import hosts as host_states
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, NotFound

RESIZING, REVERTING = "resize_finish", "resize_reverting"


def size(server: Server) -> str:
    """What a host reports a VM's size as: ``vcpus/memory_mb/disk_gb``."""
    return f"{server.vcpus}/{server.memory_mb}/{int((server.flavor or {}).get('disk') or 0)}"


def _invalid(server: Server, action: str, state: str) -> Conflict:
    return Conflict(
        f"Cannot '{action}' instance {server.id} while it is in vm_state {state}",
        kind="InstanceInvalidState",
    )


def resize(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server: Server, current: str,
    arg: Any,
) -> None:  # fmt: skip
    if not isinstance(arg, dict):
        raise BadRequest("Invalid input for field/attribute resize.")
    if current not in ("active", "stopped"):
        raise _invalid(server, "resize", current)
    s = uow.session
    flavor_id = servers.ref(arg.get("flavorRef"), "flavorRef")
    try:
        flavor = flavors.load(s, ctx, flavor_id)
    except NotFound:
        raise BadRequest(f"Flavor {flavor_id} could not be found.") from None
    if flavor.id == server.flavor_id:
        raise BadRequest("When resizing, instances must change flavor!")
    old_disk = int((server.flavor or {}).get("disk") or 0)
    if flavor.disk and flavor.disk < old_disk:
        raise BadRequest("Resize to a smaller disk flavor is not allowed.")
    _check_quota(uow, settings, server, flavor.vcpus, flavor.ram)
    states = host_states.load(s, settings, lock=True)
    here = next((h for h in states if h.host == server.host), None)
    spec = scheduler.RequestSpec(
        vcpus=max(0, flavor.vcpus - server.vcpus), memory_mb=max(0, flavor.ram - server.memory_mb)
    )
    if here is None or not (
        filters.ram_filter(here, spec, settings) and filters.core_filter(here, spec, settings)
    ):
        raise BadRequest(f"{scheduler.NO_VALID_HOST} (resize stays on host {server.host})")
    server.previous_flavor = {
        "flavor_id": server.flavor_id, "flavor": dict(server.flavor or {}),
        "vcpus": server.vcpus, "memory_mb": server.memory_mb, "vm_state": current,
    }  # fmt: skip
    before = size(server)
    _take(server, flavor.id, flavors.snapshot(flavor), flavor.vcpus, flavor.ram)
    if size(server) == before:  # the VM has nothing to change
        server.vm_state, server.task_state = "resized", None
        return
    _step(server, RESIZING, "resized")


def _check_quota(uow: UnitOfWork, settings: Settings, server: Server, vcpus: int, ram: int) -> None:
    """The growth counts against the project's cores and RAM quota (403
    before any host is asked, as Nova answers)."""
    limit = quotas.limits(uow.session, settings, server.project_id)
    used = quotas.usage(uow.session, server.project_id)
    for resource, grows in (("cores", vcpus - server.vcpus), ("ram", ram - server.memory_mb)):
        if grows > 0 and limit[resource] >= 0 and used[resource] + grows > limit[resource]:
            raise quotas.QuotaExceeded(
                f"Quota exceeded for {resource}: Requested {grows}, but already used "
                f"{used[resource]} of {limit[resource]} {resource}"
            )


def confirm(server: Server, current: str) -> None:
    if server.vm_state != "resized" or server.previous_flavor is None:
        raise _invalid(server, "confirmResize", current)
    before = str(server.previous_flavor.get("vm_state") or "active")
    server.previous_flavor = None
    server.vm_state = "stopped" if before == "stopped" else "active"
    server.updated_at = utcnow()


def revert(server: Server, current: str) -> None:
    old = server.previous_flavor
    if server.vm_state != "resized" or old is None:
        raise _invalid(server, "revertResize", current)
    now = size(server)
    _take(server, str(old["flavor_id"]), dict(old["flavor"]), int(old["vcpus"]),
          int(old["memory_mb"]))  # fmt: skip
    server.previous_flavor = None
    before = str(old.get("vm_state") or "active")
    server.vm_state = "stopped" if before == "stopped" else "active"
    if size(server) != now:
        _step(server, REVERTING, server.vm_state)


def _take(server: Server, flavor_id: str, snapshot: dict[str, Any], vcpus: int, ram: int) -> None:
    server.flavor_id, server.flavor = flavor_id, snapshot
    server.vcpus, server.memory_mb = vcpus, ram
    server.updated_at = utcnow()


def _step(server: Server, task: str, vm_state: str) -> None:
    """A VM waits for its host (``task``); a namespace server is done."""
    if server.driver == drivers.QEMU:
        server.task_state = task
        server.fault = None
        return
    server.vm_state, server.task_state = vm_state, None


def reported(server: Server, power: str, reported_size: str) -> None:
    """A host's report: the resize (or its revert) is done when the VM has the new size."""
    if reported_size != size(server):
        return
    if server.task_state == RESIZING:
        server.vm_state, server.task_state = "resized", None
    elif server.task_state == REVERTING:
        before = "stopped" if power == "shutoff" else "active"
        server.vm_state, server.task_state = before, None
