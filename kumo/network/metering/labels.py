"""Metering label rows: create, show, delete (no update, as in Neutron)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.metering_models import MeteringLabel
from kumo.db.uow import UnitOfWork
from kumo.errors import NotFound
from kumo.network import policy, validate
from kumo.policy import allowed, authorize

CREATE = {"name", "description", "shared", "project_id", "tenant_id"}


def not_found(label_id: str) -> NotFound:
    return NotFound(f"Metering label {label_id} does not exist", kind="MeteringLabelNotFound")


def view(row: MeteringLabel) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "shared": bool(row.shared),
    }


ATTRIBUTES = frozenset(view(MeteringLabel(id="", project_id="", name="", shared=False)))


def target(row: MeteringLabel) -> dict[str, Any]:
    return {"project_id": row.project_id, "shared": bool(row.shared)}


def load(session: Session, ctx: RequestContext, label_id: str) -> MeteringLabel:
    """A label the caller may see (404 otherwise, as for a missing one)."""
    row = session.get(MeteringLabel, label_id)
    if row is None or not allowed(ctx, "network:get_metering_label", target(row)):
        raise not_found(label_id)
    return row


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> MeteringLabel:
    validate.known(body, CREATE)
    owner = policy.owner_for_create(ctx, body)
    shared = validate.boolean(body, "shared") if body.get("shared") is not None else False
    authorize(ctx, "network:create_metering_label", {"project_id": owner, "shared": shared})
    row = MeteringLabel(
        project_id=owner,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        shared=shared,
    )
    uow.session.add(row)
    uow.session.flush()
    return row


def remove(uow: UnitOfWork, ctx: RequestContext, label_id: str) -> MeteringLabel:
    s = uow.session
    row = load(s, ctx, label_id)
    authorize(ctx, "network:delete_metering_label", target(row))
    from kumo.db.metering_models import MeteringCount, MeteringLabelRule

    for model in (MeteringLabelRule, MeteringCount):
        for child in s.scalars(select(model).where(model.label_id == row.id)):
            s.delete(child)
    s.delete(row)
    s.flush()
    return row
