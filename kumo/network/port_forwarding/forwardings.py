"""Port forwarding rows: create, update, delete, and their checks."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.l3_models import FloatingIP
from kumo.db.port_forwarding_models import PortForwarding
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound, shown
from kumo.network import validate
from kumo.network.core.networks import touch
from kumo.network.l3 import floatingips
from kumo.network.ports import ports
from kumo.policy import authorize

PROTOCOLS = ("tcp", "udp")
FIELDS = ("internal_port_id", "internal_ip_address", "internal_port", "external_port",
          "internal_port_range", "external_port_range", "protocol", "description")  # fmt: skip
REQUIRED = ("internal_port_id", "internal_ip_address", "protocol")
SIDES = ("internal", "external")


def not_found(pf_id: str) -> NotFound:
    return NotFound(f"Port Forwarding {pf_id} could not be found.", kind="PortForwardingNotFound")


def bad(message: str) -> BadRequest:
    return BadRequest(f"Bad port_forwarding request: {message}")


def _single(first: int | None, last: int | None) -> int | None:
    """A side's port number: the port of a one-port side, None for a range."""
    return first if first == last else None


def _range(first: int | None, last: int | None) -> str | None:
    return None if first is None else f"{first}:{last}"


def view(row: PortForwarding) -> dict[str, Any]:
    """A forwarding as the API shows it: ``internal_port``/``external_port``
    for a side of one port (null for a range), ``*_port_range`` always
    (``first:last``)."""
    return {
        "id": row.id,
        "protocol": row.protocol,
        "internal_ip_address": row.internal_ip_address,
        "internal_port": _single(row.internal_port, row.internal_port_end),
        "internal_port_range": _range(row.internal_port, row.internal_port_end),
        "internal_port_id": row.internal_port_id,
        "external_port": _single(row.external_port, row.external_port_end),
        "external_port_range": _range(row.external_port, row.external_port_end),
        "description": row.description,
    }


ATTRIBUTES = frozenset(view(PortForwarding(id="")))


def fip_entry(row: PortForwarding) -> dict[str, Any]:
    """A forwarding as its floating IP's ``port_forwardings`` lists it
    (expose-port-forwarding-in-fip, with the id and internal port of
    floating-ip-port-forwarding-detail): a side of one port by its number,
    a range by ``*_port_range`` instead."""
    out: dict[str, Any] = {
        "id": row.id,
        "protocol": row.protocol,
        "internal_ip_address": row.internal_ip_address,
        "internal_port_id": row.internal_port_id,
    }
    for side in SIDES:
        first, last = getattr(row, f"{side}_port"), getattr(row, f"{side}_port_end")
        if first == last:
            out[f"{side}_port"] = first
        else:
            out[f"{side}_port_range"] = _range(first, last)
    return out


def load(session: Session, ctx: RequestContext, fip: FloatingIP, pf_id: str) -> PortForwarding:
    row = session.get(PortForwarding, pf_id)
    if row is None or row.floatingip_id != fip.id:
        raise not_found(pf_id)
    return row


def _port_number(value: Any, field: str) -> int:
    if isinstance(value, bool):
        value = shown(value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"Invalid input for {field}. Reason: '{shown(value)}' is not a valid port number."
        ) from None
    if not 1 <= number <= 65535:
        raise InvalidInput(
            f"Invalid input for {field}. Reason: '{number}' is not a valid port number, "
            "which must be between 1 and 65535."
        )
    return number


def _port_range(value: Any, field: str) -> tuple[int, int]:
    """``first[:last]`` (a string, or a port number) as (first, last)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = _port_number(value, field)
        return number, number
    reason = f"'{shown(value)}' is not a valid port range: FIRST[:LAST], ports 1 to 65535"
    if not isinstance(value, str):
        raise InvalidInput(f"Invalid input for {field}. Reason: {reason}.")
    parts = value.split(":")
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise InvalidInput(f"Invalid input for {field}. Reason: {reason}.")
    first, last = (int(parts[0]), int(parts[-1]))
    if not (1 <= first <= 65535 and 1 <= last <= 65535):
        raise InvalidInput(f"Invalid input for {field}. Reason: {reason}.")
    if first > last:
        raise InvalidInput(
            f"Invalid input for {field}. Reason: the first port of '{value}' is greater than "
            "the last."
        )
    return first, last


def _apply_ports(row: PortForwarding, body: dict[str, Any]) -> None:
    """Each side's ports from its port number or its range (never both);
    an external range maps onto an internal range of its size, or onto one
    internal port."""
    for side in SIDES:
        single, ranged = f"{side}_port", f"{side}_port_range"
        if body.get(single) is not None and body.get(ranged) is not None:
            raise bad(
                f"{single} and {ranged} cannot be given together: give the port number or "
                "the range."
            )
        if body.get(single) is not None:
            first = last = _port_number(body[single], single)
        elif body.get(ranged) is not None:
            first, last = _port_range(body[ranged], ranged)
        elif single in body or ranged in body:
            raise InvalidInput(f"Invalid input for {single}. Reason: a port is required.")
        else:
            continue
        setattr(row, single, first)
        setattr(row, f"{single}_end", last)
    for side in SIDES:
        if getattr(row, f"{side}_port", None) is None:
            raise BadRequest(
                f"Failed to parse request. Required attribute '{side}_port' or "
                f"'{side}_port_range' not specified"
            )
    inside = row.internal_port_end - row.internal_port + 1
    outside = row.external_port_end - row.external_port + 1
    if inside != 1 and inside != outside:
        raise bad(
            f"The internal port range {_range(row.internal_port, row.internal_port_end)} "
            f"must be one port or as many ports as the external port range "
            f"{_range(row.external_port, row.external_port_end)}."
        )


def _apply(row: PortForwarding, body: dict[str, Any]) -> None:
    if "protocol" in body:
        if body["protocol"] not in PROTOCOLS:
            raise InvalidInput(
                f"Invalid input for protocol. Reason: '{shown(body['protocol'])}' is not in "
                f"{list(PROTOCOLS)}."
            )
        row.protocol = str(body["protocol"])
    _apply_ports(row, body)
    if "internal_ip_address" in body:
        row.internal_ip_address = validate.ip(body["internal_ip_address"], "internal_ip_address")
    if "internal_port_id" in body:
        row.internal_port_id = validate.uuid(body["internal_port_id"], "internal_port_id")
    if "description" in body:
        row.description = validate.string(body, "description")


def _check_inside(s: Session, ctx: RequestContext, fip: FloatingIP, row: PortForwarding) -> None:
    """The internal port: visible to the caller, without a floating IP of
    its own, holding the address, on a subnet the floating IP's router (or
    some router, for a floating IP without one yet) joins to its network."""
    port = ports.load(s, ctx, row.internal_port_id)
    bound = s.scalar(select(FloatingIP).where(FloatingIP.fixed_port_id == port.id).limit(1))
    if bound is not None:
        raise Conflict(
            f"Cannot create port forwarding to floating IP {bound.floating_ip_address} "
            f"({bound.id}) with port {port.id} using fixed IP {row.internal_ip_address}, as "
            "that port already has a binding floating IP.",
            kind="PortHasBindingFloatingIP",
        )
    alloc = next((a for a in port.fixed_ips if a.ip_address == row.internal_ip_address), None)
    if alloc is None:
        raise bad(
            "The internal IP does not correspond to an address on the internal port, which "
            f"has fixed_ips {[a.ip_address for a in port.fixed_ips]}"
        )
    if ipaddress.ip_address(alloc.ip_address).version != 4:
        raise bad(f"The internal IP {alloc.ip_address} is not an IPv4 address.")
    router_id = floatingips.router_for(s, fip.floating_network_id, alloc.subnet_id)
    if router_id is None:
        raise bad(
            f"External network {fip.floating_network_id} is not reachable from subnet "
            f"{alloc.subnet_id}. Cannot set Port forwarding for port {port.id} with Floating "
            f"IP {fip.id}"
        )
    if fip.router_id and fip.router_id != router_id:
        raise bad(
            f"The Floating IP {fip.id} had been set on router {fip.router_id}, the internal "
            f"Neutron port {port.id} can not reach it"
        )
    fip.router_id = router_id


def _check_collisions(s: Session, row: PortForwarding) -> None:
    """Neither the outside (floating IP, protocol, external ports) nor the
    inside (port, address, protocol, internal ports) overlaps another
    forwarding's."""
    pf = PortForwarding
    outside = select(pf.id).where(
        pf.floatingip_id == row.floatingip_id,
        pf.protocol == row.protocol,
        pf.external_port <= row.external_port_end,
        pf.external_port_end >= row.external_port,
        pf.id != row.id,
    )
    inside = select(pf.id).where(
        pf.internal_port_id == row.internal_port_id,
        pf.internal_ip_address == row.internal_ip_address,
        pf.protocol == row.protocol,
        pf.internal_port <= row.internal_port_end,
        pf.internal_port_end >= row.internal_port,
        pf.id != row.id,
    )
    if s.scalar(outside.limit(1)) is not None:
        raise bad(
            "A duplicate port forwarding entry with same attributes already exists, "
            f"conflicting values are {{'floatingip_id': '{row.floatingip_id}', "
            f"'external_port': {_ports_shown(row.external_port, row.external_port_end)}, "
            f"'protocol': '{row.protocol}'}}"
        )
    if s.scalar(inside.limit(1)) is not None:
        raise bad(
            "A duplicate port forwarding entry with same attributes already exists, "
            f"conflicting values are {{'internal_port_id': '{row.internal_port_id}', "
            f"'internal_ip_address': '{row.internal_ip_address}', "
            f"'internal_port': {_ports_shown(row.internal_port, row.internal_port_end)}, "
            f"'protocol': '{row.protocol}'}}"
        )


def _ports_shown(first: int, last: int) -> str:
    return str(first) if first == last else f"'{first}:{last}'"


def _floatingip(uow: UnitOfWork, ctx: RequestContext, fip_id: str, action: str) -> FloatingIP:
    fip = floatingips.load(uow.session, ctx, fip_id, lock=True)
    authorize(ctx, f"network:{action}_floatingip_port_forwarding", {"project_id": fip.project_id})
    return fip


def _changed(uow: UnitOfWork, fip: FloatingIP, old_router_id: str | None = None) -> None:
    """The floating IP changed with its forwardings (a new revision, emitted,
    to its old router too when it left it)."""
    from kumo.network import events

    touch(fip)
    uow.session.flush()
    events.floatingip(uow, fip, old_router_id=old_router_id)


def create(
    uow: UnitOfWork, ctx: RequestContext, fip_id: str, body: dict[str, Any]
) -> PortForwarding:
    validate.known(body, set(FIELDS))
    fip = _floatingip(uow, ctx, fip_id, "create")
    for key in REQUIRED:
        if key not in body:
            raise BadRequest(f"Failed to parse request. Required attribute '{key}' not specified")
    if fip.fixed_port_id:
        raise Conflict(
            f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port "
            f"{body['internal_port_id']} using fixed IP {body['internal_ip_address']}, as that "
            f"fixed IP already has a floating IP on external network "
            f"{fip.floating_network_id}.",
            kind="FloatingIPPortAlreadyAssociated",
        )
    row = PortForwarding(floatingip_id=fip.id, description="")
    _apply(row, body)
    _check_inside(uow.session, ctx, fip, row)
    _check_collisions(uow.session, row)
    uow.session.add(row)
    _changed(uow, fip)
    return row


def update(
    uow: UnitOfWork, ctx: RequestContext, fip_id: str, pf_id: str, body: dict[str, Any]
) -> PortForwarding:
    if "id" in body:
        raise InvalidInput("Cannot update read-only attribute id")
    validate.known(body, set(FIELDS))
    fip = _floatingip(uow, ctx, fip_id, "update")
    row = load(uow.session, ctx, fip, pf_id)
    _apply(row, body)
    _check_inside(uow.session, ctx, fip, row)
    _check_collisions(uow.session, row)
    touch(row)
    _changed(uow, fip)
    return row


def remove(uow: UnitOfWork, ctx: RequestContext, fip_id: str, pf_id: str) -> None:
    fip = _floatingip(uow, ctx, fip_id, "delete")
    row = load(uow.session, ctx, fip, pf_id)
    uow.session.delete(row)
    uow.session.flush()
    old_router_id = fip.router_id
    if not _has_forwardings(uow.session, fip.id) and not fip.fixed_port_id:
        fip.router_id = None
    _changed(uow, fip, old_router_id)


def _has_forwardings(session: Session, fip_id: str) -> bool:
    q = select(PortForwarding.id).where(PortForwarding.floatingip_id == fip_id).limit(1)
    return session.scalar(q) is not None


def _in_use(fip: FloatingIP) -> Conflict:
    return Conflict(
        f"Floating IP {fip.id} in use by Port Forwarding resources.",
        kind="FipInUseByPortForwarding",
    )


def check_deletion(session: Session, fip: FloatingIP) -> None:
    """Deleting a floating IP that forwards ports: refused (409
    ``FipInUseByPortForwarding``); its forwardings go first."""
    if _has_forwardings(session, fip.id):
        raise _in_use(fip)


def check_association(session: Session, fip: FloatingIP, port_id: str) -> None:
    """Associating a floating IP with a port: refused for a floating IP that
    forwards ports (409 ``FipInUseByPortForwarding``) and for a port that
    a forwarding targets (400 ``PortHasPortForwarding``)."""
    if _has_forwardings(session, fip.id):
        raise _in_use(fip)
    q = select(PortForwarding.id).where(PortForwarding.internal_port_id == port_id).limit(1)
    if session.scalar(q) is not None:
        raise BadRequest(
            f"Cannot associate floating IP to port {port_id} because it already has a Port "
            "Forwarding binding.",
            kind="PortHasPortForwarding",
        )
