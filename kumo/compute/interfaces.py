"""``os-interface``: a server's ports; attach a port or a network, detach."""

from __future__ import annotations

from typing import Any

from kumo.compute import server_events, server_networks, servers
from kumo.compute.microversion import Version
from kumo.compute.server_status import RUNNING, derive
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.network_models import Port
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.policy import allowed


def view(port: Port, version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "port_state": port.status,
        "fixed_ips": [
            {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips
        ],
        "port_id": port.id,
        "net_id": port.network_id,
        "mac_addr": port.mac_address,
    }
    if version.at_least("2.70"):
        out["tag"] = None
    return out


def not_attached(port_id: str, server_id: str) -> NotFound:
    return NotFound(f"Port {port_id} is not attached to instance {server_id}", kind="PortNotFound")


def attach(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, body: Any
) -> str:
    """Attach a port (given, or made on a network) to the server; the port's id."""
    data = body.get("interfaceAttachment") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest("Invalid input for field/attribute interfaceAttachment.")
    s = uow.session
    server = servers.load(s, ctx, server_id, lock=True)
    statuses = [p.status for p in server_networks.server_ports(s, server.id)]
    state = derive(server, statuses, utcnow(), settings.vif_plugged_timeout).vm_state
    if state == "active" and server.vm_state == "building":
        # Built: record it, so that the new port does not send it back to BUILD.
        server.vm_state, server.power_state, server.launched_at = "active", RUNNING, utcnow()
    if state not in ("active", "stopped"):
        raise Conflict(
            f"Cannot 'attach_interface' instance {server.id} while it is in vm_state {state}",
            kind="InstanceInvalidState",
        )
    port_id = data.get("port_id")
    net_id = data.get("net_id")
    if port_id and net_id:
        raise BadRequest("Must not input both network_id and port_id")
    fixed = data.get("fixed_ips") or []
    if not isinstance(fixed, list) or len(fixed) > 1:
        raise BadRequest("Invalid input for field/attribute fixed_ips.")
    fixed_ip = fixed[0].get("ip_address") if fixed and isinstance(fixed[0], dict) else None
    if fixed_ip and not net_id:
        raise BadRequest("Fixed IP requires a network (net_id).")
    if port_id:
        wanted: Any = [{"port": port_id}]
    elif net_id:
        wanted = [{"uuid": net_id, **({"fixed_ip": fixed_ip} if fixed_ip else {})}]
    else:
        wanted = None
    parsed = server_networks.parse(wanted, required=False)
    found = server_networks.resolve(uow, settings, ctx, parsed)
    if not found:
        raise BadRequest(
            "No specific network was requested and none are available for project "
            f"'{ctx.project_id}'.",
            kind="InterfaceAttachFailedNoNetwork",
        )
    (req,) = found
    made = server_networks.attach(
        uow, settings, ctx, server, req, list(server.security_groups or [])
    )
    server_events.emit(uow, server)  # a VM's host hot-plugs the new port
    return made


def detach(uow: UnitOfWork, ctx: RequestContext, server_id: str, port_id: str) -> None:
    s = uow.session
    server = servers.load(s, ctx, server_id, lock=True)
    if server.locked and not allowed(ctx, "compute:servers:locked_override"):
        raise Conflict(f"Instance {server_id} is locked", kind="InstanceIsLocked")
    port = s.get(Port, port_id)
    if port is None or port.device_id != server.id:
        raise not_attached(port_id, server_id)
    server_networks.detach(uow, ctx, server.id, port_id)
    server_events.emit(uow, server)


def find(uow_session: Any, ctx: RequestContext, server_id: str, port_id: str) -> Port:
    server = servers.load(uow_session, ctx, server_id)
    port = uow_session.get(Port, port_id)
    if port is None or port.device_id != server.id:
        raise not_attached(port_id, server_id)
    found: Port = port
    return found
