"""Routers: create, update, delete; the external gateway and extra routes.

Every write ends with ``scheduler.sync``, which makes the router's
gateway-agent bindings, port hosts and SNAT ports what the router asks for.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.l3_models import FloatingIP, Router, RouterAgentBinding, RouterPort
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, InUse, InvalidInput, not_found
from kumo.network import availability_zones, events, policy, validate
from kumo.network import tags as taglib
from kumo.network.core import networks
from kumo.network.core.networks import touch
from kumo.network.flavors import routers as flavor_routers
from kumo.network.l3 import ports as l3_ports
from kumo.network.l3 import router_ports, scheduler
from kumo.network.ports import ports
from kumo.network.qos import attach as qos_attach
from kumo.network.quotas import check_quota
from kumo.network.revision import check_revision
from kumo.network.snat import leases as snat_leases
from kumo.policy import allowed

CREATE = {
    "name", "description", "admin_state_up", "external_gateway_info", "distributed", "ha",
    "availability_zone_hints", "project_id", "tenant_id", "flavor_id",
    "tags",
}  # fmt: skip
UPDATE = {
    "name", "description", "admin_state_up", "external_gateway_info", "routes", "distributed",
    "ha",
}  # fmt: skip
GATEWAY_KEYS = {"network_id", "enable_snat", "external_fixed_ips", "qos_policy_id"}
MAX_ROUTES = 30


_CONVERT_ACTIVE = {
    "distributed": "Bad router request: Cannot change the 'distributed' attribute of active "
    "routers. Please set router admin_state_up to False prior to upgrade.",
    "ha": "Bad router request: Cannot change HA attribute of active routers. Please set "
    "router admin_state_up to False prior to upgrade.",
}
"""Neutron's refusals of a conversion while the router is up."""


def load(session: Session, ctx: RequestContext, router_id: str, *, lock: bool = False) -> Router:
    query = select(Router).where(Router.id == router_id)
    if lock:
        query = query.with_for_update()
    router = session.scalar(query)
    if router is None or not allowed(ctx, "network:get_router", {"project_id": router.project_id}):
        raise not_found("router", router_id)
    return router


def ports_of(session: Session, router_id: str, owners: tuple[str, ...]) -> list[Port]:
    """The router's ports of these types (its ``RouterPort`` rows), oldest first."""
    return router_ports.ports_of(session, router_id, owners)


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> Router:
    if "routes" in body:
        raise BadRequest("Attribute 'routes' not allowed in POST")
    validate.known(body, CREATE)
    policy.check_writable(ctx, "routers", "create_router", body)
    s = uow.session
    owner = policy.owner_for_create(ctx, body)
    check_quota(s, settings, owner, "router")
    flavor_id, mode = flavor_routers.mode(s, body)
    router = Router(
        project_id=owner,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        admin_state_up=(
            validate.boolean(body, "admin_state_up") if "admin_state_up" in body else True
        ),
        distributed=(
            mode.distributed
            if mode.distributed is not None
            else validate.boolean(body, "distributed")
            if "distributed" in body
            else settings.router_distributed
        ),
        ha=(
            mode.ha
            if mode.ha is not None
            else validate.boolean(body, "ha")
            if "ha" in body
            else settings.l3_ha
        ),
        flavor_id=flavor_id,
        availability_zone_hints=availability_zones.check_hints(
            s, settings, availability_zones.ROUTER, body.get("availability_zone_hints")
        ),
        routes=[],
    )
    router.distributed_snat = settings.distributed_snat and router.distributed and not router.ha
    s.add(router)
    s.flush()
    if body.get("external_gateway_info"):
        set_gateway(uow, settings, ctx, router, body["external_gateway_info"], "create_router")
    scheduler.sync(uow, settings, router)
    taglib.on_create(s, "router", router.id, body)
    events.router(uow, router)
    return router


def update(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    router_id: str,
    body: dict[str, Any],
    if_match: int | None,
) -> Router:
    for key in ("id", "project_id", "tenant_id", "status", "availability_zone_hints", "flavor_id"):
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    policy.check_writable(ctx, "routers", "update_router", body)
    s = uow.session
    router = load(s, ctx, router_id, lock=True)
    check_revision(router.revision_number, if_match)
    flavor_routers.check_update(router, body)
    if "name" in body:
        router.name = validate.string(body, "name")
    if "description" in body:
        router.description = validate.string(body, "description")
    if "admin_state_up" in body:
        up = validate.boolean(body, "admin_state_up")
    else:
        up = router.admin_state_up
    for key in ("distributed", "ha"):
        if key in body:
            value = validate.boolean(body, key)
            # router-admin-state-down-before-update: the router must already be
            # down; one request cannot take it down and convert it.
            if value != getattr(router, key) and router.admin_state_up:
                raise BadRequest(_CONVERT_ACTIVE[key])
            setattr(router, key, value)
    if "distributed" in body:
        _interface_owners(uow, router)
    if router.distributed_snat and (not router.distributed or router.ha):
        router.distributed_snat = False  # centralized or HA SNAT from now on
        snat_leases.drop_all(uow, router)
    router.admin_state_up = up
    if "external_gateway_info" in body:
        set_gateway(uow, settings, ctx, router, body["external_gateway_info"], "update_router")
    if "routes" in body:
        router.routes = check_routes(s, router, body["routes"])
    changed(uow, settings, router)
    return router


def changed(
    uow: UnitOfWork,
    settings: Settings,
    router: Router,
    *,
    schedule: bool = True,
    old_networks: tuple[str, ...] = (),
) -> None:
    """A router or its ports changed: new revision, scheduling, event (to the
    networks it no longer has an interface on too: ``old_networks``)."""
    touch(router)
    uow.session.flush()
    scheduler.sync(uow, settings, router, schedule=schedule)
    events.router(uow, router, old_networks=old_networks)


def _interface_owners(uow: UnitOfWork, router: Router) -> None:
    owner = l3_ports.INTERFACE_DISTRIBUTED if router.distributed else l3_ports.INTERFACE
    for port in ports_of(uow.session, router.id, l3_ports.INTERFACE_OWNERS):
        router_ports.retype(uow, port, owner)


def remove(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, router_id: str, if_match: int | None
) -> None:
    s = uow.session
    router = load(s, ctx, router_id, lock=True)
    check_revision(router.revision_number, if_match)
    if ports_of(s, router.id, l3_ports.INTERFACE_OWNERS):
        raise InUse(f"Router {router.id} still has ports", kind="RouterInUse")
    clear_gateway(uow, router)
    for port in ports_of(s, router.id, l3_ports.ROUTER_OWNERS):
        ports.delete_owned(uow, port)
    s.flush()
    events.router(uow, router, "delete")  # to its gateway hosts too, before unbinding
    s.execute(delete(RouterAgentBinding).where(RouterAgentBinding.router_id == router.id))
    taglib.delete_tags(s, router.id)
    s.delete(router)


# -- gateway -------------------------------------------------------------------------


def set_gateway(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    router: Router,
    info: Any,
    action: str,
) -> None:
    """Apply ``external_gateway_info``: null or {} clears the gateway."""
    if not info:
        clear_gateway(uow, router)
        return
    if not isinstance(info, dict):
        raise InvalidInput(f"'{info}' is not a dictionary for external_gateway_info")
    unknown = sorted(set(info) - GATEWAY_KEYS)
    if unknown or "network_id" not in info:
        raise InvalidInput(
            "Validation of dictionary's keys failed. Expected keys: {'network_id'} "
            f"Provided keys: {sorted(info)}"
        )
    if not allowed(ctx, "network:create_router:external_gateway_info:external_fixed_ips"):
        for key in ("enable_snat", "external_fixed_ips"):
            if key in info:
                raise Forbidden(
                    f"(rule:{action}:external_gateway_info:{key}) is disallowed by policy"
                )
    s = uow.session
    net = networks.load(s, ctx, validate.uuid(info["network_id"], "network_id"))
    if not net.external:
        raise BadRequest(f"Bad router request: Network {net.id} is not an external network.")
    enable_snat = validate.boolean(info, "enable_snat") if "enable_snat" in info else True
    if "qos_policy_id" in info:
        router.gw_qos_policy_id = qos_attach.checked_policy(s, ctx, info["qos_policy_id"])
    fixed = info.get("external_fixed_ips")
    if fixed is not None:
        fixed = validate.list_of(fixed, "external_fixed_ips") or None
    current = s.get(Port, router.gw_port_id) if router.gw_port_id else None
    if (
        current is not None
        and current.network_id == net.id
        and (fixed is None or _same_ips(current, fixed))
    ):
        router.enable_snat = enable_snat
        return
    if current is not None:
        if current.network_id != net.id:
            _check_no_floatingips(s, router, current.network_id)
        _drop_gateway_port(uow, router, current)
    router.enable_snat = enable_snat
    port = router_ports.create(
        uow, settings, net, router.id, l3_ports.GATEWAY, project_id="", fixed_ips=fixed
    )
    # an external network without subnets: a gateway port without addresses,
    # as in Neutron (it carries nothing until the network has a subnet)
    if not port.fixed_ips and _has_subnets(s, net.id):
        raise BadRequest(
            f"Unable to find any IP address on external network {net.id}.",
            kind="ExternalIpAddressExhausted",
        )
    router.gw_port_id = port.id


def _has_subnets(s: Session, network_id: str) -> bool:
    return s.scalar(select(Subnet.id).where(Subnet.network_id == network_id).limit(1)) is not None


def _same_ips(port: Port, requested: list[Any]) -> bool:
    have = {(a.subnet_id, a.ip_address) for a in port.fixed_ips}
    for item in requested:
        if not isinstance(item, dict):
            return False
        sub, ip = item.get("subnet_id"), item.get("ip_address")
        if not any((sub in (None, h[0])) and (ip in (None, h[1])) for h in have):
            return False
    return len(requested) == len(have)


def _check_no_floatingips(s: Session, router: Router, network_id: str) -> None:
    q = select(FloatingIP.id).where(FloatingIP.router_id == router.id)
    if s.scalar(q.limit(1)) is not None:
        raise Conflict(
            f"Gateway cannot be updated for router {router.id}, since a gateway to external "
            f"network {network_id} is required by one or more floating IPs.",
            kind="RouterExternalGatewayInUseByFloatingIp",
        )


def clear_gateway(uow: UnitOfWork, router: Router) -> None:
    s = uow.session
    current = s.get(Port, router.gw_port_id) if router.gw_port_id else None
    router.gw_qos_policy_id = None
    if current is None:
        router.gw_port_id = None
        return
    _check_no_floatingips(s, router, current.network_id)
    _drop_gateway_port(uow, router, current)


def _drop_gateway_port(uow: UnitOfWork, router: Router, port: Port) -> None:
    snat_leases.drop_all(uow, router)  # blocks of the address that goes
    router.gw_port_id = None
    uow.session.flush()
    ports.delete_owned(uow, port)
    uow.session.flush()


# -- extra routes --------------------------------------------------------------------


def invalid_routes(routes: Any, reason: str) -> BadRequest:
    return BadRequest(f"Invalid format for routes: {routes}, {reason}.", kind="InvalidRoutes")


def parse_routes(raw: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for route in validate.list_of(raw, "routes"):
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise InvalidInput(f"Invalid data format for route: '{route}'")
        dest = validate.cidr(route["destination"])
        hop = ipaddress.ip_address(validate.ip(route["nexthop"], "nexthop"))
        if dest.version != hop.version:
            raise invalid_routes(raw, "the nexthop and destination IP versions differ")
        item = {"destination": str(dest), "nexthop": str(hop)}
        if item not in out:
            out.append(item)
    return out


def check_routes(s: Session, router: Router, raw: Any) -> list[dict[str, str]]:
    """Normalised routes whose next hops are on the router's subnets (not its own IPs)."""
    routes = parse_routes(raw)
    if len(routes) > MAX_ROUTES:
        raise BadRequest(
            f"Unable to complete operation for {router.id}. The number of routes exceeds the "
            f"maximum {MAX_ROUTES}.",
            kind="RoutesExhausted",
        )
    cidrs, own = connected(s, router.id)
    for route in routes:
        hop = ipaddress.ip_address(route["nexthop"])
        if not any(hop in c for c in cidrs):
            raise invalid_routes(raw, "the nexthop is not connected with router")
        if route["nexthop"] in own:
            raise invalid_routes(raw, "the nexthop is used by router")
    return routes


def connected(s: Session, router_id: str) -> tuple[list[Any], set[str]]:
    """(CIDRs of the subnets the router has a port on, the router's own addresses)."""
    owners = (*l3_ports.INTERFACE_OWNERS, l3_ports.GATEWAY)
    rows = s.execute(
        select(Subnet.cidr, IPAllocation.ip_address)
        .join(IPAllocation, IPAllocation.subnet_id == Subnet.id)
        .join(RouterPort, RouterPort.port_id == IPAllocation.port_id)
        .where(RouterPort.router_id == router_id, RouterPort.port_type.in_(owners))
    ).all()
    return [ipaddress.ip_network(c) for c, _ in rows], {ip for _, ip in rows}


def gateway_network(s: Session, router: Router) -> Network | None:
    if not router.gw_port_id:
        return None
    net_id = s.scalar(select(Port.network_id).where(Port.id == router.gw_port_id))
    return s.get(Network, net_id) if net_id else None
