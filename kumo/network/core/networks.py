"""Networks: create, read, update, delete with segments, policy and events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.l3_models import RouterPort
from kumo.db.network_models import (
    IPAllocation,
    Network,
    NetworkSegment,
    Port,
    SegmentAllocation,
    Subnet,
)
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InvalidInput, not_found
from kumo.network import availability_zones, dns, events, policy, validate
from kumo.network import tags as taglib
from kumo.network.core import segments
from kumo.network.l3 import ports as l3_ports
from kumo.network.l3.ports import BLOCKING, GATEWAY
from kumo.network.qos import attach as qos_attach
from kumo.network.quotas import check_quota
from kumo.network.rbac import access as rbac_access
from kumo.network.rbac import policies as rbac
from kumo.network.revision import check_revision
from kumo.policy import allowed, authorize

CREATE = {
    "name", "description", "admin_state_up", "shared", "router:external", "mtu",
    "port_security_enabled", "provider:network_type", "provider:physical_network",
    "provider:segmentation_id", "availability_zone_hints", "project_id", "tenant_id",
    "dns_domain", "is_default", "qos_policy_id", "segments",
    "tags",
}  # fmt: skip
UPDATE = {
    "name", "description", "admin_state_up", "shared", "router:external", "mtu",
    "port_security_enabled", "dns_domain", "is_default", "qos_policy_id",
}  # fmt: skip


def load(session: Session, ctx: RequestContext, network_id: str, *, lock: bool = False) -> Network:
    query = select(Network).where(Network.id == network_id)
    if lock:
        query = query.with_for_update()
    net = session.scalar(query)
    if net is None:
        raise not_found("network", network_id)
    flags = rbac_access.network(session, ctx, net.id, net.shared, net.external, net.project_id)
    if not policy.network_visible(ctx, net.project_id, flags.shared, flags.external):
        raise not_found("network", network_id)
    return net


IPV4_MIN_MTU = 68
IPV6_MIN_MTU = 1280


def _mtu(settings: Settings, ntype: str, body: dict[str, Any]) -> int:
    """The MTU asked for, as Neutron takes it: any non-negative number up to the
    segment's maximum, 0 (or none) meaning that maximum. An MTU too small for
    IP is refused only when a subnet meets it (``check_subnet_mtu``)."""
    top = settings.overlay_mtu if ntype == "vxlan" else settings.underlay_mtu
    if "mtu" not in body or body["mtu"] is None:
        return top
    mtu = validate.integer(body["mtu"], "mtu")
    if mtu < 0:
        raise InvalidInput(f"'{mtu}' should be non-negative")
    if mtu > top:
        raise InvalidInput(f"Requested MTU is too big, maximum is {top}")
    return mtu or top


def check_subnet_mtu(network_id: str, mtu: int, ip_versions: set[int]) -> None:
    """Neutron's NetworkMTUSubnetConflict: a network's subnets need an MTU of at
    least 68 (IPv4, and any subnet at all), 1280 for IPv6."""
    if not ip_versions or mtu >= IPV6_MIN_MTU:
        return
    needed = IPV4_MIN_MTU if mtu < IPV4_MIN_MTU else IPV6_MIN_MTU if 6 in ip_versions else 0
    if needed:
        raise Conflict(
            f"MTU of {network_id} is not valid, subnet requires a minimum of {needed}",
            kind="NetworkMTUSubnetConflict",
        )


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> Network:
    validate.known(body, CREATE)
    policy.check_writable(ctx, "networks", "create_network", body)
    s = uow.session
    owner = policy.owner_for_create(ctx, body)
    check_quota(s, settings, owner, "network")
    chosen = _segments(s, settings, body)
    ntype, physnet, seg = chosen[0]
    net = Network(
        project_id=owner,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        admin_state_up=validate.boolean(body, "admin_state_up")
        if "admin_state_up" in body
        else True,
        shared=validate.boolean(body, "shared") if "shared" in body else False,
        external=validate.boolean(body, "router:external") if "router:external" in body else False,
        port_security_enabled=(
            validate.boolean(body, "port_security_enabled")
            if "port_security_enabled" in body
            else True
        ),
        network_type=ntype,
        physical_network=physnet,
        segmentation_id=seg,
        mtu=_mtu(settings, "vxlan" if any(c[0] == "vxlan" for c in chosen) else ntype, body),
        availability_zone_hints=availability_zones.check_hints(
            s, settings, availability_zones.NETWORK, body.get("availability_zone_hints")
        ),
        dns_domain=dns.dns_domain(body["dns_domain"]) if "dns_domain" in body else "",
        qos_policy_id=(
            qos_attach.checked_policy(s, ctx, body["qos_policy_id"])
            if "qos_policy_id" in body
            else qos_attach.network_default(s, owner)
        ),
    )
    net.dns_zone = dns.expand(net.dns_domain, dns.keyword_values(ctx))
    s.add(net)
    s.flush()
    rbac.network_created(s, net)
    if "is_default" in body:
        set_default(s, net, validate.boolean(body, "is_default"))
    for index, (kind, phys, vid) in enumerate(chosen):
        row = NetworkSegment(
            network_id=net.id,
            network_type=kind,
            physical_network=phys,
            segmentation_id=vid,
            segment_index=index,
        )
        s.add(row)
        s.flush()
        segments.reserve(s, net.id, kind, phys, vid, row.id)
    taglib.on_create(s, "network", net.id, body)
    events.network(uow, net)
    return net


PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


def _segments(
    session: Session, settings: Settings, body: dict[str, Any]
) -> list[tuple[str, str | None, int | None]]:
    """The segments of a new network: its provider attributes, or the list
    ``segments`` names (``multi-provider``), each chosen and checked alike."""
    if "segments" not in body or body["segments"] is None:
        return [segments.choose(session, settings, body)]
    if any(key in body for key in PROVIDER):
        raise InvalidInput("Segments and provider values cannot both be set.")
    asked = body["segments"]
    if not isinstance(asked, list) or not asked:
        raise InvalidInput(
            f"Invalid input for segments. Reason: '{asked}' is not a non-empty list."
        )
    out: list[tuple[str, str | None, int | None]] = []
    for item in asked:
        if not isinstance(item, dict) or not set(item) <= set(PROVIDER):
            raise InvalidInput(f"Invalid input for segments. Reason: '{item}' is not a segment.")
        chosen = segments.choose(session, settings, item)
        if chosen in out:
            raise InvalidInput("Duplicate segment entry in request.")
        out.append(chosen)
    return out


def update(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    network_id: str,
    body: dict[str, Any],
    if_match: int | None,
) -> Network:
    validate.known(body, UPDATE | {"id", "project_id", "tenant_id"} & set(body))
    for key in ("id", "project_id", "tenant_id"):
        if key in body:
            raise InvalidInput(f"Cannot update read-only attribute {key}")
    policy.check_writable(ctx, "networks", "update_network", body)
    net = load(uow.session, ctx, network_id, lock=True)
    authorize(ctx, "network:update_network", {"project_id": net.project_id})
    check_revision(net.revision_number, if_match)
    if "name" in body:
        net.name = validate.string(body, "name")
    if "description" in body:
        net.description = validate.string(body, "description")
    if "admin_state_up" in body:
        net.admin_state_up = validate.boolean(body, "admin_state_up")
    if "shared" in body:
        rbac.set_shared(uow.session, net, validate.boolean(body, "shared"))
    if "router:external" in body:
        external = validate.boolean(body, "router:external")
        if net.external and not external and _has_gateways(uow.session, net.id):
            raise Conflict(
                f"External network {net.id} cannot be updated to be made non-external, since "
                "it has existing gateway ports.",
                kind="ExternalNetworkInUse",
            )
        rbac.set_external(uow.session, net, external)
    if "port_security_enabled" in body:
        net.port_security_enabled = validate.boolean(body, "port_security_enabled")
    if "is_default" in body:
        set_default(uow.session, net, validate.boolean(body, "is_default"))
    if "dns_domain" in body:
        net.dns_domain = dns.dns_domain(body["dns_domain"])
        net.dns_zone = dns.expand(net.dns_domain, dns.keyword_values(ctx))
    if "qos_policy_id" in body:
        policy_id = qos_attach.checked_policy(uow.session, ctx, body["qos_policy_id"])
        if policy_id != net.qos_policy_id:
            net.qos_policy_id = policy_id
            uow.session.flush()
            qos_attach.network_changed(uow, net.id)
    if "mtu" in body:
        mtu = _mtu(settings, net.network_type, body)
        versions = set(
            uow.session.scalars(select(Subnet.ip_version).where(Subnet.network_id == net.id))
        )
        check_subnet_mtu(net.id, mtu, versions)
        net.mtu = mtu
    touch(net)
    events.network(uow, net)
    return net


def set_default(session: Session, net: Network, value: bool) -> None:
    """Mark ``net`` as the default external network (the one auto-allocated
    routers use), or unmark it. There is at most one: a second is 409."""
    if value:
        other = session.scalar(
            select(Network.id).where(
                Network.is_default.is_(True), Network.external.is_(True), Network.id != net.id
            )
        )
        if other is not None:
            raise Conflict(
                f"Unable to complete operation. Default external network {other} already exists. "
                "Only one default external network is allowed.",
                kind="DefaultExternalNetworkExists",
            )
    net.is_default = value


def _has_gateways(session: Session, network_id: str) -> bool:
    q = (
        select(Port.id)
        .join(RouterPort, RouterPort.port_id == Port.id)
        .where(Port.network_id == network_id, RouterPort.port_type == GATEWAY)
    )
    return session.scalar(q.limit(1)) is not None


def touch(obj: Any) -> None:
    obj.revision_number += 1
    obj.updated_at = utcnow()


def remove(uow: UnitOfWork, ctx: RequestContext, network_id: str, if_match: int | None) -> None:
    s = uow.session
    net = load(s, ctx, network_id, lock=True)
    if not allowed(ctx, "network:delete_network", {"project_id": net.project_id}):
        raise not_found("network", network_id)
    check_revision(net.revision_number, if_match)
    ports = list(s.scalars(select(Port).where(Port.network_id == net.id)))
    in_use = [
        p for p in ports if not p.device_owner.startswith("network:") or p.device_owner in BLOCKING
    ]
    if in_use:
        raise Conflict(
            f"Unable to complete operation on network {net.id}. There are one or more ports "
            "still in use on the network.",
            kind="NetworkInUse",
        )
    l3_ports.network_deleted(uow, net.id)
    for p in ports:
        events.port(uow, p, "delete")
        taglib.delete_tags(s, p.id)
        s.delete(p)
    for sub in s.scalars(select(Subnet).where(Subnet.network_id == net.id)):
        events.subnet(uow, sub, "delete")
        taglib.delete_tags(s, sub.id)
        s.execute(delete(IPAllocation).where(IPAllocation.subnet_id == sub.id))
        s.delete(sub)
    s.flush()
    events.network(uow, net, "delete")
    taglib.delete_tags(s, net.id)
    rbac.object_deleted(s, "network", net.id)
    s.execute(delete(SegmentAllocation).where(SegmentAllocation.network_id == net.id))
    s.execute(delete(NetworkSegment).where(NetworkSegment.network_id == net.id))
    s.delete(net)
