"""Trunk rows: create, update, delete, the view and the trunk's events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.network_models import Port
from kumo.db.trunk_models import SubPort, Trunk
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InvalidInput, NotFound
from kumo.network import policy, validate
from kumo.network import tags as taglib
from kumo.network.core.networks import touch
from kumo.network.revision import check_revision
from kumo.network.trunks import subports
from kumo.policy import allowed, authorize

CREATE = {"port_id", "name", "description", "admin_state_up", "sub_ports", "project_id",
          "tenant_id"}  # fmt: skip
UPDATE = {"name", "description", "admin_state_up"}


def not_found(trunk_id: str) -> NotFound:
    return NotFound(f"Trunk {trunk_id} could not be found.", kind="TrunkNotFound")


def status(parent: Port | None, members: list[Port]) -> str:
    """``DOWN`` until the parent is bound; ``ACTIVE`` once the parent's host
    reports it and every subport wired, ``BUILD`` meanwhile."""
    if parent is None or not parent.host:
        return "DOWN"
    if parent.status == "ACTIVE" and all(p.status == "ACTIVE" for p in members):
        return "ACTIVE"
    return "BUILD"


def view(row: Trunk, subs: list[SubPort], tags: list[str], state: str = "DOWN") -> dict[str, Any]:
    from kumo.network.views import ts

    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "port_id": row.port_id,
        "sub_ports": [subports.view(s) for s in subs],
        "status": state,
        "admin_state_up": row.admin_state_up,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "tags": tags,
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "revision_number": row.revision_number,
    }


ATTRIBUTES = frozenset(view(Trunk(id="", project_id="", name="", port_id=""), [], []))


def render(session: Session, rows: list[Trunk]) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    subs = subports.of_trunks(session, ids)
    tags = taglib.tags_for(session, ids)
    port_ids = {r.port_id for r in rows} | {s.port_id for group in subs.values() for s in group}
    found = {p.id: p for p in session.scalars(select(Port).where(Port.id.in_(port_ids)))}
    out = []
    for r in rows:
        members = [found[s.port_id] for s in subs[r.id] if s.port_id in found]
        state = status(found.get(r.port_id), members)
        out.append(view(r, subs[r.id], tags.get(r.id, []), state))
    return out


def visible(ctx: RequestContext, row: Trunk) -> bool:
    return allowed(ctx, "network:get_trunk", {"project_id": row.project_id})


def load(session: Session, ctx: RequestContext, trunk_id: str, *, lock: bool = False) -> Trunk:
    q = select(Trunk).where(Trunk.id == trunk_id)
    if lock:
        q = q.with_for_update()
    row = session.scalar(q)
    if row is None or not visible(ctx, row):
        raise not_found(trunk_id)
    return row


def emit(uow: UnitOfWork, row: Trunk, op: str = "upsert", old_host: str = "") -> None:
    """A trunk event, to the trunk's topic and its parent's host (now and
    before): the agents of the hosts that carry it see it."""
    (body,) = render(uow.session, [row])
    host = uow.session.scalar(select(Port.host).where(Port.id == row.port_id)) or ""
    topics = [f"trunk:{row.id}"]
    for h in (host, old_host):
        if h and f"host:{h}" not in topics:
            topics.append(f"host:{h}")
    uow.emit("trunk", op, row.id, tuple(topics), body)


def _managed(row: Trunk) -> None:
    if not row.admin_state_up:
        raise Conflict(f"Trunk {row.id} is currently disabled.", kind="TrunkDisabled")


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> Trunk:
    validate.known(body, CREATE)
    if "port_id" not in body:
        raise InvalidInput("Failed to parse request. Required attribute 'port_id' not specified")
    owner = policy.owner_for_create(ctx, body)
    authorize(ctx, "network:create_trunk", {"project_id": owner})
    wanted = subports.parse(body.get("sub_ports") or [])
    s = uow.session
    parent_id = validate.uuid(body["port_id"], "port_id")
    parent = subports.load_port(s, ctx, parent_id, owner)
    subports.check_free(s, parent.id)
    row = Trunk(
        project_id=owner,
        port_id=parent.id,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        admin_state_up=validate.boolean(body, "admin_state_up")
        if "admin_state_up" in body
        else True,
    )
    s.add(row)
    s.flush()
    subports.add(uow, ctx, row, parent, wanted)
    subports.touch_parent(uow, row)
    emit(uow, row)
    return row


def update(
    uow: UnitOfWork, ctx: RequestContext, trunk_id: str, body: dict[str, Any], if_match: int | None
) -> Trunk:
    for key in ("id", "port_id", "project_id", "tenant_id", "sub_ports", "status"):
        if key in body:
            raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    row = load(uow.session, ctx, trunk_id, lock=True)
    authorize(ctx, "network:update_trunk", {"project_id": row.project_id})
    check_revision(row.revision_number, if_match)
    for key in ("name", "description"):
        if key in body:
            setattr(row, key, validate.string(body, key))
    if "admin_state_up" in body:
        row.admin_state_up = validate.boolean(body, "admin_state_up")
    touch(row)
    uow.session.flush()
    emit(uow, row)
    return row


def change_subports(
    uow: UnitOfWork, ctx: RequestContext, trunk_id: str, body: Any, action: str
) -> Trunk:
    """``add_subports`` or ``remove_subports`` with ``{"sub_ports": [...]}``."""
    if not isinstance(body, dict) or "sub_ports" not in body:
        raise InvalidInput("Failed to parse request. Required attribute 'sub_ports' not specified")
    wanted = subports.parse(body["sub_ports"], segmentation=action == "add")
    s = uow.session
    row = load(s, ctx, trunk_id, lock=True)
    authorize(ctx, f"network:{action}_subports", {"project_id": row.project_id})
    _managed(row)
    if action == "add":
        parent = s.get(Port, row.port_id)
        assert parent is not None  # the foreign key keeps it
        subports.add(uow, ctx, row, parent, wanted)
    else:
        subports.remove(uow, ctx, row, wanted)
    touch(row)
    s.flush()
    subports.touch_parent(uow, row)
    emit(uow, row)
    return row


def remove(uow: UnitOfWork, ctx: RequestContext, trunk_id: str, if_match: int | None) -> None:
    """Delete a trunk (its subports are released: unbound, no longer owned);
    a disabled trunk is not deleted (409 ``TrunkDisabled``)."""
    s = uow.session
    row = load(s, ctx, trunk_id, lock=True)
    authorize(ctx, "network:delete_trunk", {"project_id": row.project_id})
    check_revision(row.revision_number, if_match)
    _managed(row)
    emit(uow, row, "delete")
    for sub in subports.of_trunks(s, [row.id])[row.id]:
        subports.release(uow, sub)
    taglib.delete_tags(s, row.id)
    s.delete(row)
    s.flush()
    subports.touch_parent(uow, row)
