"""A project's auto-allocated topology ("get me a network", Neutron's
``auto-allocated-topology``): one network, an IPv4 subnet from the default
range (``Settings.auto_allocated_cidr``), and a router with the default
external network (``is_default``) as its gateway and an interface on the
subnet.

Asking for it makes it the first time, as Neutron does on GET; Nova's
server create asks when ``networks`` is ``auto`` and the project has no
network of its own. Everything is made with the caller's own rights
(``network:create_auto_allocated_topology``) through the same code as the
Networking API, so quotas, policy and outbox events hold as if the user
had made the four objects by hand. The ``auto_allocated_topologies`` row
(project id as primary key) makes two concurrent first requests end with
one topology: the loser's transaction fails on the key and is retried,
and its retry finds the winner's.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.l3_models import Router
from kumo.db.network_models import AutoAllocatedTopology, Network
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, NotFound
from kumo.network.core import networks, subnets
from kumo.network.l3 import router_interfaces, routers
from kumo.policy import authorize

NETWORK_NAME = "auto_allocated_network"
SUBNET_NAME = "auto_allocated_subnet_v4"
ROUTER_NAME = "auto_allocated_router"


class AutoAllocationFailure(Conflict):
    kind = "AutoAllocationFailure"


def default_external_network(session: Session) -> Network | None:
    return session.scalar(
        select(Network).where(Network.external.is_(True), Network.is_default.is_(True))
    )


def available(session: Session) -> bool:
    """Can a topology be made at all (a default external network with a subnet)?"""
    net = default_external_network(session)
    return net is not None and bool(net.subnets)


def check_requirements(session: Session) -> Network:
    """The default external network, or why there is nothing to allocate with
    (Neutron's dry run)."""
    net = default_external_network(session)
    if net is None:
        raise AutoAllocationFailure("Deployment error: No default router:external network.")
    if not net.subnets:
        raise AutoAllocationFailure(
            f"Deployment error: The default external network {net.id} has no subnet."
        )
    return net


def _authorize(ctx: RequestContext, rule: str, project_id: str) -> None:
    authorize(ctx, rule, {"project_id": project_id})


def _current(
    session: Session, project_id: str, *, prune: bool = True
) -> AutoAllocatedTopology | None:
    """The project's topology, or None (also when its network was deleted by
    hand: then its row goes, when ``prune``, in a write transaction)."""
    row = session.get(AutoAllocatedTopology, project_id)
    if row is not None and session.get(Network, row.network_id) is None:
        if prune:
            session.delete(row)
            session.flush()
        return None
    return row


def get_or_create(uow: UnitOfWork, settings: Settings, ctx: RequestContext, project_id: str) -> str:
    """The id of the project's auto-allocated network, made now if need be."""
    s = uow.session
    _authorize(ctx, "network:get_auto_allocated_topology", project_id)
    row = _current(s, project_id)
    if row is not None:
        return row.network_id
    _authorize(ctx, "network:create_auto_allocated_topology", project_id)
    external = check_requirements(s)
    owner = {"project_id": project_id}
    net = networks.create(uow, settings, ctx, {"name": NETWORK_NAME, **owner})
    sub = subnets.create(
        uow,
        settings,
        ctx,
        {
            "name": SUBNET_NAME,
            "network_id": net.id,
            "ip_version": 4,
            "cidr": settings.auto_allocated_cidr,
            **owner,
        },
    )
    router = routers.create(
        uow,
        settings,
        ctx,
        {"name": ROUTER_NAME, "external_gateway_info": {"network_id": external.id}, **owner},
    )
    router_interfaces.add(uow, settings, ctx, router.id, {"subnet_id": sub.id})
    s.add(AutoAllocatedTopology(project_id=project_id, network_id=net.id, router_id=router.id))
    s.flush()
    return net.id


def dry_run(session: Session, ctx: RequestContext, project_id: str) -> None:
    """Would ``get_or_create`` work for this caller? Raise why not."""
    _authorize(ctx, "network:get_auto_allocated_topology", project_id)
    if _current(session, project_id, prune=False) is None:
        _authorize(ctx, "network:create_auto_allocated_topology", project_id)
        check_requirements(session)


def remove(uow: UnitOfWork, settings: Settings, ctx: RequestContext, project_id: str) -> None:
    """Take the topology apart (interface, router, network) with the caller's rights."""
    s = uow.session
    _authorize(ctx, "network:delete_auto_allocated_topology", project_id)
    row = _current(s, project_id)
    if row is None:
        raise NotFound(
            f"Auto Allocated Topology for project {project_id} could not be found.",
            kind="AutoAllocatedTopologyNotFound",
        )
    router = s.get(Router, row.router_id) if row.router_id else None
    net = s.get(Network, row.network_id)
    if router is not None:
        for sub in net.subnets if net is not None else []:
            try:
                router_interfaces.remove(uow, settings, ctx, router.id, {"subnet_id": sub.id})
            except NotFound:
                pass
        routers.remove(uow, settings, ctx, router.id, None)
    s.delete(row)
    s.flush()
    if net is not None:
        networks.remove(uow, ctx, net.id, None)
