"""Subnets: CIDR, gateway, pools, DNS, host routes, IPv6 modes; in-use checks."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.l3_models import RouterPort
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, not_found
from kumo.network import events, policy, validate
from kumo.network import tags as taglib
from kumo.network.core import ipam, networks, service_types
from kumo.network.core.networks import touch
from kumo.network.l3.ports import OWNERS
from kumo.network.quotas import check_quota
from kumo.network.rbac import access as rbac_access
from kumo.network.revision import check_revision
from kumo.network.segments import peer_routes
from kumo.network.segments import rows as segment_rows
from kumo.network.subnetpools import allocate
from kumo.policy import allowed, authorize

V6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
CREATE = {
    "name", "description", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
    "allocation_pools", "dns_nameservers", "host_routes", "ipv6_ra_mode", "ipv6_address_mode",
    "project_id", "tenant_id", "subnetpool_id", "segment_id", "service_types", "prefixlen",
    "dns_publish_fixed_ip", "use_default_subnetpool",
    "tags",
}  # fmt: skip
UPDATE = {
    "name", "description", "gateway_ip", "enable_dhcp", "allocation_pools", "dns_nameservers",
    "host_routes", "service_types", "dns_publish_fixed_ip", "segment_id",
}  # fmt: skip


def _target(session: Session, sub: Subnet) -> dict[str, str | None]:
    """A subnet as the policy table sees it: its project and its network's."""
    owner = session.scalar(select(Network.project_id).where(Network.id == sub.network_id))
    return {"project_id": sub.project_id, "network:project_id": owner}


def load(session: Session, ctx: RequestContext, subnet_id: str, *, lock: bool = False) -> Subnet:
    query = select(Subnet).where(Subnet.id == subnet_id)
    if lock:
        query = query.with_for_update()
    sub = session.scalar(query)
    if sub is None:
        raise not_found("subnet", subnet_id)
    if not allowed(ctx, "network:get_subnet", {"project_id": sub.project_id}):
        net = session.execute(
            select(Network.project_id, Network.shared, Network.external).where(
                Network.id == sub.network_id
            )
        ).first()
        owner, shared, external = net if net is not None else (None, False, False)
        access = rbac_access.networks(session, ctx, [(sub.network_id, shared, external)])[
            sub.network_id
        ]
        if not policy.subnet_visible(ctx, sub.project_id, owner, access.shared, access.external):
            raise not_found("subnet", subnet_id)
    return sub


def _gateway(raw: Any, net: ipam.Net, default: bool) -> ipam.Addr | None:
    if raw is None:
        return None if not default else ipam.first_host(net) if net.num_addresses > 2 else None
    addr = ipaddress.ip_address(validate.ip(raw, "gateway_ip"))
    if addr.version != net.version:
        raise InvalidInput(f"Invalid gateway {raw} for subnet {net}")
    if addr in net and not ipam.usable(net, addr):
        raise InvalidInput(f"Gateway is not valid on subnet: {raw}")
    if addr not in net:
        raise InvalidInput(f"Gateway ip {raw} is not in the subnet {net}")
    return addr


def _dns(raw: Any, version: int) -> list[str]:
    servers = [validate.ip(x, "dns_nameservers") for x in validate.list_of(raw, "dns_nameservers")]
    validate.unique(servers, "dns_nameservers")
    return servers


def _routes(raw: Any, version: int) -> list[dict[str, str]]:
    out = []
    for route in validate.list_of(raw, "host_routes"):
        if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
            raise InvalidInput(f"Invalid data format for hostroute: '{route}'")
        dest = (
            validate.cidr(str(route["destination"]))
            if isinstance(route["destination"], str)
            else None
        )
        if dest is None:
            raise InvalidInput(f"Invalid data format for hostroute: '{route}'")
        hop = ipaddress.ip_address(validate.ip(route["nexthop"], "nexthop"))
        if dest.version != version or hop.version != version:
            raise InvalidInput(f"Invalid data format for hostroute: '{route}'")
        out.append({"destination": str(dest), "nexthop": str(hop)})
    validate.unique(out, "host_routes")
    return out


def _v6_modes(body: dict[str, Any], version: int) -> tuple[str | None, str | None]:
    ra = body.get("ipv6_ra_mode")
    addr = body.get("ipv6_address_mode")
    for name, value in (("ipv6_ra_mode", ra), ("ipv6_address_mode", addr)):
        if value is not None and value not in V6_MODES:
            raise InvalidInput(f"'{value}' is not in {list(V6_MODES)} for {name}")
    if version == 4 and (ra or addr):
        raise InvalidInput(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False or ip_version is 4"
        )
    if ra and addr and ra != addr:
        raise InvalidInput(
            f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to '{addr}' is not valid. "
            "If both attributes are set, they must be the same value"
        )
    return ra, addr


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> Subnet:
    validate.known(body, CREATE)
    s = uow.session
    if "network_id" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'network_id' not specified")
    net_row = networks.load(s, ctx, validate.uuid(body["network_id"], "network_id"), lock=True)
    authorize(ctx, "network:create_subnet", {"network:project_id": net_row.project_id})
    pooled = allocate.wants_pool(body)
    if not pooled and ("cidr" not in body or body["cidr"] is None):
        raise BadRequest(
            "Bad subnets request: a cidr must be specified in the absence of a subnet pool"
        )
    if "ip_version" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'ip_version' not specified")
    version = validate.integer(body["ip_version"], "ip_version")
    if version not in (4, 6):
        raise InvalidInput(f"'{body['ip_version']}' is not in [4, 6]")
    owner = policy.owner_for_create(ctx, body)
    segment_id = _segment(ctx, "create_subnet", body)
    segment_rows.check_subnet(s, net_row.id, segment_id)
    served = _service_types(ctx, "create_subnet", body)
    pool_id: str | None = None
    if pooled:
        got = allocate.subnet_prefix(s, ctx, body, version, owner)
        cidr, pool_id = got.cidr, got.pool.id
    else:
        cidr = validate.cidr(body["cidr"])
    if cidr.version != version:
        raise InvalidInput("Cidr and ip_version are not compatible")
    if version == 4 and cidr.prefixlen > 30 or version == 6 and cidr.prefixlen > 127:
        raise InvalidInput(f"Invalid CIDR {cidr} for IPv{version} subnet")
    networks.check_subnet_mtu(net_row.id, net_row.mtu, {version})
    check_quota(s, settings, owner, "subnet")
    for other in s.scalars(select(Subnet).where(Subnet.network_id == net_row.id)):
        if ipaddress.ip_network(other.cidr).overlaps(cidr):
            raise InvalidInput(
                f"Requested subnet with cidr: {cidr} for network: {net_row.id} overlaps with "
                "another subnet"
            )
        if other.ip_version == version and other.subnetpool_id != pool_id:
            raise BadRequest(
                "Subnets hosted on the same network must be allocated from the same subnet pool.",
                kind="NetworkSubnetPoolAffinityError",
            )
    ra, addr_mode = _v6_modes(body, version)
    if addr_mode in ("slaac", "dhcpv6-stateless") and cidr.prefixlen != 64:
        raise InvalidInput(
            f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )
    gateway = _gateway(body.get("gateway_ip"), cidr, "gateway_ip" not in body)
    pools = (
        ipam.parse_pools(body["allocation_pools"], cidr, gateway)
        if body.get("allocation_pools") is not None
        else ipam.default_pools(cidr, gateway)
    )
    sub = Subnet(
        project_id=owner,
        network_id=net_row.id,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        ip_version=version,
        cidr=str(cidr),
        gateway_ip=str(gateway) if gateway is not None else None,
        enable_dhcp=validate.boolean(body, "enable_dhcp") if "enable_dhcp" in body else True,
        ipv6_ra_mode=ra,
        ipv6_address_mode=addr_mode,
        allocation_pools=pools,
        dns_nameservers=_dns(body.get("dns_nameservers"), version),
        host_routes=_routes(body.get("host_routes"), version),
        subnetpool_id=pool_id,
        segment_id=segment_id,
        dns_publish_fixed_ip=(
            validate.boolean(body, "dns_publish_fixed_ip")
            if "dns_publish_fixed_ip" in body
            else False
        ),
        service_types=served,
    )
    s.add(sub)
    s.flush()
    taglib.on_create(s, "subnet", sub.id, body)
    events.subnet(uow, sub)
    if segment_id is not None:
        peer_routes.refresh(uow, net_row.id)
    touch(net_row)
    events.network(uow, net_row)
    return sub


def _segment(ctx: RequestContext, action: str, body: dict[str, Any]) -> str | None:
    """The segment a request names for a subnet (admins only), or None."""
    raw = body.get("segment_id")
    if raw is None:
        return None
    authorize(ctx, f"network:{action}:segment_id", {})
    return validate.uuid(raw, "segment_id")


def _service_types(ctx: RequestContext, action: str, body: dict[str, Any]) -> list[str]:
    """The device owners a request names for a subnet (``subnet-service-types``;
    setting them is for admins, as Neutron's default policy says)."""
    served = service_types.parse(body.get("service_types"))
    if "service_types" in body:
        authorize(ctx, f"network:{action}:service_types", {})
    return served


def _move_to_segment(
    session: Session, ctx: RequestContext, sub: Subnet, body: dict[str, Any]
) -> None:
    """``segment_id`` on update: a subnet not yet associated with a segment may be
    associated with its network's only segment (turning a network into a routed
    one); any other change of a subnet's segment is refused, as in Neutron."""
    segment_id = _segment(ctx, "update_subnet", body)
    if segment_id == sub.segment_id:
        return
    if sub.segment_id is not None or segment_id is None:
        raise BadRequest(
            f"Unable to update subnet {sub.id}: the segment of a subnet associated with one "
            "cannot be changed.",
            kind="SubnetSegmentAssociationChangeNotAllowed",
        )
    if len(segment_rows.of_network(session, sub.network_id)) > 1:
        raise BadRequest(
            f"Subnet {sub.id} cannot be associated with a segment: its network has more than "
            "one segment.",
            kind="NoUpdateSubnetWhenMultipleSegmentsOnNetwork",
        )
    segment_rows.check_subnet(session, sub.network_id, segment_id, exclude=sub.id)
    sub.segment_id = segment_id


def update(
    uow: UnitOfWork, ctx: RequestContext, subnet_id: str, body: dict[str, Any], if_match: int | None
) -> Subnet:
    for key in ("id", "cidr", "ip_version", "network_id", "project_id", "tenant_id",
                "ipv6_ra_mode", "ipv6_address_mode"):  # fmt: skip
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    s = uow.session
    sub = load(s, ctx, subnet_id, lock=True)
    authorize(ctx, "network:update_subnet", _target(s, sub))
    check_revision(sub.revision_number, if_match)
    cidr = ipaddress.ip_network(sub.cidr)
    old_gateway = sub.gateway_ip
    if "name" in body:
        sub.name = validate.string(body, "name")
    if "description" in body:
        sub.description = validate.string(body, "description")
    if "enable_dhcp" in body:
        sub.enable_dhcp = validate.boolean(body, "enable_dhcp")
    gateway = ipaddress.ip_address(sub.gateway_ip) if sub.gateway_ip else None
    if "gateway_ip" in body:
        gateway = _gateway(body["gateway_ip"], cidr, False)
        if (str(gateway) if gateway is not None else None) != sub.gateway_ip:
            _gateway_not_routed(s, sub)
        if gateway is not None and str(gateway) != sub.gateway_ip:
            used = s.scalar(
                select(IPAllocation.id).where(
                    IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == str(gateway)
                )
            )
            if used:
                raise Conflict(
                    f"Gateway ip {gateway} conflicts with an allocated address",
                    kind="GatewayIpInUse",
                )
        sub.gateway_ip = str(gateway) if gateway is not None else None
    if "allocation_pools" in body:
        sub.allocation_pools = ipam.parse_pools(body["allocation_pools"], cidr, gateway)
    elif "gateway_ip" in body:
        ipam.parse_pools(sub.allocation_pools, cidr, gateway)
    if "dns_nameservers" in body:
        sub.dns_nameservers = _dns(body["dns_nameservers"], sub.ip_version)
    if "host_routes" in body:
        sub.host_routes = _routes(body["host_routes"], sub.ip_version)
    if "dns_publish_fixed_ip" in body:
        sub.dns_publish_fixed_ip = validate.boolean(body, "dns_publish_fixed_ip")
    if "segment_id" in body:
        _move_to_segment(s, ctx, sub, body)
    if "service_types" in body:
        sub.service_types = _service_types(ctx, "update_subnet", body)
    touch(sub)
    events.subnet(uow, sub)
    if sub.segment_id is not None:
        s.flush()
        peer_routes.refresh(uow, sub.network_id, old_gateways={sub.id: old_gateway})
    return sub


def _gateway_not_routed(s: Session, sub: Subnet) -> None:
    """Refuse to move or drop a subnet's gateway IP that a router's port
    holds (as Neutron: the router would keep an address that is no longer
    the gateway)."""
    if not sub.gateway_ip:
        return
    port_id = s.scalar(
        select(IPAllocation.port_id)
        .join(RouterPort, RouterPort.port_id == IPAllocation.port_id)
        .where(IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == sub.gateway_ip)
        .limit(1)
    )
    if port_id is not None:
        raise Conflict(
            f"Current gateway ip {sub.gateway_ip} already in use by port {port_id}. "
            "Unable to update.",
            kind="GatewayIpInUse",
        )


def remove(uow: UnitOfWork, ctx: RequestContext, subnet_id: str, if_match: int | None) -> None:
    s = uow.session
    sub = load(s, ctx, subnet_id, lock=True)
    if not allowed(ctx, "network:delete_subnet", _target(s, sub)):
        raise not_found("subnet", subnet_id)
    check_revision(sub.revision_number, if_match)
    rows = s.execute(
        select(IPAllocation, Port)
        .join(Port, Port.id == IPAllocation.port_id)
        .where(IPAllocation.subnet_id == sub.id)
    ).all()
    blocking = [
        p
        for _a, p in rows
        if (not p.device_owner.startswith("network:") or p.device_owner in OWNERS)
        and not ipam.is_auto_address(sub)
    ]
    if blocking:
        raise Conflict(
            f"Unable to complete operation on subnet {sub.id}: One or more ports have an IP "
            "allocation from this subnet.",
            kind="SubnetInUse",
        )
    touched = {p.id: p for _a, p in rows}
    s.execute(delete(IPAllocation).where(IPAllocation.subnet_id == sub.id))
    s.flush()
    for p in touched.values():
        s.refresh(p)
        touch(p)
        events.port(uow, p)
    net_row = networks.load(s, ctx, sub.network_id)
    events.subnet(uow, sub, "delete")
    taglib.delete_tags(s, sub.id)
    s.delete(sub)
    s.flush()
    if sub.segment_id is not None:
        peer_routes.refresh(uow, sub.network_id, gone=[sub.cidr])
    touch(net_row)
    events.network(uow, net_row)
