"""Ports: MACs, fixed IPs, bindings, port security, address pairs, DHCP options."""

from __future__ import annotations

import functools
import ipaddress
import secrets
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    KumoError,
    OverQuota,
    not_found,
    shown,
)
from kumo.network import dns, events, policy, validate
from kumo.network import tags as taglib
from kumo.network.core import ipam, service_types
from kumo.network.core.networks import touch
from kumo.network.l3 import ports as l3_ports
from kumo.network.ports import groups as port_groups
from kumo.network.ports import rows as port_rows
from kumo.network.ports import scheduling_hints as hints
from kumo.network.qos import attach as qos_attach
from kumo.network.rbac import access as rbac_access
from kumo.network.revision import check_revision
from kumo.network.segments import hosts as segment_hosts
from kumo.network.trunks import subports as trunk_subports
from kumo.policy import allowed, authorize

VIF_TYPE_BOUND = "bridge"
ROUTER_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:router_gateway",
    "network:ha_router_replicated_interface",
)
CREATE = {
    "name", "description", "network_id", "admin_state_up", "mac_address", "fixed_ips",
    "device_id", "device_owner", "project_id", "tenant_id", "security_groups",
    "allowed_address_pairs", "extra_dhcp_opts", "port_security_enabled", "dns_name", "dns_domain",
    "binding:host_id", "binding:vnic_type", "binding:profile", "qos_policy_id",
    "numa_affinity_policy", "device_profile",
    "tags",
}  # fmt: skip
UPDATE = CREATE - {"network_id", "project_id", "tenant_id", "device_profile", "tags"}
VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "remote-managed",
)


def _target(session: Session, port: Port) -> dict[str, str | None]:
    """A port as the policy table sees it: its project and its network's."""
    owner = session.scalar(select(Network.project_id).where(Network.id == port.network_id))
    return {"project_id": port.project_id, "network:project_id": owner}


def load(session: Session, ctx: RequestContext, port_id: str, *, lock: bool = False) -> Port:
    query = select(Port).where(Port.id == port_id)
    if lock:
        query = query.with_for_update()
    port = session.scalar(query)
    if port is None:
        raise not_found("port", port_id)
    if not allowed(ctx, "network:get_port", {"project_id": port.project_id}):
        owner = session.scalar(select(Network.project_id).where(Network.id == port.network_id))
        if not policy.port_visible(ctx, port.project_id, owner):
            raise not_found("port", port_id)
    return port


def _new_mac(settings: Settings) -> str:
    """A random MAC under the configured base.

    Not checked against the network's ports first: a clash (one chance in
    16 million per port already there) fails the unique key on
    (network_id, mac_address), and the transaction runs again with another.
    """
    tail = secrets.token_bytes(3)
    return settings.mac_base + ":" + ":".join(f"{b:02x}" for b in tail)


def _mac_taken(session: Session, network_id: str, mac: str) -> bool:
    return (
        session.scalar(
            select(Port.id).where(Port.network_id == network_id, Port.mac_address == mac)
        )
        is not None
    )


def _subnets(session: Session, network_id: str) -> list[Subnet]:
    return list(
        session.scalars(
            select(Subnet)
            .where(Subnet.network_id == network_id)
            .order_by(Subnet.created_at, Subnet.id)
        )
    )


def _allocate(
    session: Session,
    network_id: str,
    subnets: Sequence[ipam.SubnetFields],
    mac: str,
    requested: Any,
    device_owner: str,
    *,
    default: bool,
    port_row: dict[str, Any] | None = None,
) -> list[tuple[str, str]]:
    """The (subnet_id, ip) pairs for a port on ``network_id``, whose subnets
    are ``subnets`` (in creation order).

    With ``port_row`` (a port just inserted with ``port_rows.insert_port``)
    they are written too, in this order: default ones as they are chosen
    (IPAM claims the next free address with the statement that writes it),
    requested ones once all are checked.
    """
    if port_row is not None and not default:
        fixed = _allocate(session, network_id, subnets, mac, requested, device_owner, default=False)
        for chosen_subnet, chosen in fixed:
            port_rows.insert_address(session, port_row, chosen_subnet, chosen)
        return fixed
    if subnets and requested != []:
        # subnet-service-types: only the subnets that serve this device owner
        subnets = service_types.candidates(subnets, device_owner)
        if not subnets:
            raise service_types.no_matching_subnet(network_id, device_owner)
    by_id = {s.id: s for s in subnets}
    router_port = device_owner in ROUTER_OWNERS
    out: list[tuple[str, str]] = []
    if default:
        v4_done = v6_done = False
        for sub in subnets:
            if ipam.is_auto_address(sub):
                out.append((sub.id, ipam.eui64(ipaddress.ip_network(sub.cidr), mac)))
                if port_row is not None:
                    port_rows.insert_address(session, port_row, *out[-1])
                continue
            if (sub.ip_version == 4 and v4_done) or (sub.ip_version == 6 and v6_done):
                continue
            claim = None
            if port_row is not None:
                claim = functools.partial(_claim, session, port_row, sub.id)
            try:
                out.append((sub.id, ipam.next_free(session, sub, claim)))
            except Conflict:
                continue
            if sub.ip_version == 4:
                v4_done = True
            else:
                v6_done = True
        if subnets and not out:
            raise Conflict(
                f"No more IP addresses available on network {network_id}.",
                kind="IpAddressGenerationFailure",
            )
        return out
    for item in validate.list_of(requested, "fixed_ips"):
        if not isinstance(item, dict) or not set(item) <= {"subnet_id", "ip_address"} or not item:
            raise InvalidInput(f"Invalid data format for fixed IP: '{item}'")
        subnet_id = item.get("subnet_id")
        address = item.get("ip_address")
        if subnet_id is None and address is None:
            raise InvalidInput(f"Invalid data format for fixed IP: '{shown(item)}'")
        if address is not None:
            address = validate.ip(address)
        found: ipam.SubnetFields | None
        if subnet_id is not None:
            found = by_id.get(validate.uuid(subnet_id, "subnet_id"))
            if found is None:
                if session.get(Subnet, subnet_id) is None:
                    raise not_found("subnet", subnet_id)
                raise InvalidInput(
                    f"Failed to create port on network {network_id}, because fixed_ips included "
                    f"invalid subnet {subnet_id}"
                )
            if address is not None and ipaddress.ip_address(address) not in ipaddress.ip_network(
                found.cidr
            ):
                raise InvalidInput(
                    f"IP address {address} is not a valid IP for the specified subnet.",
                    kind="InvalidIpForSubnet",
                )
        else:
            assert address is not None
            addr = ipaddress.ip_address(address)
            found = next((s for s in subnets if addr in ipaddress.ip_network(s.cidr)), None)
            if found is None:
                raise InvalidInput(
                    f"IP address {address} is not a valid IP for any of the subnets on the "
                    "specified network.",
                    kind="InvalidIpForNetwork",
                )
        sub = found
        if address is None:
            if ipam.is_auto_address(sub):
                address = ipam.eui64(ipaddress.ip_network(sub.cidr), mac)
            else:
                address = ipam.next_free(session, sub)
        else:
            if ipam.is_auto_address(sub) and not router_port:
                raise InvalidInput(
                    f"IPv6 address {address} cannot be directly assigned to a port on subnet "
                    f"{sub.id} since the subnet is configured for automatic addresses"
                )
            address = ipam.check_specific(session, sub, address, router_port=router_port)
        if (sub.id, address) in out:
            raise InvalidInput(f"Duplicate fixed IP {address}")
        out.append((sub.id, address))
    return out


def _follow_mac(session: Session, port: Port, mac: str) -> None:
    """Move the port's automatic (EUI-64) IPv6 addresses to those of its new
    MAC; addresses it was given otherwise stay."""
    auto = {sub.id: sub for sub in _subnets(session, port.network_id) if ipam.is_auto_address(sub)}
    for alloc in port.fixed_ips:
        sub = auto.get(alloc.subnet_id)
        if sub is None:
            continue
        net = ipaddress.ip_network(sub.cidr)
        if alloc.ip_address == ipam.eui64(net, port.mac_address):
            alloc.ip_address = ipam.eui64(net, mac)


def _claim(session: Session, row: dict[str, Any], subnet_id: str, address: str) -> bool:
    return port_rows.insert_address(session, row, subnet_id, address, claim=True)


def _pairs(raw: Any, mac: str) -> list[dict[str, str]]:
    out = []
    for pair in validate.list_of(raw, "allowed_address_pairs"):
        if (
            not isinstance(pair, dict)
            or "ip_address" not in pair
            or not set(pair) <= {"ip_address", "mac_address"}
        ):
            raise InvalidInput(
                f"Invalid data format for allowed address pair: '{pair}'",
                kind="AllowedAddressPairsMissingIP",
            )
        out.append(
            {
                "ip_address": validate.ip_or_cidr(pair["ip_address"]),
                "mac_address": validate.mac(pair["mac_address"])
                if pair.get("mac_address")
                else mac,
            }
        )
    if len({(p["ip_address"], p["mac_address"]) for p in out}) != len(out):
        raise BadRequest(
            "Request contains duplicate address pair", kind="DuplicateAddressPairInRequest"
        )
    return out


def _dhcp_opts(raw: Any) -> list[dict[str, Any]]:
    out = []
    for opt in validate.list_of(raw, "extra_dhcp_opts"):
        if (
            not isinstance(opt, dict)
            or not isinstance(opt.get("opt_name"), str)
            or not opt["opt_name"]
        ):
            raise InvalidInput(f"Invalid data format for extra-dhcp-opt: {opt}")
        if not set(opt) <= {"opt_name", "opt_value", "ip_version"}:
            raise InvalidInput(f"Invalid data format for extra-dhcp-opt: {opt}")
        version = validate.integer(opt.get("ip_version", 4), "ip_version")
        if version not in (4, 6):
            raise InvalidInput(f"'{version}' is not in [4, 6]")
        value = opt.get("opt_value")
        out.append(
            {
                "opt_name": opt["opt_name"],
                "opt_value": None if value is None else str(value),
                "ip_version": version,
            }
        )
    return out


def apply_binding(port: Any, host: str) -> None:
    """Bind a Port (or its column values) to ``host`` ("" unbinds)."""
    port.host = host
    port.vif_type = VIF_TYPE_BOUND if port.host else "unbound"
    port.vif_details = {"port_filter": True, "connectivity": "l2"} if port.host else {}


def _binding(port: Any, body: dict[str, Any]) -> None:
    """Apply the ``binding:*`` attributes of ``body`` to a Port (or its column values)."""
    if "binding:host_id" in body:
        host = body["binding:host_id"]
        if host is not None and not isinstance(host, str):
            raise InvalidInput(f"'{host}' is not a valid string")
        apply_binding(port, host or "")
    if "binding:vnic_type" in body:
        if body["binding:vnic_type"] not in VNIC_TYPES:
            raise InvalidInput(f"'{body['binding:vnic_type']}' is not in {list(VNIC_TYPES)}")
        port.vnic_type = body["binding:vnic_type"]
    if "binding:profile" in body:
        profile = body["binding:profile"]
        if profile is not None and not isinstance(profile, dict):
            raise InvalidInput(f"'{profile}' is not a dictionary")
        port.profile = profile or {}


def _override_mac(port: Any) -> str | None:
    """port-mac-override: a direct-physical port takes the MAC of the device
    its binding profile names (``device_mac_address``)."""
    profile = port.profile or {}
    if port.vnic_type != "direct-physical" or profile.get("device_mac_address") is None:
        return None
    return validate.mac(profile["device_mac_address"])


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> dict[str, Any]:
    """Create a port; its admin view (the body of its outbox event too).

    One read finds the network, its subnets, the owner's port quota and
    default group (``port_rows.read_target``); the rows go in with plain
    INSERTs. Errors come in the same order as for any other resource: the
    network first, then the request's project, then quota and the port's
    own attributes.
    """
    validate.known(body, CREATE)
    policy.check_writable(ctx, "ports", "create_port", body)
    s = uow.session
    if "network_id" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'network_id' not specified")
    network_id = validate.uuid(body["network_id"], "network_id")
    refused: KumoError | None = None
    try:
        owner = policy.owner_for_create(ctx, body)
    except KumoError as exc:  # reported once the network is known to exist
        owner, refused = ctx.project_id or "", exc
    net = port_rows.read_target(s, network_id, owner)
    if net is None:
        raise not_found("network", network_id)
    flags = rbac_access.network(s, ctx, network_id, net.shared, net.external, net.project_id)
    if not policy.network_visible(ctx, net.project_id, flags.shared, flags.external):
        raise not_found("network", network_id)
    if refused is not None:
        raise refused
    if not (flags.shared or allowed(ctx, "network:get_network", {"project_id": net.project_id})):
        raise not_found("network", network_id)
    if "device_owner" in body:
        owner_of_device = validate.string(body, "device_owner")
        policy.check_device_owner(ctx, "create_port", owner_of_device, net.project_id)
    policy.check_port_attributes(ctx, "create_port", body, net.project_id)
    limit = settings.default_quotas.get("port", -1) if net.port_limit is None else net.port_limit
    if limit >= 0 and port_rows.port_count(s, owner) + 1 > limit:
        raise OverQuota("Quota exceeded for resources: ['port'].", kind="OverQuota")
    if body.get("mac_address") is not None:
        mac = validate.mac(body["mac_address"])
        if _mac_taken(s, network_id, mac):
            raise Conflict(
                f"Unable to complete operation for network {network_id}. The mac address {mac} is in use.",
                kind="MacAddressInUse",
            )
    else:
        mac = _new_mac(settings)
    device_owner = validate.string(body, "device_owner") if "device_owner" in body else ""
    port_security = (
        validate.boolean(body, "port_security_enabled")
        if "port_security_enabled" in body
        else net.port_security_enabled
    )
    pairs = _pairs(body.get("allowed_address_pairs"), mac)
    if pairs and not port_security:
        raise Conflict(
            "Port Security must be enabled in order to have allowed address pairs on a port.",
            kind="AddressPairAndPortSecurityRequired",
        )
    values: dict[str, Any] = {
        "project_id": owner,
        "network_id": network_id,
        "name": validate.string(body, "name") if "name" in body else "",
        "description": validate.string(body, "description") if "description" in body else "",
        "mac_address": mac,
        "admin_state_up": validate.boolean(body, "admin_state_up")
        if "admin_state_up" in body
        else True,
        "status": "DOWN",
        "device_id": validate.string(body, "device_id") if "device_id" in body else "",
        "device_owner": device_owner,
        "port_security_enabled": port_security,
        "allowed_address_pairs": pairs,
        "extra_dhcp_opts": _dhcp_opts(body.get("extra_dhcp_opts")),
        "dns_name": dns.dns_name(body["dns_name"]) if "dns_name" in body else "",
        "dns_domain": dns.dns_domain(body["dns_domain"]) if "dns_domain" in body else "",
        "qos_policy_id": qos_attach.checked_policy(s, ctx, body.get("qos_policy_id")),
        "numa_affinity_policy": (
            hints.numa_affinity_policy(body) if "numa_affinity_policy" in body else None
        ),
        "device_profile": hints.device_profile(body) if "device_profile" in body else None,
        "host": "",
        "vif_type": "unbound",
        "vnic_type": "normal",
        "profile": {},
        "vif_details": {},
    }
    groups = port_groups.for_new_port(
        uow, owner, body, port_security, device_owner, default_group=net.default_group
    )
    binding = SimpleNamespace(**values)
    _binding(binding, body)
    override = _override_mac(binding)
    if override is not None and override != mac:
        if _mac_taken(s, network_id, override):
            raise Conflict(f"The mac address {override} is in use.", kind="MacAddressInUse")
        mac = binding.mac_address = override
    values.update(vars(binding))
    subnets, values["ip_allocation"] = _routed_subnets(s, net.subnets, values["host"], body)
    row = port_rows.insert_port(s, values, groups)
    fixed = _allocate(
        s,
        network_id,
        subnets,
        mac,
        body.get("fixed_ips"),
        device_owner,
        default="fixed_ips" not in body,
        port_row=row,
    )
    if values["host"] and fixed and subnets is net.subnets:
        segment_hosts.check_fixed_ips(
            s, network_id, values["host"], row["id"], {sub for sub, _ in fixed}
        )
    view = port_rows.view(row, fixed, groups)
    if "tags" in body:
        taglib.on_create(s, "port", view["id"], body)
        view["tags"] = taglib.tags_for(s, [view["id"]]).get(view["id"], [])
    events.port_body(uow, view)
    return view


def _routed_subnets(
    session: Session, subnets: Sequence[ipam.SubnetFields], host: str, body: dict[str, Any]
) -> tuple[Sequence[ipam.SubnetFields], str]:
    """The subnets a new port's default addresses come from, and its
    ``ip_allocation``: on a routed network, those of its host's segment, or
    none until it is bound (``deferred``); ``none`` when it asks for no
    addresses at all."""
    if body.get("fixed_ips") == []:
        return subnets, "none"
    if not segment_hosts.is_routed(subnets) or "fixed_ips" in body:
        return subnets, "immediate"
    if not host:
        return [], "deferred"
    return segment_hosts.subnets_for_host(session, subnets[0].network_id, host, subnets), (
        "immediate"
    )


def update(
    uow: UnitOfWork,
    ctx: RequestContext,
    port_id: str,
    body: dict[str, Any],
    if_match: int | None,
    settings: Settings | None = None,
) -> Port:
    for key in ("id", "network_id", "project_id", "tenant_id", "status"):
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    policy.check_writable(ctx, "ports", "update_port", body)
    s = uow.session
    port = load(s, ctx, port_id, lock=True)
    target = _target(s, port)
    authorize(ctx, "network:update_port", target)
    policy.check_port_attributes(ctx, "update_port", body, target["network:project_id"])
    check_revision(port.revision_number, if_match)
    old_host = port.host
    device_id = validate.string(body, "device_id") if "device_id" in body else port.device_id
    device_owner = port.device_owner
    if "device_owner" in body:
        device_owner = validate.string(body, "device_owner")
        policy.check_device_owner(ctx, "update_port", device_owner, target["network:project_id"])
    l3_ports.check_update(s, port, device_id, device_owner)
    for key in ("name", "description", "device_id", "device_owner"):
        if key in body:
            setattr(port, key, validate.string(body, key))
    if "dns_name" in body:
        port.dns_name = dns.dns_name(body["dns_name"])
    if "dns_domain" in body:
        port.dns_domain = dns.dns_domain(body["dns_domain"])
    if "admin_state_up" in body:
        port.admin_state_up = validate.boolean(body, "admin_state_up")
    if "numa_affinity_policy" in body:
        port.numa_affinity_policy = hints.numa_affinity_policy(body)
    if "mac_address" in body:
        if not allowed(ctx, "network:update_port:mac_address"):
            raise Forbidden("(rule:update_port:mac_address) is disallowed by policy")
        # null asks for a new random one (port-mac-address-regenerate)
        regenerate = body["mac_address"] is None
        mac = _new_mac(settings or Settings()) if regenerate else validate.mac(body["mac_address"])
        if mac != port.mac_address:
            if port.host:
                raise Conflict("Unable to update the MAC address of a bound port", kind="PortBound")
            if _mac_taken(s, port.network_id, mac):
                raise Conflict(f"The mac address {mac} is in use.", kind="MacAddressInUse")
            _follow_mac(s, port, mac)
            port.mac_address = mac
    if "port_security_enabled" in body:
        port.port_security_enabled = validate.boolean(body, "port_security_enabled")
    if "qos_policy_id" in body:
        port.qos_policy_id = qos_attach.checked_policy(s, ctx, body["qos_policy_id"])
    if "allowed_address_pairs" in body:
        port.allowed_address_pairs = _pairs(body["allowed_address_pairs"], port.mac_address)
    if port.allowed_address_pairs and not port.port_security_enabled:
        raise Conflict(
            "Port Security must be enabled in order to have allowed address pairs on a port.",
            kind="AddressPairAndPortSecurityRequired",
        )
    if "extra_dhcp_opts" in body:
        merged = {(o["opt_name"], o["ip_version"]): o for o in port.extra_dhcp_opts or []}
        for opt in _dhcp_opts(body["extra_dhcp_opts"]):
            opt_key = (opt["opt_name"], opt["ip_version"])
            if opt["opt_value"] is None:
                merged.pop(opt_key, None)
            else:
                merged[opt_key] = opt
        port.extra_dhcp_opts = list(merged.values())
    old_groups = port.security_group_ids
    port_groups.update(s, port, body)
    _binding(port, body)
    override = _override_mac(port)
    if override is not None and override != port.mac_address:
        if _mac_taken(s, port.network_id, override):
            raise Conflict(f"The mac address {override} is in use.", kind="MacAddressInUse")
        _follow_mac(s, port, override)
        port.mac_address = override
    if "fixed_ips" in body:
        _reallocate(s, port, body["fixed_ips"])
    touch(port)
    s.flush()
    s.refresh(port, ["fixed_ips"])
    if port.host != old_host or "fixed_ips" in body:
        segment_hosts.bound(s, port)
        s.flush()
    events.port(
        uow, port, old_host=old_host if old_host != port.host else None, old_groups=old_groups
    )
    if old_host != port.host:
        l3_ports.port_moved(uow, port, old_host)
        trunk_subports.parent_moved(uow, port)
    return port


def _reallocate(s: Session, port: Port, requested: Any) -> None:
    current = {(a.subnet_id, a.ip_address): a for a in port.fixed_ips}
    keep: list[tuple[str, str]] = []
    fresh: list[Any] = []
    for item in validate.list_of(requested, "fixed_ips"):
        if isinstance(item, dict) and item.get("ip_address") is not None:
            addr = validate.ip(item["ip_address"])
            match = next(
                (k for k in current if k[1] == addr and item.get("subnet_id") in (None, k[0])), None
            )
            if match:
                keep.append(match)
                continue
        if isinstance(item, dict) and set(item) == {"subnet_id"}:
            match = next((k for k in current if k[0] == item["subnet_id"] and k not in keep), None)
            if match:
                keep.append(match)
                continue
        fresh.append(item)
    for key, alloc in current.items():
        if key not in keep:
            port.fixed_ips.remove(alloc)
    s.flush()
    for subnet_id, address in _allocate(
        s,
        port.network_id,
        _subnets(s, port.network_id),
        port.mac_address,
        fresh,
        port.device_owner,
        default=False,
    ):
        port.fixed_ips.append(
            IPAllocation(
                port_id=port.id, subnet_id=subnet_id, network_id=port.network_id, ip_address=address
            )
        )


def remove(uow: UnitOfWork, ctx: RequestContext, port_id: str, if_match: int | None) -> None:
    s = uow.session
    port = load(s, ctx, port_id, lock=True)
    if not allowed(ctx, "network:delete_port", _target(s, port)):
        raise not_found("port", port_id)
    check_revision(port.revision_number, if_match)
    l3_ports.check_deletable(s, port)
    trunk_subports.check_port_deletable(s, port.id)
    l3_ports.port_deleted(uow, port)
    events.port(uow, port, "delete")
    taglib.delete_tags(s, port.id)
    s.delete(port)


def set_status(uow: UnitOfWork, port_ids: list[str], status: str) -> list[str]:
    """Agents report wiring: set ``status`` where it differs; the ids changed."""
    changed = []
    s = uow.session
    for port in s.scalars(select(Port).where(Port.id.in_(port_ids)).with_for_update()):
        if port.status != status:
            port.status = status
            touch(port)
            changed.append(port.id)
            events.port_status(uow, port)
    return changed


def create_owned(
    uow: UnitOfWork,
    settings: Settings,
    net: Network,
    *,
    project_id: str,
    device_owner: str,
    device_id: str,
    fixed_ips: list[dict[str, str]] | None = None,
    emit: bool = True,
) -> Port:
    """A port the service layer makes for itself (router interfaces, gateways,
    SNAT and floating IP ports): no port security, no groups, no quota.
    ``fixed_ips`` as in a port request; None means one address per IP family.
    ``emit=False`` leaves its event to the caller (a router records the
    port as its own first)."""
    s = uow.session
    mac = _new_mac(settings)
    port = Port(
        project_id=project_id,
        network_id=net.id,
        mac_address=mac,
        status="DOWN",
        device_id=device_id,
        device_owner=device_owner,
        port_security_enabled=False,
        allowed_address_pairs=[],
        extra_dhcp_opts=[],
    )
    fixed = _allocate(
        s, net.id, _subnets(s, net.id), mac, fixed_ips, device_owner, default=fixed_ips is None
    )
    port.fixed_ips = [
        IPAllocation(subnet_id=subnet_id, network_id=net.id, ip_address=address)
        for subnet_id, address in fixed
    ]
    s.add(port)
    s.flush()
    if emit:
        events.port(uow, port, tags=[])
    return port


def delete_owned(uow: UnitOfWork, port: Port) -> None:
    """Remove a port the service layer made (the API path refuses them)."""
    events.port(uow, port, "delete")
    taglib.delete_tags(uow.session, port.id)
    uow.session.delete(port)


def bind_host(uow: UnitOfWork, port: Port, host: str) -> bool:
    """Bind ``port`` to ``host`` ("" unbinds); emit and report a change."""
    if port.host == host:
        return False
    old_host = port.host
    _binding(port, {"binding:host_id": host})
    segment_hosts.bound(uow.session, port)
    touch(port)
    uow.session.flush()
    events.port(uow, port, old_host=old_host or None)
    trunk_subports.parent_moved(uow, port)
    return True
