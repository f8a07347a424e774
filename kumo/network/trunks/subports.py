"""Subports: request checks, rows, binding to the parent's host, and the
``kumo_trunk`` attribute of their port events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.network_models import Network, Port
from kumo.db.trunk_models import SubPort, Trunk
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InUse, InvalidInput, NotFound, not_found, shown
from kumo.network import validate
from kumo.policy import allowed

SEGMENTATION_TYPES = {"vlan": (1, 4094)}
"""Segmentation types and their id ranges (``inherit`` is not offered)."""
OWNER = "trunk:subport"
WATCH_KEY = "kumo_trunk"


def view(row: SubPort) -> dict[str, Any]:
    return {
        "port_id": row.port_id,
        "segmentation_type": row.segmentation_type,
        "segmentation_id": row.segmentation_id,
    }


def of_trunks(session: Session, trunk_ids: list[str]) -> dict[str, list[SubPort]]:
    out: dict[str, list[SubPort]] = {t: [] for t in trunk_ids}
    if trunk_ids:
        q = select(SubPort).where(SubPort.trunk_id.in_(trunk_ids))
        for row in session.scalars(q.order_by(SubPort.segmentation_id, SubPort.port_id)):
            out[row.trunk_id].append(row)
    return out


def parse(raw: Any, *, segmentation: bool = True) -> list[dict[str, Any]]:
    """A ``sub_ports`` list as Neutron's API layer screens it: a list of
    dicts, each with a UUID ``port_id`` (once per request) and, when
    ``segmentation``, both a known ``segmentation_type`` and an id in its
    range, each (type, id) once per request."""
    if not isinstance(raw, list):
        raise InvalidInput(f"Invalid data format for subports: '{shown(raw)}' is not a list")
    seen_ports: set[str] = set()
    seen_ids: set[tuple[str, int]] = set()
    out: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidInput(f"Invalid data format for subport: '{shown(item)}' is not a dict")
        if "port_id" not in item:
            raise InvalidInput("A valid port UUID must be specified")
        port_id = item["port_id"]
        if not isinstance(port_id, str) or not validate.UUID_RE.match(port_id):
            raise InvalidInput(f"Invalid UUID for subport: '{shown(port_id)}'")
        if port_id in seen_ports:
            raise InvalidInput(f"Non unique UUID for subport: '{port_id}'")
        seen_ports.add(port_id)
        if not segmentation:
            out.append({"port_id": port_id})
            continue
        if "segmentation_type" not in item or "segmentation_id" not in item:
            raise InvalidInput(
                f"Invalid subport details '{shown(item)}': missing segmentation information. "
                "Must specify both segmentation_id and segmentation_type"
            )
        kind = item["segmentation_type"]
        if kind not in SEGMENTATION_TYPES:
            raise InvalidInput(f"Unknown segmentation_type '{shown(kind)}'")
        number = _integer(item["segmentation_id"])
        low, high = SEGMENTATION_TYPES[kind]
        if not low <= number <= high:
            raise InvalidInput(f"Segmentation ID '{number}' is not in range")
        if (kind, number) in seen_ids:
            raise InvalidInput(f"Segmentation ID '{number}' for '{shown(item)}' is not unique")
        seen_ids.add((kind, number))
        out.append({"port_id": port_id, "segmentation_type": kind, "segmentation_id": number})
    return out


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        value = shown(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"Invalid subport details: segmentation_id '{shown(value)}' is not an integer"
        ) from None


def load_port(session: Session, ctx: RequestContext, port_id: str, project_id: str) -> Port:
    """A port for a trunk of ``project_id``: one the caller sees and may use
    for that project (its own project's, or any for admins); 404 otherwise."""
    from kumo.network.ports import ports

    port = ports.load(session, ctx, port_id, lock=True)
    if port.project_id != project_id and not allowed(
        ctx, "network:create_trunk", {"project_id": port.project_id}
    ):
        raise not_found("port", port_id)
    return port


def check_free(session: Session, port_id: str) -> None:
    """A port already in a trunk (as subport or parent): 409."""
    if session.get(SubPort, port_id) is not None:
        raise InUse(f"Port {port_id} is in use by another trunk.", kind="TrunkPortInUse")
    if session.scalar(select(Trunk.id).where(Trunk.port_id == port_id)) is not None:
        raise InUse(
            f"Port {port_id} is currently in use and is not eligible for use as a parent port.",
            kind="ParentPortInUse",
        )


def mtu_of(session: Session, port: Port) -> int | None:
    return session.scalar(select(Network.mtu).where(Network.id == port.network_id))


def add(
    uow: UnitOfWork, ctx: RequestContext, trunk: Trunk, parent: Port, wanted: list[dict[str, Any]]
) -> list[SubPort]:
    """Add checked subports to ``trunk``; bind them where the parent is bound."""
    s = uow.session
    parent_mtu = mtu_of(s, parent)
    taken = {(r.segmentation_type, r.segmentation_id) for r in of_trunks(s, [trunk.id])[trunk.id]}
    rows = []
    for item in wanted:
        if item["port_id"] == parent.id:
            raise InUse(
                f"Port {parent.id} is currently in use and is not eligible for use as a "
                "parent port.",
                kind="ParentPortInUse",
            )
        port = load_port(s, ctx, item["port_id"], trunk.project_id)
        check_free(s, port.id)
        if port.device_id:
            raise InUse(
                f"Unable to complete operation on port {port.id} for network "
                f"{port.network_id}. Port already has an attached device {port.device_id}.",
                kind="PortInUse",
            )
        mtu = mtu_of(s, port)
        if parent_mtu and mtu and mtu > parent_mtu:
            raise Conflict(
                f"MTU {mtu} of subport {port.id} cannot be greater than MTU {parent_mtu} of "
                f"trunk {trunk.id}.",
                kind="SubPortMtuGreaterThanTrunkPortMtu",
            )
        key = (item["segmentation_type"], item["segmentation_id"])
        if key in taken:
            raise InUse(
                f"segmentation_type {key[0]} and segmentation_id {key[1]} already in use on "
                f"trunk {trunk.id}.",
                kind="DuplicateSubPort",
            )
        taken.add(key)
        row = SubPort(
            port_id=port.id,
            trunk_id=trunk.id,
            segmentation_type=key[0],
            segmentation_id=key[1],
        )
        s.add(row)
        rows.append(row)
        port.device_owner = OWNER
        port.device_id = trunk.id
        _bind(uow, port, parent.host)
    s.flush()
    return rows


def remove(
    uow: UnitOfWork, ctx: RequestContext, trunk: Trunk, wanted: list[dict[str, Any]]
) -> None:
    """Take subports off ``trunk`` (404 ``SubPortNotFound`` for one not on it);
    they are unbound and no longer owned by the trunk."""
    s = uow.session
    rows = []
    for item in wanted:
        row = s.get(SubPort, item["port_id"])
        if row is None or row.trunk_id != trunk.id:
            raise NotFound(
                f"SubPort on trunk {trunk.id} with parent port {item['port_id']} could not be "
                "found.",
                kind="SubPortNotFound",
            )
        rows.append(row)
    for row in rows:
        release(uow, row)


def release(uow: UnitOfWork, row: SubPort) -> None:
    s = uow.session
    port = s.get(Port, row.port_id)
    s.delete(row)
    s.flush()
    if port is not None:
        if port.device_owner == OWNER:
            port.device_owner = ""
        if port.device_id == row.trunk_id:
            port.device_id = ""
        _bind(uow, port, "")


def _bind(uow: UnitOfWork, port: Port, host: str) -> None:
    from kumo.network import events
    from kumo.network.core.networks import touch
    from kumo.network.ports import ports

    old_host = port.host
    ports.apply_binding(port, host)
    touch(port)
    uow.session.flush()
    events.port(uow, port, old_host=old_host if old_host != port.host else None)


def parent_moved(uow: UnitOfWork, parent: Port) -> None:
    """The parent port's binding changed: its subports follow it."""
    trunk_id = uow.session.scalar(select(Trunk.id).where(Trunk.port_id == parent.id))
    if trunk_id is None:
        return
    for row in of_trunks(uow.session, [trunk_id])[trunk_id]:
        port = uow.session.get(Port, row.port_id)
        if port is not None and port.host != parent.host:
            _bind(uow, port, parent.host)


def check_port_deletable(session: Session, port_id: str) -> None:
    """A port in a trunk is not deleted: 409."""
    row = session.get(SubPort, port_id)
    if row is not None:
        raise InUse(
            f"Port {port_id} is currently a subport for trunk {row.trunk_id}.",
            kind="PortInUseAsSubPort",
        )
    trunk_id = session.scalar(select(Trunk.id).where(Trunk.port_id == port_id))
    if trunk_id is not None:
        raise InUse(
            f"Port {port_id} is currently a parent port for trunk {trunk_id}.",
            kind="PortInUseAsTrunkParent",
        )


def with_trunks(session: Session, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Port bodies as the watch feed carries them: a subport's with
    ``kumo_trunk`` (its trunk, parent port and VLAN id)."""
    found = trunks_of(session, bodies)
    if not found:
        return bodies
    return [{**b, WATCH_KEY: found[b["id"]]} if b["id"] in found else b for b in bodies]


def trunks_of(session: Session, bodies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Port id → its ``kumo_trunk``, for the subports among ``bodies``."""
    candidates = [b["id"] for b in bodies if b.get("device_owner") == OWNER]
    if not candidates:
        return {}
    q = (
        select(SubPort.port_id, SubPort.trunk_id, SubPort.segmentation_id, Trunk.port_id)
        .join(Trunk, Trunk.id == SubPort.trunk_id)
        .where(SubPort.port_id.in_(candidates))
    )
    return {
        port_id: {"trunk_id": trunk_id, "parent_port_id": parent, "segmentation_id": vid}
        for port_id, trunk_id, vid, parent in session.execute(q)
    }


def details_for(session: Session, port_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``trunk_details`` of the trunk parents among ``port_ids``: the trunk's
    id and its subports with their MAC addresses."""
    parents = dict(
        session.execute(select(Trunk.port_id, Trunk.id).where(Trunk.port_id.in_(port_ids))).all()
    )
    if not parents:
        return {}
    q = (
        select(SubPort, Port.mac_address)
        .join(Port, Port.id == SubPort.port_id)
        .where(SubPort.trunk_id.in_(list(parents.values())))
        .order_by(SubPort.segmentation_id, SubPort.port_id)
    )
    subs: dict[str, list[dict[str, Any]]] = {t: [] for t in parents.values()}
    for row, mac in session.execute(q).all():
        subs[row.trunk_id].append({**view(row), "mac_address": mac})
    return {p: {"trunk_id": t, "sub_ports": subs[t]} for p, t in parents.items()}


def touch_parent(uow: UnitOfWork, trunk: Trunk) -> None:
    """The parent's ``trunk_details`` changed: a new revision, emitted."""
    from kumo.network import events
    from kumo.network.core.networks import touch

    parent = uow.session.get(Port, trunk.port_id)
    if parent is not None:
        touch(parent)
        uow.session.flush()
        events.port(uow, parent)
