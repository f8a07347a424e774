"""The ports L3 owns, and what the port API must respect about them.

Router interfaces, gateways, centralized SNAT ports and floating IP ports
are made and removed by the router and floating IP calls; the port API
refuses to delete them while their owner exists (``ServicePortInUse``).
Deleting or moving a port that a floating IP is associated with
disassociates or re-emits that floating IP.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.db.base import utcnow
from kumo.db.l3_models import FloatingIP, Router
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


def check_deletable(session: Session, port: Port) -> None:
    """Refuse to delete an L3 port through the port API while its owner exists."""
    owner: Router | FloatingIP | None
    if port.device_owner in ROUTER_OWNERS:
        owner = session.get(Router, port.device_id)
    elif port.device_owner == FLOATINGIP:
        owner = session.get(FloatingIP, port.device_id)
    else:
        return
    if owner is not None:
        raise InUse(
            f"Port {port.id} cannot be deleted directly via the port API: has device owner "
            f"{port.device_owner}.",
            kind="ServicePortInUse",
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
