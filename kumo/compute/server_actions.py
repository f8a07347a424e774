"""Server actions: os-start, os-stop, reboot, pause, unpause, suspend,
resume, rebuild, resize (``kumo.compute.resize``), createImage
(``kumo.compute.snapshots``; of a server booted from a volume,
``kumo.compute.volume_backed_images``), lock, unlock.

A namespace server's state is recorded at once (its host has nothing to
wait for). A VM's action is recorded as a task (``powering-off``,
``rebooting``...) that the server's watch body turns into the power state
its host must reach; the host agent reports when the VM got there
(``kumo.compute.power_reports``) and only then does the server show
SHUTOFF, PAUSED or ACTIVE again, so SHUTOFF means the QEMU process is gone.
``suspend`` maps to pause (the VM's memory stays in QEMU).
"""

from __future__ import annotations

from typing import Any

from kumo.compute import (
    block_devices,
    drivers,
    resize,
    server_admin_actions,
    server_events,
    server_networks,
    servers,
    snapshots,
    volume_backed_images,
)
from kumo.compute.common import name_field
from kumo.compute.server_status import PAUSED, RUNNING, SHUTDOWN, SUSPENDED, derive
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict
from kumo.image import access
from kumo.network import events
from kumo.policy import allowed

ACTIONS = (
    "os-start", "os-stop", "reboot", "pause", "unpause", "suspend", "resume", "lock", "unlock",
    "rebuild", "resize", "confirmResize", "revertResize", "createImage",
)  # fmt: skip


class InstanceInvalidState(Conflict):
    kind = "InstanceInvalidState"


def _invalid(server: Server, action: str, vm_state: str) -> InstanceInvalidState:
    return InstanceInvalidState(
        f"Cannot '{action}' instance {server.id} while it is in vm_state {vm_state}"
    )


# action → (states it may start from, resulting vm_state, power state, VM task)
_POWER: dict[str, tuple[tuple[str, ...], str, int, str]] = {
    "os-start": (("stopped",), "active", RUNNING, "powering-on"),
    "os-stop": (("active", "error"), "stopped", SHUTDOWN, "powering-off"),
    "pause": (("active",), "paused", PAUSED, "pausing"),
    "unpause": (("paused",), "active", RUNNING, "unpausing"),
    "suspend": (("active",), "suspended", SUSPENDED, "suspending"),
    "resume": (("suspended",), "active", RUNNING, "resuming"),
}
_NAMES = {"os-start": "start", "os-stop": "stop"}


def run(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, body: Any
) -> str | None:
    """Run the action; ``createImage`` answers the new image's id."""
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: expected one action.")
    ((action, arg),) = body.items()
    action = str(action)
    if action in server_admin_actions.ACTIONS:
        server_admin_actions.run(uow, ctx, server_id, action, arg)
        return None
    if action not in ACTIONS:
        raise BadRequest(f"There is no such action: {action}")
    s = uow.session
    server = servers.load(s, ctx, server_id, lock=True)
    if (
        server.locked
        and not allowed(ctx, "compute:servers:locked_override")
        and action not in ("lock", "unlock")  # whoever may lock may unlock
    ):
        raise Conflict(f"Instance {server_id} is locked", kind="InstanceIsLocked")
    statuses = [p.status for p in server_networks.server_ports(s, server.id)]
    effective = derive(server, statuses, utcnow(), settings.vif_plugged_timeout)
    current = effective.vm_state
    vm = server.driver == drivers.QEMU
    if vm and effective.task_state and action not in ("lock", "unlock", "reboot"):
        raise InstanceInvalidState(
            f"Cannot '{_NAMES.get(action, action)}' instance {server.id} while it is in "
            f"task_state {effective.task_state}"
        )
    if action in _POWER:
        accepted, vm_state, power, task = _POWER[action]
        if current not in accepted:
            raise _invalid(server, _NAMES.get(action, action), current)
        if vm:
            _task(server, current, task)
        else:
            _set(server, vm_state, power)
    elif action == "reboot":
        kind = arg.get("type") if isinstance(arg, dict) else None
        if kind not in ("SOFT", "HARD", "soft", "hard"):
            raise BadRequest(f"Invalid input for field/attribute type. Value: {kind}.")
        hard = kind.upper() == "HARD"
        accepted = ("active", "stopped", "error", "paused", "suspended") if hard else ("active",)
        if current not in accepted or (not hard and effective.task_state):
            raise _invalid(server, "reboot", current)
        if vm:
            server.reboots += 1
            _task(server, "active", "rebooting_hard" if hard else "rebooting")
        else:
            _set(server, "active", RUNNING)
    elif action == "rebuild":
        _rebuild(uow, ctx, server, current, arg)
    elif action == "resize":
        resize.resize(uow, settings, ctx, server, current, arg)
    elif action == "confirmResize":
        resize.confirm(server, current)
    elif action == "revertResize":
        resize.revert(server, current)
    elif action == "createImage":
        if block_devices.root_of(uow.session, server.id) is not None:
            return volume_backed_images.request(uow, settings, ctx, server, current, arg)
        image_id = snapshots.request(uow, ctx, server, current, arg)
        server_events.emit(uow, server)
        return image_id
    elif action in ("lock", "unlock"):
        server.locked = action == "lock"
        server.updated_at = utcnow()
        return None
    server_events.emit(uow, server)
    return None


def _rebuild(uow: UnitOfWork, ctx: RequestContext, server: Server, current: str, arg: Any) -> None:
    """A new image for the same server and ports: a VM's host makes a fresh
    disk from it and boots it (``rebuilding`` until it reports so). A server
    booted from a volume is rebuilt with the image it runs only: its host
    restarts it on the same root volume."""
    if not isinstance(arg, dict):
        raise BadRequest("Invalid input for field/attribute rebuild.")
    if current not in ("active", "stopped", "error"):
        raise _invalid(server, "rebuild", current)
    s = uow.session
    image_id = servers.ref(arg.get("imageRef"), "imageRef")
    volume_backed = block_devices.root_of(s, server.id) is not None
    if volume_backed:
        # the root volume is not reimaged (Nova's reimage needs 2.93): the
        # same image restarts the VM on the same volume, another is refused
        running = block_devices.image_of(s, server)
        if running is None or running.id != image_id:
            raise BadRequest("Unable to rebuild with a different image for a volume-backed server.")
    image = s.get(Image, image_id)
    if image is None or not access.visible(s, ctx, image):
        raise BadRequest(f"Image {image_id} could not be found.")
    if image.status != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    if drivers.for_image(image) != server.driver:
        raise BadRequest(
            f"Image {image_id} needs the {drivers.for_image(image)} driver; instance "
            f"{server.id} runs on {server.driver}."
        )
    if server.memory_mb < image.min_ram:
        raise BadRequest("Flavor's memory or disk is too small for requested image.")
    if "name" in arg:
        server.name = name_field(arg["name"])
        for port in server_networks.server_ports(s, server.id):
            events.port(uow, port)
    if "user_data" in arg:
        server.user_data = servers.user_data(arg["user_data"])
    if "metadata" in arg:
        server.meta = servers.metadata_field(arg["metadata"])
    for key, attr, ip_version in (
        ("accessIPv4", "access_ipv4", 4),
        ("accessIPv6", "access_ipv6", 6),
    ):
        if key in arg:
            setattr(server, attr, servers.access_ip(arg[key], key, ip_version))
    if "description" in arg:
        server.description = servers.description_field(arg["description"])
    if not volume_backed:
        server.image_id = image.id
    server.rebuilds += 1
    if server.driver == drivers.QEMU:
        _task(server, "active", "rebuilding")
    elif current == "stopped":  # a stopped server is rebuilt stopped, as Nova does
        _set(server, "stopped", SHUTDOWN)
    else:
        _set(server, "active", RUNNING)


def _task(server: Server, vm_state: str, task: str) -> None:
    """A VM's action under way: its host reports when it is done."""
    if server.launched_at is None:
        server.launched_at = server.created_at
    server.vm_state = vm_state
    server.task_state = task
    server.fault = None
    server.updated_at = utcnow()


def _set(server: Server, vm_state: str, power_state: int) -> None:
    if server.launched_at is None:
        server.launched_at = server.created_at
    server.vm_state = vm_state
    server.power_state = power_state
    server.task_state = None
    server.fault = None
    server.updated_at = utcnow()
