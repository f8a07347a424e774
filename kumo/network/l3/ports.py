"""The ports L3 owns, and what the port API must respect about them.

Router interfaces, gateways, centralized SNAT ports and floating IP ports
are made and removed by the router and floating IP calls; the port API
refuses to delete them while their owner exists (``ServicePortInUse``)
and to change a router port's device (``PortInUse``). What makes a port
the router's is its ``RouterPort`` row (``router_ports``), what makes it
a floating IP's is the floating IP's ``floating_port_id``: a port whose
owner only claims to be one of these (anyone may write ``device_owner``
on a network of their own) is an ordinary port.
Deleting or moving a port that a floating IP is associated with
disassociates or re-emits that floating IP.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.db.base import utcnow
from kumo.db.l3_models import FloatingIP, RouterPort
from kumo.db.network_models import Port, Tag
from kumo.db.uow import UnitOfWork
from kumo.errors import InUse
from kumo.network import events

INTERFACE = "network:router_interface"
INTERFACE_DISTRIBUTED = "network:router_interface_distributed"
GATEWAY = "network:router_gateway"
SNAT = "network:router_centralized_snat"
FLOATINGIP = "network:floatingip"
INTERFACE_OWNERS = (INTERFACE, INTERFACE_DISTRIBUTED)
ROUTER_OWNERS = (INTERFACE, INTERFACE_DISTRIBUTED, GATEWAY, SNAT)
OWNERS = (*ROUTER_OWNERS, FLOATINGIP)
"""Ports that keep their network and subnets in use."""
BLOCKING = ROUTER_OWNERS
"""Ports that keep their network from being deleted (floating IPs go with it)."""


def _router_of(session: Session, port_id: str) -> str | None:
    return session.scalar(select(RouterPort.router_id).where(RouterPort.port_id == port_id))


def check_deletable(session: Session, port: Port) -> None:
    """Refuse to delete an L3 port through the port API while its owner exists."""
    if port.device_owner == FLOATINGIP:
        owned = select(FloatingIP.id).where(FloatingIP.floating_port_id == port.id)
        in_use = session.scalar(owned) is not None
    else:
        in_use = _router_of(session, port.id) is not None
    if in_use:
        raise InUse(
            f"Port {port.id} cannot be deleted directly via the port API: has device owner "
            f"{port.device_owner}.",
            kind="ServicePortInUse",
        )


def check_update(session: Session, port: Port, device_id: str, device_owner: str) -> None:
    """Refuse a port update that changes the device of a router's port: the
    router service alone says what its ports are."""
    if (device_id, device_owner) == (port.device_id, port.device_owner):
        return
    router_id = _router_of(session, port.id)
    if router_id is not None:
        raise InUse(
            f"Unable to complete operation on port {port.id} for network {port.network_id}. "
            f"Port already has an attached device {router_id}.",
            kind="PortInUse",
        )


def associated(session: Session, port_id: str) -> list[FloatingIP]:
    q = select(FloatingIP).where(FloatingIP.fixed_port_id == port_id).with_for_update()
    return list(session.scalars(q.order_by(FloatingIP.id)))


def port_deleted(uow: UnitOfWork, port: Port) -> None:
    """Disassociate the floating IPs of a port about to be deleted."""
    for fip in associated(uow.session, port.id):
        disassociate(uow, fip, port.host)


def disassociate(uow: UnitOfWork, fip: FloatingIP, host: str | None) -> None:
    old_router = fip.router_id
    fip.fixed_port_id = None
    fip.fixed_ip_address = None
    fip.router_id = None
    fip.status = "DOWN"
    fip.revision_number += 1
    fip.updated_at = utcnow()
    uow.session.flush()
    events.floatingip(uow, fip, old_router_id=old_router, old_host=host or None)


def network_deleted(uow: UnitOfWork, network_id: str) -> None:
    """Delete the floating IPs of an external network being deleted (their
    ports go with the network's other ``network:*`` ports)."""
    s = uow.session
    q = select(FloatingIP).where(FloatingIP.floating_network_id == network_id)
    for fip in list(s.scalars(q.with_for_update())):
        events.floatingip(uow, fip, "delete")
        s.execute(delete(Tag).where(Tag.resource_id == fip.id))
        s.delete(fip)
    s.flush()


def port_moved(uow: UnitOfWork, port: Port, old_host: str) -> None:
    """Re-emit the floating IPs of a port bound to another host."""
    for fip in associated(uow.session, port.id):
        events.floatingip(uow, fip, old_host=old_host or None)
