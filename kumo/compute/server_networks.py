"""A server's ports: what the request asks for, making or binding them, releasing them.

Ports are made and updated through kumo/network with the caller's own
context, in the caller's transaction: the same validation, policy, IPAM,
security groups and outbox events as if the user had called the
Networking API. What the user could not do there (a port on another
project's network, or taking another project's port), booting cannot do
either. Only the host binding, which the Networking API keeps for admins,
is compute's own (``bind_to_host``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from kumo.compute import hostnames
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.compute_models import Server, ServerInterface
from kumo.db.network_models import Network, Port
from kumo.db.secgroup_models import SecurityGroup
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound
from kumo.network import dns, validate
from kumo.network.core import networks
from kumo.network.l3 import auto_allocate
from kumo.network.l3 import ports as l3_ports
from kumo.network.ports import ports
from kumo.network.secgroups import groups as secgroups
from kumo.policy import allowed


@dataclass(frozen=True)
class Requested:
    """One entry of ``networks``: a network (maybe with a fixed IP) or a port."""

    network_id: str | None = None
    port_id: str | None = None
    fixed_ip: str | None = None


UNSPECIFIED = "unspecified"
"""``networks`` omitted (before 2.37): the project's only network, or none."""


def parse(raw: Any, *, required: bool) -> list[Requested] | str:
    """``"auto"``, ``"none"`` or a list of requests; ``UNSPECIFIED`` when
    omitted before 2.37 (from 2.37 ``networks`` is required)."""
    if raw is None:
        if required:
            raise BadRequest(
                "Invalid input for field/attribute server. Value: networks. 'networks' is a required property"
            )
        return UNSPECIFIED
    if isinstance(raw, str):
        if raw not in ("auto", "none"):
            raise BadRequest(f"Invalid input for field/attribute networks. Value: {raw}.")
        return raw
    if not isinstance(raw, list):
        raise BadRequest(f"Invalid input for field/attribute networks. Value: {raw}.")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not set(item) <= {"uuid", "port", "fixed_ip", "tag"}:
            raise BadRequest(f"Invalid input for field/attribute networks. Value: {raw}.")
        port_id = item.get("port")
        net_id = item.get("uuid")
        fixed_ip = item.get("fixed_ip")
        if port_id:
            if fixed_ip:
                raise BadRequest("Specified Fixed IP and Port are mutually exclusive.")
            out.append(Requested(port_id=_uuid(port_id, "port")))
        elif net_id:
            if fixed_ip is not None:
                try:
                    fixed_ip = validate.ip(fixed_ip)
                except Exception:  # noqa: BLE001
                    raise BadRequest(
                        f"Invalid input for field/attribute fixed_ip. Value: {fixed_ip}."
                    ) from None
            out.append(Requested(network_id=_uuid(net_id, "uuid"), fixed_ip=fixed_ip))
        else:
            raise BadRequest("Bad network format: network uuid is not in proper format")
    return out


def _uuid(value: Any, field: str) -> str:
    if not isinstance(value, str) or not validate.UUID_RE.match(value):
        raise BadRequest(f"Bad networks format: network uuid is not in proper format ({value})")
    return value


def resolve(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, wanted: list[Requested] | str
) -> list[Requested]:
    """Check the request against what the project may use, as Nova does.

    ``auto`` and an omitted ``networks`` take the project's only network
    (409 when there are several). With none, an omitted ``networks`` boots
    without any, and ``auto`` gets the project's auto-allocated topology,
    made now with the caller's rights (400 when it cannot be made).
    A network or port the caller cannot see is NotFound (server create
    answers 400 for it, ``os-interface`` 404, as Nova does)."""
    session = uow.session
    if wanted == "none":
        return []
    if wanted in ("auto", UNSPECIFIED):
        q = select(Network.id).where(
            Network.external.is_(False),
            or_(Network.project_id == ctx.project_id, Network.shared.is_(True)),
        )
        found = list(session.scalars(q.order_by(Network.created_at)))
        if len(found) > 1:
            raise Conflict(
                "Multiple possible networks found, use a Network ID to be more specific.",
                kind="NetworkAmbiguous",
            )
        if found:
            return [Requested(network_id=found[0])]
        if wanted == UNSPECIFIED:
            return []
        return [Requested(network_id=_auto_allocate(uow, settings, ctx))]
    assert isinstance(wanted, list)
    seen_ports = set()
    for req in wanted:
        if req.network_id:
            try:
                net = networks.load(session, ctx, req.network_id)
            except NotFound:
                raise NotFound(
                    f"Network {req.network_id} could not be found.", kind="NetworkNotFound"
                ) from None
            check_external_attach(ctx, net)
        if req.port_id:
            port = port_for(session, ctx, req.port_id)
            if port.device_id or req.port_id in seen_ports:
                raise Conflict(f"Port {req.port_id} is still in use.", kind="PortInUse")
            seen_ports.add(req.port_id)
    return list(wanted)


def _auto_allocate(uow: UnitOfWork, settings: Settings, ctx: RequestContext) -> str:
    """The project's auto-allocated network (Neutron's get-me-a-network)."""
    project = ctx.project_id or ""
    try:
        return auto_allocate.get_or_create(uow, settings, ctx, project)
    except (Conflict, Forbidden, BadRequest):
        raise BadRequest(
            f"Unable to automatically allocate a network for project {project}",
            kind="UnableToAutoAllocateNetwork",
        ) from None


def port_for(session: Session, ctx: RequestContext, port_id: str) -> Port:
    try:
        return ports.load(session, ctx, port_id)
    except NotFound:
        raise NotFound(f"Port id {port_id} could not be found.", kind="PortNotFound") from None


def group_ids(uow: UnitOfWork, project_id: str, names: list[str]) -> list[str]:
    """Security group names (or ids) of the project, as ids."""
    out = []
    s = uow.session
    for name in names:
        if name == secgroups.DEFAULT_NAME:
            out.append(secgroups.ensure_default(uow, project_id))
            continue
        found = list(
            s.scalars(
                select(SecurityGroup.id).where(
                    SecurityGroup.project_id == project_id,
                    or_(SecurityGroup.name == name, SecurityGroup.id == name),
                )
            )
        )
        if not found:
            raise BadRequest(f"Security group {name} not found for project {project_id}.")
        if len(found) > 1:
            raise Conflict(
                f"Multiple security groups found matching '{name}'. Use an ID to be more specific."
            )
        out.append(found[0])
    return sorted(set(out))


def check_external_attach(ctx: RequestContext, net: Network) -> None:
    """Nova's rule: only admins plug servers straight into an external
    network that is not shared (members reach it through routers and
    floating IPs)."""
    if (
        net.external
        and not net.shared
        and not allowed(ctx, "compute:servers:create:attach_external_network")
    ):
        raise Forbidden(
            f"It is not allowed to create an interface on external network {net.id}",
            kind="ExternalNetworkAttachForbidden",
        )


def check_port_usable(port: Port, server: Server) -> None:
    """A port given to a server must belong to the server's project (a
    network's owner sees other projects' ports on it, but may not take them)."""
    if port.project_id != server.project_id:
        raise BadRequest(
            f"Port {port.id} not usable for instance {server.id}.", kind="PortNotUsable"
        )


def dns_label(server: Server) -> str:
    """The ``dns_name`` a server's ports get (dns-integration, as Nova
    does): its hostname, when that is a valid DNS label ('' otherwise)."""
    name = hostnames.server_hostname(server.id, server.name or "")
    try:
        return dns.dns_name(name)
    except BadRequest:
        return ""


def check_port_dns(port: Port, server: Server, name: str) -> None:
    """A port given to a server with a ``dns_name`` must carry the
    server's hostname (Nova's PortNotUsableDNS)."""
    if port.dns_name and name and port.dns_name != name:
        raise BadRequest(
            f"Port {port.id} not usable for instance {server.id}. Value {port.dns_name} "
            f"assigned to dns_name attribute does not match instance's hostname {name}",
            kind="PortNotUsableDNS",
        )


def bind_to_host(uow: UnitOfWork, port_id: str, host: str) -> None:
    """Bind the port to the host its server runs on ("" unbinds).

    The one step of a server's port work done with service rights: the
    Networking API lets only admins write ``binding:host_id``. The port was
    made, or taken, with the caller's own rights just before.
    """
    port = uow.session.get(Port, port_id)
    assert port is not None
    old_host = port.host
    if ports.bind_host(uow, port, host):
        l3_ports.port_moved(uow, port, old_host)


def attach(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    server: Server,
    req: Requested,
    group_names: list[str],
) -> str:
    """Make (or take) the port for one request with the caller's rights,
    record it in ``server_interfaces`` and bind it to the server's host;
    the port's id."""
    s = uow.session
    owner = f"compute:{server.availability_zone or settings.default_availability_zone}"
    device = {"device_id": server.id, "device_owner": owner}
    name = dns_label(server)
    if req.port_id:
        given = port_for(s, ctx, req.port_id)
        check_port_usable(given, server)
        check_port_dns(given, server, name)
        port_id = ports.update(uow, ctx, req.port_id, {**device, "dns_name": name}, None).id
        s.add(ServerInterface(port_id=port_id, server_id=server.id, owned=False,
                              position=_next_position(s, server.id)))  # fmt: skip
    else:
        assert req.network_id
        net = networks.load(s, ctx, req.network_id)
        body: dict[str, Any] = {
            "network_id": net.id,
            "project_id": server.project_id,
            "dns_name": name,
            **device,
        }
        if net.port_security_enabled:
            body["security_groups"] = group_ids(uow, server.project_id, group_names)
        if req.fixed_ip:
            body["fixed_ips"] = [{"ip_address": req.fixed_ip}]
        port_id = ports.create(uow, settings, ctx, body)["id"]
        s.add(ServerInterface(port_id=port_id, server_id=server.id, owned=True,
                              position=_next_position(s, server.id)))  # fmt: skip
    bind_to_host(uow, port_id, server.host or "")
    return port_id


def detach(uow: UnitOfWork, ctx: RequestContext, server_id: str, port_id: str) -> None:
    """Delete a port the server made; unbind and release one it was given
    (both with the caller's rights, the unbinding aside)."""
    s = uow.session
    iface = s.get(ServerInterface, port_id)
    owned = iface.owned if iface is not None else False
    if iface is not None:
        s.delete(iface)
    if s.get(Port, port_id) is None:
        return
    if owned:
        ports.remove(uow, ctx, port_id, None)
    else:
        bind_to_host(uow, port_id, "")
        ports.update(uow, ctx, port_id, {"device_id": "", "device_owner": "", "dns_name": ""}, None)


_Ts = TypeVarTuple("_Ts")


def _next_position(s: Session, server_id: str) -> int:
    top = s.scalar(
        select(func.max(ServerInterface.position)).where(ServerInterface.server_id == server_id)
    )
    return 0 if top is None else top + 1


def in_server_order(query: Select[*_Ts]) -> Select[*_Ts]:
    """``query`` (over ``Port``) in the server's own order of its interfaces
    (``ServerInterface.position``): the first network asked for first, as
    Nova lists them and as the NICs of a guest are numbered."""
    return query.outerjoin(ServerInterface, ServerInterface.port_id == Port.id).order_by(
        func.coalesce(ServerInterface.position, 0), Port.created_at, Port.id
    )


def server_ports(session: Session, server_id: str) -> list[Port]:
    return list(session.scalars(in_server_order(select(Port).where(Port.device_id == server_id))))
