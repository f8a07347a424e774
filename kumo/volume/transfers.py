"""Volume transfers: a project offers an ``available`` volume to whoever holds
the transfer's key (shown once, in the create's answer; only a salted hash
is kept). The volume waits in ``awaiting-transfer``; accepting moves it
(and its snapshots, unless ``no_snapshots``) to the accepting project and
user, within that project's quotas; deleting the transfer puts it back to
``available``.

``/os-volume-transfer`` (every microversion) and ``/volume-transfers``
(3.55) are the same resource; ``no_snapshots`` is shown from 3.55,
``source_project_id``, ``destination_project_id`` and ``accepted`` from 3.57.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Snapshot, Volume, VolumeTransfer, VolumeType
from kumo.errors import BadRequest, NotFound
from kumo.policy import allowed, authorize, unrestricted
from kumo.volume import common, quotas, volumes

AWAITING = "awaiting-transfer"


def not_found(ident: str) -> NotFound:
    return NotFound(f"Transfer {ident} could not be found.", kind="TransferNotFound")


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def view(t: VolumeTransfer, base: str, version: Version, *, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "volume_id": t.volume_id,
        "links": volumes.links(base, "os-volume-transfer", t.id),
    }
    if not detail:
        return out
    out["created_at"] = common.stamp(t.created_at)
    if version.at_least("3.55"):
        out["no_snapshots"] = t.no_snapshots
    if version.at_least("3.57"):
        out["source_project_id"] = t.source_project_id
        out["destination_project_id"] = None
        out["accepted"] = False
    return out


def load(session: Session, ctx: RequestContext, ident: str) -> VolumeTransfer:
    t = session.get(VolumeTransfer, ident)
    if t is None or not allowed(ctx, "volume:get_transfer", {"project_id": t.source_project_id}):
        raise not_found(ident)
    return t


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[VolumeTransfer]:
    query = select(VolumeTransfer).order_by(VolumeTransfer.created_at, VolumeTransfer.id)
    every = params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if not (every and unrestricted(ctx, "volume:get_all_transfers")):
        query = query.where(VolumeTransfer.source_project_id == (ctx.project_id or ""))
    if params.get("name"):
        query = query.where(VolumeTransfer.name == params["name"])
    return [
        t for t in session.scalars(query)
        if allowed(ctx, "volume:get_transfer", {"project_id": t.source_project_id})
    ]  # fmt: skip


def create(
    uow: UnitOfWork, ctx: RequestContext, body: Any, version: Version
) -> tuple[VolumeTransfer, str]:
    """The transfer and its key (the only time the key is known)."""
    data = common.body_of(body, "transfer")
    volume_id = data.get("volume_id")
    if not isinstance(volume_id, str) or not volume_id:
        raise BadRequest("Missing required element 'volume_id' in transfer.")
    no_snapshots = False
    if version.at_least("3.55") and "no_snapshots" in data:
        no_snapshots = common.boolean(data["no_snapshots"], "no_snapshots")
    s = uow.session
    v = volumes.load(s, ctx, volume_id, lock=True)
    volumes.require(ctx, "volume:create_transfer", v)
    if v.status != "available":
        raise common.InvalidState(
            f"Volume {v.id} must be available to be transferred ({v.status})."
        )
    if v.group_id:
        raise common.InvalidState(f"Volume {v.id} is in a group: remove it from the group first.")
    key = secrets.token_hex(8)
    salt = secrets.token_hex(8)
    t = VolumeTransfer(
        volume_id=v.id,
        name=common.text(data.get("name"), "name"),
        source_project_id=v.project_id,
        salt=salt,
        key_hash=_hash(salt, key),
        no_snapshots=no_snapshots,
    )
    s.add(t)
    v.status = AWAITING
    v.updated_at = utcnow()
    s.flush()
    return t, key


def delete(uow: UnitOfWork, ctx: RequestContext, ident: str) -> None:
    s = uow.session
    t = load(s, ctx, ident)
    authorize(ctx, "volume:delete_transfer", {"project_id": t.source_project_id})
    v = s.get(Volume, t.volume_id)
    if v is not None and v.status == AWAITING:
        v.status = "available"
        v.updated_at = utcnow()
    s.delete(t)


def accept(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, ident: str, body: Any
) -> VolumeTransfer:
    """Any project may accept with the key; a wrong key is a 400."""
    authorize(ctx, "volume:accept_transfer", {"project_id": ctx.project_id})
    data = common.body_of(body, "accept")
    key = data.get("auth_key")
    if not isinstance(key, str) or not key:
        raise BadRequest("Missing required element 'auth_key' in accept.")
    s = uow.session
    t = s.get(VolumeTransfer, ident)
    if t is None:
        raise not_found(ident)
    if not hmac.compare_digest(_hash(t.salt, key), t.key_hash):
        raise BadRequest(f"Invalid auth key: attempt to accept transfer {ident} failed.",
                         kind="InvalidAuthKey")  # fmt: skip
    v = s.scalar(select(Volume).where(Volume.id == t.volume_id).with_for_update())
    if v is None or v.status != AWAITING:
        raise common.InvalidState(f"Volume {t.volume_id} is not awaiting a transfer.")
    snaps = [] if t.no_snapshots else list(
        s.scalars(select(Snapshot).where(Snapshot.volume_id == v.id))
    )  # fmt: skip
    project = ctx.project_id or ""
    type_name = s.scalar(select(VolumeType.name).where(VolumeType.id == v.volume_type_id)) or ""
    deltas = {"volumes": 1, "gigabytes": v.size + sum(x.size for x in snaps)}
    if snaps:
        deltas["snapshots"] = len(snaps)
    if project != v.project_id:
        quotas.check(s, settings, project, type_name, deltas)
    now = utcnow()
    user = ctx.user_id or ""
    v.project_id, v.user_id, v.status, v.updated_at = project, user, "available", now
    for snap in snaps:
        snap.project_id, snap.user_id, snap.updated_at = project, user, now
    s.delete(t)
    s.flush()
    return t
