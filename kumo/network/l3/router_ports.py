"""Router membership: which ports are part of which router, from ``RouterPort`` rows.

Only the router service writes these rows (``create``, ``take_over``,
``retype`` here; a row goes with its port, ``ports.delete_owned``). The
rows alone say whether a port is part of a router, and as what: here
(``ports_of``), for the port API (``l3_ports``), for events and watch
bodies (``events``, ``l3_views.router_ports``). A port's ``device_id``
and ``device_owner`` are what the router wrote for the API to show,
never what decides.

A port with a row keeps the ``device_owner`` the router gave it (the port
API refuses to change it, ``l3_ports.check_update``): ``events.port`` relies on
this to look a port's router up only for ports whose owner says they may
have one.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.l3_models import RouterPort
from kumo.db.network_models import Network, Port
from kumo.db.uow import UnitOfWork
from kumo.network import events
from kumo.network.core.networks import touch
from kumo.network.ports import ports


def ports_of(session: Session, router_id: str, types: Sequence[str]) -> list[Port]:
    """The router's ports of these types, oldest first."""
    q = (
        select(Port)
        .join(RouterPort, RouterPort.port_id == Port.id)
        .where(RouterPort.router_id == router_id, RouterPort.port_type.in_(types))
    )
    return list(session.scalars(q.order_by(Port.created_at, Port.id)))


def create(
    uow: UnitOfWork,
    settings: Settings,
    net: Network,
    router_id: str,
    port_type: str,
    *,
    project_id: str,
    fixed_ips: list[dict[str, str]] | None = None,
) -> Port:
    """A new port of the router (``fixed_ips`` as for ``ports.create_owned``),
    emitted once it is the router's."""
    port = ports.create_owned(
        uow,
        settings,
        net,
        project_id=project_id,
        device_owner=port_type,
        device_id=router_id,
        fixed_ips=fixed_ips,
        emit=False,
    )
    uow.session.add(RouterPort(port_id=port.id, router_id=router_id, port_type=port_type))
    uow.session.flush()
    events.port(uow, port, tags=[])
    return port


def take_over(uow: UnitOfWork, router_id: str, port: Port, port_type: str) -> None:
    """Make an existing port (with no device) the router's."""
    port.device_owner = port_type
    port.device_id = router_id
    touch(port)
    uow.session.add(RouterPort(port_id=port.id, router_id=router_id, port_type=port_type))
    uow.session.flush()
    events.port(uow, port)


def retype(uow: UnitOfWork, port: Port, port_type: str) -> None:
    """Change what a router's port is (an interface when the router turns
    distributed or centralized)."""
    row = uow.session.get(RouterPort, port.id)
    assert row is not None
    if row.port_type == port_type and port.device_owner == port_type:
        return
    row.port_type = port_type
    port.device_owner = port_type
    touch(port)
    uow.session.flush()
    events.port(uow, port)
