"""``qos_policy_id`` on ports, networks and floating IPs, and the rules
each gets.

A port's effective policy is its own, or else its network's; a floating
IP's its own, or else its external network's; a router's gateway has the
policy of its ``external_gateway_info``. Port and floating IP events in
the watch feed carry the effective policy's rules (``kumo_qos_rules``, in
the shape of a policy's ``rules``; routers ``kumo_gateway_qos_rules``), so
an agent needs nothing but the object to program its limits; a change of
a policy's rules, or of a network's policy, re-emits the bound ports, the
floating IPs and the routers it applies to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.l3_models import FloatingIP, Router
from kumo.db.network_models import Network, Port
from kumo.db.qos_models import QosPolicy
from kumo.db.uow import UnitOfWork
from kumo.network import validate

WATCH_KEY = "kumo_qos_rules"


def checked_policy(session: Session, ctx: RequestContext, value: Any) -> str | None:
    """The policy id a port or network body names (None clears it): one
    the caller may see, else 404 ``QosPolicyNotFound``."""
    if value is None:
        return None
    from kumo.network.qos import policies

    policy_id = validate.uuid(value, "qos_policy_id")
    return policies.load(session, ctx, policy_id).id


def network_default(session: Session, project_id: str) -> str | None:
    """The project's default policy (``qos-default``), for its new networks."""
    q = select(QosPolicy.id).where(QosPolicy.project_id == project_id, QosPolicy.is_default)
    return session.scalar(q.limit(1))


def with_rules(session: Session, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Port bodies as the watch feed carries them: each with its effective
    policy's rules (new dicts for the ports that have any)."""
    found = port_rules(session, bodies)
    return [{**b, WATCH_KEY: found[b["id"]]} if b["id"] in found else b for b in bodies]


def port_rules(session: Session, bodies: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Port id → the rules of its effective policy, for the ports of
    ``bodies`` (port views) that have one."""
    from kumo.network.qos import rules

    need_net = {b["network_id"] for b in bodies if not b.get("qos_policy_id")}
    net_policy: dict[str, str | None] = {}
    if need_net:
        q = select(Network.id, Network.qos_policy_id).where(
            Network.id.in_(need_net), Network.qos_policy_id.is_not(None)
        )
        net_policy = {n: p for n, p in session.execute(q)}
    effective = {b["id"]: b.get("qos_policy_id") or net_policy.get(b["network_id"]) for b in bodies}
    found = rules.rules_of(session, sorted({p for p in effective.values() if p}))
    return {pid: found.get(policy_id, []) for pid, policy_id in effective.items() if policy_id}


def fips_with_rules(session: Session, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Floating IP bodies (as ``render_floatingips`` makes them) as the watch
    feed carries them: each with its effective policy's rules."""
    from kumo.network.qos import rules

    effective = {b["id"]: b.get("qos_policy_id") or b.get("qos_network_policy_id") for b in bodies}
    found = rules.rules_of(session, sorted({p for p in effective.values() if p}))
    return [
        {**b, WATCH_KEY: found.get(effective[b["id"]] or "", [])} if effective[b["id"]] else b
        for b in bodies
    ]


def _fips_changed(uow: UnitOfWork, fips: list[FloatingIP]) -> None:
    from kumo.network import events

    for fip in sorted(fips, key=lambda f: f.id):
        events.floatingip(uow, fip)


def policy_changed(uow: UnitOfWork, policy_id: str) -> None:
    """Re-emit the bound ports and the floating IPs the policy applies to
    (its rules changed)."""
    nets = select(Network.id).where(Network.qos_policy_id == policy_id)
    q = select(Port).where(
        Port.host != "",
        or_(
            Port.qos_policy_id == policy_id,
            Port.qos_policy_id.is_(None) & Port.network_id.in_(nets),
        ),
    )
    _emit(uow, list(uow.session.scalars(q)))
    fips = select(FloatingIP).where(
        or_(
            FloatingIP.qos_policy_id == policy_id,
            FloatingIP.qos_policy_id.is_(None) & FloatingIP.floating_network_id.in_(nets),
        )
    )
    _fips_changed(uow, list(uow.session.scalars(fips)))
    from kumo.network import events

    gateways = select(Router).where(Router.gw_qos_policy_id == policy_id)
    for router in sorted(uow.session.scalars(gateways), key=lambda r: r.id):
        events.router(uow, router)


def network_changed(uow: UnitOfWork, network_id: str) -> None:
    """Re-emit the network's bound ports that follow its policy."""
    q = select(Port).where(
        Port.host != "", Port.network_id == network_id, Port.qos_policy_id.is_(None)
    )
    _emit(uow, list(uow.session.scalars(q)))
    fips = select(FloatingIP).where(
        FloatingIP.floating_network_id == network_id, FloatingIP.qos_policy_id.is_(None)
    )
    _fips_changed(uow, list(uow.session.scalars(fips)))


def _emit(uow: UnitOfWork, ports: list[Port]) -> None:
    from kumo.network import events

    for port in sorted(ports, key=lambda p: p.id):
        events.port(uow, port)
