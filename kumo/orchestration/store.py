"""The stack, resource and event rows: small transactions the engine and the service use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.db.orchestration_models import Stack, StackEvent, StackResource
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.orchestration.errors import StackNotFound

if TYPE_CHECKING:
    from kumo.orchestration.template import ResourceDef


def find(s: Session, project_id: str | None, ident: str, *, deleted: bool = False) -> Stack:
    """A stack of ``project_id`` (any project when None) by id, or by name among live stacks."""
    row = s.get(Stack, ident)
    if row is None or (project_id is not None and row.project_id != project_id):
        q = select(Stack).where(Stack.live_name == ident)
        if project_id is not None:
            q = q.where(Stack.project_id == project_id)
        row = s.scalars(q.limit(1)).first()
    if row is None or (row.deleted_at is not None and not deleted):
        raise StackNotFound(ident)
    return row


def event(
    s: Session,
    stack_id: str,
    resource_name: str,
    action: str,
    status: str,
    reason: str = "",
    physical_id: str | None = "",
    resource_type: str = "",
    at: dt.datetime | None = None,
) -> None:
    s.add(
        StackEvent(
            stack_id=stack_id,
            resource_name=resource_name,
            action=action,
            status=status,
            reason=reason[:4000],
            physical_id=physical_id or "",
            resource_type=resource_type,
            created_at=at or utcnow(),
        )
    )


def stack_changed(uow: UnitOfWork, row: Stack) -> None:
    """The watch feed's ``stack`` event: a stack made, moved to another
    state or deleted. To no topic (no host acts on stacks): whole-feed
    readers (the dashboard's event stream) tell the project's open pages."""
    body = {"id": row.id, "project_id": row.project_id, "status": f"{row.action}_{row.status}"}
    uow.emit("stack", "delete" if row.deleted_at is not None else "upsert", row.id, (), body)


def set_stack(
    db: Database, stack_id: str, *states: tuple[str, str, str], keep_lease: bool = False
) -> None:
    """Move the stack through ``states`` ((action, status, reason)...) in one
    transaction, an event for each (a failure and the rollback it starts are
    seen together)."""

    def work(uow: UnitOfWork) -> None:
        row = uow.session.get(Stack, stack_id)
        if row is None:
            return
        for action, status, reason in states:
            if action != row.action:
                row.cancel_requested = False  # a cancel ends with the action it cancelled
            row.action, row.status, row.status_reason = action, status, reason[:4000]
            row.updated_at = utcnow() if action != "CREATE" else row.updated_at
            event(uow.session, row.id, row.name, action, status, reason, row.id,
                  "OS::Heat::Stack")  # fmt: skip
        if row.status != "IN_PROGRESS":
            row.engine_id, row.lease_until, row.cancel_requested = None, None, False
        stack_changed(uow, row)

    run_in_transaction(db, work)


def take_lease(db: Database, stack_id: str, engine_id: str, seconds: float) -> None:
    def work(uow: UnitOfWork) -> None:
        row = uow.session.get(Stack, stack_id)
        if row is not None:
            row.engine_id = engine_id
            row.lease_until = utcnow() + dt.timedelta(seconds=seconds)

    run_in_transaction(db, work)


def renew_leases(db: Database, engine_id: str, seconds: float) -> None:
    until = utcnow() + dt.timedelta(seconds=seconds)
    run_in_transaction(
        db,
        lambda uow: uow.session.execute(
            update(Stack)
            .where(Stack.engine_id == engine_id, Stack.status == "IN_PROGRESS")
            .values(lease_until=until)
        ),
    )


def resources(s: Session, stack_id: str, *, current_only: bool = True) -> list[StackResource]:
    q = select(StackResource).where(StackResource.stack_id == stack_id)
    if current_only:
        q = q.where(StackResource.current.is_(True))
    return list(s.scalars(q.order_by(StackResource.created_at, StackResource.name)))


def not_reached(
    stack: Stack, defs: Mapping[str, ResourceDef], have: set[str], *, only: str | None = None
) -> list[StackResource]:
    """The template's resources a stack being created has not reached yet, as unsaved rows
    in INIT COMPLETE (how Heat shows them), so a client asking early finds them."""
    if stack.action != "CREATE":
        return []
    return [
        StackResource(id="", stack_id=stack.id, name=n, type=d.type, current=True,
                      physical_id=None, action="INIT", status="COMPLETE", status_reason="",
                      properties={}, data={}, created_at=stack.created_at, updated_at=None)
        for n, d in defs.items()
        if n not in have and (only is None or n == only)
    ]  # fmt: skip


def save_resource(db: Database, res_id: str, **fields: Any) -> None:
    def work(uow: UnitOfWork) -> None:
        row = uow.session.get(StackResource, res_id)
        if row is None:
            return
        for k, v in fields.items():
            setattr(row, k, v)
        row.updated_at = utcnow()
        if "status" in fields:
            event(uow.session, row.stack_id, row.name, row.action, row.status,
                  row.status_reason, row.physical_id, row.type)  # fmt: skip

    run_in_transaction(db, work)
