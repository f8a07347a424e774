"""Router interfaces: ``add_router_interface`` and ``remove_router_interface``.

By subnet, the router gets a new port holding the subnet's gateway IP; by
port, it takes over a port that has no device yet. Either way the port
becomes the router's by its ``RouterPort`` row (``router_ports``). A
router's interface subnets never overlap. Removal refuses while a
floating IP or an extra route still needs the subnet.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.l3_models import FloatingIP, Router
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InUse, NotFound
from kumo.network import events, validate
from kumo.network import tags as taglib
from kumo.network.core import subnets
from kumo.network.core.networks import touch
from kumo.network.l3 import ports as l3_ports
from kumo.network.l3 import router_ports, routers
from kumo.network.ports import ports


def info(session: Session, router: Router, port: Port, subnet_ids: list[str]) -> dict[str, Any]:
    """The body Neutron answers both calls with."""
    return {
        "id": router.id,
        "tenant_id": router.project_id,
        "project_id": router.project_id,
        "port_id": port.id,
        "network_id": port.network_id,
        "subnet_id": subnet_ids[0] if subnet_ids else None,
        "subnet_ids": subnet_ids,
        "tags": taglib.tags_for(session, [port.id]).get(port.id, []),
    }


def _target(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("Bad router request: Body contains invalid data.")
    validate.known(body, {"subnet_id", "port_id"})
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if not subnet_id and not port_id:
        raise BadRequest("Bad router request: Either subnet_id or port_id must be specified.")
    return (
        validate.uuid(subnet_id, "subnet_id") if subnet_id else None,
        validate.uuid(port_id, "port_id") if port_id else None,
    )


def _owner(router: Router) -> str:
    return l3_ports.INTERFACE_DISTRIBUTED if router.distributed else l3_ports.INTERFACE


def _check_subnets(s: Session, router: Router, new: list[Subnet]) -> None:
    attached = [
        a.subnet_id
        for p in routers.ports_of(s, router.id, l3_ports.INTERFACE_OWNERS)
        for a in p.fixed_ips
    ]
    others = {x.id: x for x in s.scalars(select(Subnet).where(Subnet.id.in_(attached)))}
    for sub in new:
        cidr = ipaddress.ip_network(sub.cidr)
        for other in others.values():
            if other.id == sub.id:
                raise BadRequest(
                    f"Bad router request: Router already has a port on subnet {sub.id}."
                )
            if cidr.overlaps(ipaddress.ip_network(other.cidr)):
                raise BadRequest(
                    f"Bad router request: Cidr {sub.cidr} of subnet {sub.id} overlaps with cidr "
                    f"{other.cidr} of subnet {other.id}."
                )


def add(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, router_id: str, body: Any
) -> dict[str, Any]:
    subnet_id, port_id = _target(body)
    if subnet_id and port_id:
        raise BadRequest("Bad router request: Cannot specify both subnet-id and port-id.")
    s = uow.session
    router = routers.load(s, ctx, router_id, lock=True)
    if port_id:
        port = _take_over(uow, ctx, router, port_id)
    else:
        assert subnet_id is not None
        port = _new_port(uow, settings, ctx, router, subnet_id)
    subnet_ids = [a.subnet_id for a in port.fixed_ips]
    routers.changed(uow, settings, router)
    return info(s, router, port, subnet_ids)


def _take_over(uow: UnitOfWork, ctx: RequestContext, router: Router, port_id: str) -> Port:
    s = uow.session
    port = ports.load(s, ctx, port_id, lock=True)
    if port.device_id or port.device_owner:
        raise InUse(
            f"Unable to complete operation on port {port.id} for network {port.network_id}. "
            f"Port already has an attached device {port.device_id}.",
            kind="PortInUse",
        )
    if not port.fixed_ips:
        raise BadRequest("Bad router request: Router port must have at least one fixed IP.")
    subs = list(
        s.scalars(select(Subnet).where(Subnet.id.in_([a.subnet_id for a in port.fixed_ips])))
    )
    if len([x for x in subs if x.ip_version == 4]) > 1:
        raise BadRequest("Bad router request: Cannot have multiple IPv4 subnets on router port.")
    _check_subnets(s, router, subs)
    router_ports.take_over(uow, router.id, port, _owner(router))
    return port


def _new_port(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, router: Router, subnet_id: str
) -> Port:
    s = uow.session
    sub = subnets.load(s, ctx, subnet_id)
    if not sub.gateway_ip:
        raise BadRequest("Bad router request: Subnet for router interface must have a gateway IP.")
    _check_subnets(s, router, [sub])
    net = s.get(Network, sub.network_id)
    assert net is not None
    return router_ports.create(
        uow,
        settings,
        net,
        router.id,
        _owner(router),
        project_id=sub.project_id,
        fixed_ips=[{"subnet_id": sub.id, "ip_address": sub.gateway_ip}],
    )


def remove(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, router_id: str, body: Any
) -> dict[str, Any]:
    subnet_id, port_id = _target(body)
    s = uow.session
    router = routers.load(s, ctx, router_id, lock=True)
    interfaces = routers.ports_of(s, router.id, l3_ports.INTERFACE_OWNERS)
    if port_id:
        port = next((p for p in interfaces if p.id == port_id), None)
        if port is None:
            raise NotFound(
                f"Router {router.id} does not have an interface with id {port_id}",
                kind="RouterInterfaceNotFound",
            )
        subnet_ids = [a.subnet_id for a in port.fixed_ips]
        if subnet_id and subnet_id not in subnet_ids:
            raise BadRequest(
                f"Subnet on port {port_id} does not match the requested subnet {subnet_id}.",
                kind="SubnetMismatchForPort",
            )
    else:
        assert subnet_id is not None
        subnets.load(s, ctx, subnet_id)
        port = next(
            (p for p in interfaces if subnet_id in {a.subnet_id for a in p.fixed_ips}), None
        )
        if port is None:
            raise NotFound(
                f"Router {router.id} has no interface on subnet {subnet_id}",
                kind="RouterInterfaceNotFoundForSubnet",
            )
        subnet_ids = [subnet_id]
    for sid in subnet_ids:
        _check_unused(s, router, sid)
    network_id = port.network_id
    body_out = info(s, router, port, subnet_ids)
    remaining = [a for a in port.fixed_ips if a.subnet_id not in subnet_ids]
    if remaining and not port_id:
        for alloc in [a for a in port.fixed_ips if a.subnet_id in subnet_ids]:
            port.fixed_ips.remove(alloc)
        touch(port)
        s.flush()
        events.port(uow, port)
    else:
        ports.delete_owned(uow, port)
    s.flush()
    routers.changed(uow, settings, router, old_networks=(network_id,))
    return body_out


def _check_unused(s: Session, router: Router, subnet_id: str) -> None:
    a = IPAllocation
    used = s.scalar(
        select(FloatingIP.id)
        .join(
            a,
            and_(
                a.port_id == FloatingIP.fixed_port_id, a.ip_address == FloatingIP.fixed_ip_address
            ),
        )
        .where(FloatingIP.router_id == router.id, a.subnet_id == subnet_id)
        .limit(1)
    )
    if used is not None:
        raise Conflict(
            f"Router interface for subnet {subnet_id} on router {router.id} cannot be deleted, "
            "as it is required by one or more floating IPs.",
            kind="RouterInterfaceInUseByFloatingIP",
        )
    sub = s.get(Subnet, subnet_id)
    if sub is None:
        return
    cidr = ipaddress.ip_network(sub.cidr)
    if any(ipaddress.ip_address(r["nexthop"]) in cidr for r in router.routes or []):
        raise Conflict(
            f"Router interface for subnet {subnet_id} on router {router.id} cannot be deleted, "
            "as it is required by one or more routes.",
            kind="RouterInterfaceInUseByRoute",
        )
