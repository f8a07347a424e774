"""Floating IPs: an address on an external network, mapped to a fixed IP.

Each floating IP owns a port on its external network (device_owner
``network:floatingip``, device_id the floating IP's id, no project) that
holds the address. Associating it with a port needs a router with a
gateway on that external network and an interface on the port's subnet;
that router becomes the floating IP's ``router_id``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import new_uuid
from kumo.db.l3_models import FloatingIP, Router, RouterPort
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.network import dns, events, policy, validate
from kumo.network import tags as taglib
from kumo.network.core import networks, service_types
from kumo.network.core.networks import touch
from kumo.network.l3 import ports as l3_ports
from kumo.network.ports import ports
from kumo.network.qos import attach as qos_attach
from kumo.network.quotas import check_quota
from kumo.network.revision import check_revision
from kumo.policy import allowed, unrestricted

CREATE = {
    "floating_network_id", "floating_ip_address", "subnet_id", "port_id", "fixed_ip_address",
    "description", "project_id", "tenant_id", "dns_domain", "dns_name", "qos_policy_id",
    "tags",
}  # fmt: skip
UPDATE = {"port_id", "fixed_ip_address", "description", "qos_policy_id"}
READ_ONLY = (
    "id", "floating_network_id", "floating_ip_address", "project_id", "tenant_id", "router_id",
    "status", "subnet_id",
)  # fmt: skip


def not_found(fip_id: str) -> NotFound:
    return NotFound(f"Floating IP {fip_id} could not be found", kind="FloatingIPNotFound")


def bad(message: str) -> BadRequest:
    return BadRequest(f"Bad floatingip request: {message}")


def load(session: Session, ctx: RequestContext, fip_id: str, *, lock: bool = False) -> FloatingIP:
    query = select(FloatingIP).where(FloatingIP.id == fip_id)
    if lock:
        query = query.with_for_update()
    fip = session.scalar(query)
    if fip is None or not allowed(ctx, "network:get_floatingip", {"project_id": fip.project_id}):
        raise not_found(fip_id)
    return fip


def _address_request(s: Session, net: Network, body: dict[str, Any]) -> list[list[dict[str, str]]]:
    """Candidate ``fixed_ips`` requests for the floating port, tried in order."""
    address = validate.ip(body["floating_ip_address"]) if body.get("floating_ip_address") else None
    if body.get("subnet_id"):
        subnet_id = validate.uuid(body["subnet_id"], "subnet_id")
        sub = s.get(Subnet, subnet_id)
        if sub is None or sub.network_id != net.id:
            raise bad(f"Subnet {subnet_id} is not on network {net.id}.")
        item = {"subnet_id": subnet_id}
        if address:
            item["ip_address"] = address
        return [[item]]
    if address:
        return [[{"ip_address": address}]]
    v4 = list(
        s.scalars(
            select(Subnet)
            .where(Subnet.network_id == net.id, Subnet.ip_version == 4)
            .order_by(Subnet.created_at, Subnet.id)
        )
    )
    if not v4:
        raise bad(f"Network {net.id} does not contain any IPv4 subnet.")
    served = service_types.candidates(v4, l3_ports.FLOATINGIP)
    if not served:
        raise service_types.no_matching_subnet(net.id, l3_ports.FLOATINGIP)
    return [[{"subnet_id": sub.id}] for sub in served]


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> FloatingIP:
    validate.known(body, CREATE)
    s = uow.session
    if not body.get("floating_network_id"):
        raise BadRequest(
            "Failed to parse request. Required attribute 'floating_network_id' not specified"
        )
    net = networks.load(s, ctx, validate.uuid(body["floating_network_id"], "floating_network_id"))
    if not net.external:
        raise bad(f"Network {net.id} is not a valid external network.")
    dns_name = dns.dns_name(body["dns_name"]) if "dns_name" in body else ""
    dns_domain = dns.dns_domain(body["dns_domain"]) if "dns_domain" in body else ""
    qos_policy_id = qos_attach.checked_policy(s, ctx, body.get("qos_policy_id"))
    owner = policy.owner_for_create(ctx, body)
    check_quota(s, settings, owner, "floatingip")
    fip_id = new_uuid()
    requests = _address_request(s, net, body)
    port = None
    for n, request in enumerate(requests):
        try:
            port = ports.create_owned(
                uow,
                settings,
                net,
                project_id="",
                device_owner=l3_ports.FLOATINGIP,
                device_id=fip_id,
                fixed_ips=request,
            )
            break
        except Conflict as exc:
            if exc.kind != "IpAddressGenerationFailure" or n + 1 == len(requests):
                raise
    assert port is not None
    fip = FloatingIP(
        id=fip_id,
        project_id=owner,
        floating_network_id=net.id,
        floating_port_id=port.id,
        floating_ip_address=port.fixed_ips[0].ip_address,
        description=validate.string(body, "description") if "description" in body else "",
        status="DOWN",
        dns_name=dns_name,
        dns_domain=dns_domain,
        qos_policy_id=qos_policy_id,
    )
    s.add(fip)
    s.flush()
    if body.get("port_id"):
        _associate(s, ctx, fip, body["port_id"], body.get("fixed_ip_address"))
        s.flush()
    taglib.on_create(s, "floatingip", fip.id, body)
    events.floatingip(uow, fip)
    return fip


def _associate(
    s: Session, ctx: RequestContext, fip: FloatingIP, port_id: Any, fixed_ip: Any
) -> None:
    port = ports.load(s, ctx, validate.uuid(port_id, "port_id"), lock=True)
    from kumo.network.port_forwarding import forwardings

    forwardings.check_association(s, fip, port.id)
    if not allowed(ctx, "network:associate_floatingip", {"project_id": port.project_id}) or (
        port.project_id != fip.project_id and not unrestricted(ctx, "network:associate_floatingip")
    ):
        raise bad(
            f"Cannot create floating IP and bind it to Port {port.id}, since that port is "
            "owned by a different tenant."
        )
    if fixed_ip:
        address = validate.ip(fixed_ip, "fixed_ip_address")
        alloc = next((a for a in port.fixed_ips if a.ip_address == address), None)
        if alloc is None:
            raise bad(f"Port {port.id} does not have fixed ip {address}.")
        if ipaddress.ip_address(address).version != 4:
            raise bad(f"Cannot add floating IP to port {port.id} using IPv6 address {address}.")
    else:
        v4 = [a for a in port.fixed_ips if ipaddress.ip_address(a.ip_address).version == 4]
        if not v4:
            raise bad(f"Cannot add floating IP to port {port.id} that has no fixed IPv4 addresses.")
        alloc = v4[0]
    router_id = router_for(s, fip.floating_network_id, alloc.subnet_id)
    if router_id is None:
        raise NotFound(
            f"External network {fip.floating_network_id} is not reachable from subnet "
            f"{alloc.subnet_id}.  Therefore, cannot associate Port {port.id} with a Floating IP.",
            kind="ExternalGatewayForFloatingIPNotFound",
        )
    taken = s.scalar(
        select(FloatingIP.id).where(
            FloatingIP.fixed_port_id == port.id,
            FloatingIP.fixed_ip_address == alloc.ip_address,
            FloatingIP.floating_network_id == fip.floating_network_id,
            FloatingIP.id != fip.id,
        )
    )
    if taken is not None:
        raise Conflict(
            f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
            f"{port.id} using fixed IP {alloc.ip_address}, as that fixed IP already has a "
            f"floating IP on external network {fip.floating_network_id}.",
            kind="FloatingIPPortAlreadyAssociated",
        )
    fip.fixed_port_id = port.id
    fip.fixed_ip_address = alloc.ip_address
    fip.router_id = router_id
    fip.status = "ACTIVE"


def router_for(s: Session, external_network_id: str, subnet_id: str) -> str | None:
    """The first router with a gateway on the network and an interface on the subnet."""
    gw = aliased(Port)
    interface = (
        select(IPAllocation.id)
        .join(RouterPort, RouterPort.port_id == IPAllocation.port_id)
        .where(
            RouterPort.router_id == Router.id,
            RouterPort.port_type.in_(l3_ports.INTERFACE_OWNERS),
            IPAllocation.subnet_id == subnet_id,
        )
    )
    q = (
        select(Router.id)
        .join(gw, gw.id == Router.gw_port_id)
        .where(gw.network_id == external_network_id, exists(interface))
        .order_by(Router.created_at, Router.id)
        .limit(1)
    )
    return s.scalar(q)


def _host(s: Session, port_id: str | None) -> str | None:
    if not port_id:
        return None
    return s.scalar(select(Port.host).where(Port.id == port_id)) or None


def update(
    uow: UnitOfWork, ctx: RequestContext, fip_id: str, body: dict[str, Any], if_match: int | None
) -> FloatingIP:
    for key in READ_ONLY:
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    s = uow.session
    fip = load(s, ctx, fip_id, lock=True)
    check_revision(fip.revision_number, if_match)
    old_router, old_host = fip.router_id, _host(s, fip.fixed_port_id)
    if "description" in body:
        fip.description = validate.string(body, "description")
    if "qos_policy_id" in body:
        fip.qos_policy_id = qos_attach.checked_policy(s, ctx, body["qos_policy_id"])
    port_id = body.get("port_id")
    if body.get("fixed_ip_address") and port_id is None:
        raise bad("fixed_ip_address cannot be specified without a port_id.")
    if port_id is not None:
        _associate(s, ctx, fip, port_id, body.get("fixed_ip_address"))
    elif "port_id" in body or not body:
        # As in Neutron, an explicit null port_id and a blank update alike
        # leave the floating IP unassociated; other updates keep the port.
        fip.fixed_port_id = None
        fip.fixed_ip_address = None
        fip.router_id = None
        fip.status = "DOWN"
    touch(fip)
    s.flush()
    events.floatingip(uow, fip, old_router_id=old_router, old_host=old_host)
    return fip


def remove(uow: UnitOfWork, ctx: RequestContext, fip_id: str, if_match: int | None) -> None:
    s = uow.session
    fip = load(s, ctx, fip_id, lock=True)
    check_revision(fip.revision_number, if_match)
    from kumo.network.port_forwarding import forwardings

    forwardings.check_deletion(s, fip)
    events.floatingip(uow, fip, "delete")
    port = s.get(Port, fip.floating_port_id)
    taglib.delete_tags(s, fip.id)
    s.delete(fip)
    s.flush()
    if port is not None:
        ports.delete_owned(uow, port)
