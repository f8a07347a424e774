"""``os-instance-actions``: every request that acted on a server, by its
request id (``x-openstack-request-id``/``x-compute-request-id``).

Recorded in the transaction of the change itself; kept after the server is
deleted (listed for a deleted server from 2.21, as Nova does). kumo does
not split an action into compute-manager steps, so ``events`` is empty.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import servers
from kumo.compute.common import ts
from kumo.compute.microversion import Version
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import InstanceAction, Server
from kumo.db.uow import UnitOfWork
from kumo.errors import NotFound
from kumo.policy import allowed
from kumo.telemetry import request_id

NAMES = {
    "os-start": "start", "os-stop": "stop", "forceDelete": "delete",
    "confirmResize": "confirmResize", "revertResize": "revertResize",
}  # fmt: skip
"""Nova's action name where it differs from the request body's key."""
RECORDED = {
    "os-start", "os-stop", "reboot", "pause", "unpause", "suspend", "resume", "lock", "unlock",
    "rebuild", "resize", "confirmResize", "revertResize", "forceDelete", "migrate",
    "os-migrateLive", "createImage", "createBackup", "changePassword", "trigger_crash_dump",
    "shelve", "unshelve", "shelveOffload", "rescue", "unrescue",
}  # fmt: skip


def record(uow: UnitOfWork, ctx: RequestContext, server: Server, action: str) -> None:
    now = utcnow()
    uow.session.add(
        InstanceAction(
            server_id=server.id,
            request_id=request_id.current() or "",
            action=NAMES.get(action, action),
            project_id=server.project_id,
            user_id=ctx.user_id or "",
            start_time=now,
            updated_at=now,
        )
    )


def _server_project(session: Session, ctx: RequestContext, server_id: str, version: Version) -> str:
    """The project of the server (404 when the caller may not see it, or when
    it is gone and the microversion is before 2.21)."""
    row = session.get(Server, server_id)
    if row is not None:
        return servers.load(session, ctx, server_id).project_id
    first = session.scalar(
        select(InstanceAction).where(InstanceAction.server_id == server_id).limit(1)
    )
    if (
        first is None
        or not version.at_least("2.21")
        or not allowed(ctx, "compute:servers:show", {"project_id": first.project_id})
    ):
        raise servers.not_found(server_id)
    return first.project_id


def view(a: InstanceAction, version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": a.action,
        "instance_uuid": a.server_id,
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": ts(a.start_time),
        "message": a.message,
    }
    if version.at_least("2.58"):
        out["updated_at"] = ts(a.updated_at)
    return out


def listing(
    session: Session, ctx: RequestContext, server_id: str, version: Version
) -> list[dict[str, Any]]:
    """Newest first."""
    _server_project(session, ctx, server_id, version)
    rows = session.scalars(
        select(InstanceAction)
        .where(InstanceAction.server_id == server_id)
        .order_by(InstanceAction.start_time.desc(), InstanceAction.id.desc())
    )
    return [view(a, version) for a in rows]


def show(
    session: Session, ctx: RequestContext, server_id: str, req_id: str, version: Version
) -> dict[str, Any]:
    _server_project(session, ctx, server_id, version)
    row = session.scalar(
        select(InstanceAction).where(
            InstanceAction.server_id == server_id, InstanceAction.request_id == req_id
        )
    )
    if row is None:
        raise NotFound(f"Action {req_id} for instance {server_id} could not be found.",
                       kind="InstanceActionNotFound")  # fmt: skip
    return {**view(row, version), "events": []}
