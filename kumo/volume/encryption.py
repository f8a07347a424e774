"""Encryption types: how the volumes of a volume type are to be encrypted
(``provider``, ``cipher``, ``key_size``, ``control_location``). Stored and
shown as Cinder does; administrators only.

kumo has no key manager and its data path does not encrypt: volumes of an
encrypted type are made (``encrypted: true``) but attaching one is refused
with a 400 that says so, rather than giving a server plain data it believes
encrypted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Volume, VolumeEncryptionType
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize
from kumo.volume import common, types

FIELDS = ("provider", "cipher", "key_size", "control_location")
LOCATIONS = ("front-end", "back-end")


def view(e: VolumeEncryptionType, *, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "volume_type_id": e.volume_type_id,
        "encryption_id": e.encryption_id,
        "provider": e.provider,
        "cipher": e.cipher,
        "key_size": e.key_size,
        "control_location": e.control_location,
    }
    if full:
        out.update(deleted=False, created_at=common.stamp(e.created_at),
                   updated_at=common.stamp(e.updated_at), deleted_at=None)  # fmt: skip
    return out


def of_type(session: Session, type_id: str) -> VolumeEncryptionType | None:
    return session.get(VolumeEncryptionType, type_id)


def _fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise BadRequest(f"Unknown encryption fields: {', '.join(sorted(unknown))}.")
    out: dict[str, Any] = {}
    if creating or "provider" in data:
        out["provider"] = common.text(data.get("provider"), "provider", required=True)
    if "cipher" in data:
        out["cipher"] = common.text(data["cipher"], "cipher")
    if "key_size" in data:
        size = data["key_size"]
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise BadRequest("key_size must be a non-negative integer or null.")
        out["key_size"] = size
    if creating or "control_location" in data:
        where = data.get("control_location", "front-end")
        if where not in LOCATIONS:
            raise BadRequest(f"control_location must be one of {', '.join(LOCATIONS)}.")
        out["control_location"] = where
    return out


def _unused(session: Session, type_id: str) -> None:
    """Cinder's rule: the encryption of a type changes only while no volume has it."""
    if session.scalar(select(Volume.id).where(Volume.volume_type_id == type_id).limit(1)):
        raise BadRequest(f"Target volume type {type_id} is still in use.", kind="VolumeTypeInUse")


def show(session: Session, ctx: RequestContext, type_id: str) -> dict[str, Any]:
    """The type's encryption, or ``{}`` for a type without one."""
    authorize(ctx, "volume_extension:volume_type_encryption:get")
    vtype = types.find(session, ctx, type_id)
    found = of_type(session, vtype.id)
    return view(found) if found else {}


def create(uow: UnitOfWork, ctx: RequestContext, type_id: str, body: Any) -> dict[str, Any]:
    authorize(ctx, "volume_extension:volume_type_encryption:create")
    data = common.body_of(body, "encryption")
    s = uow.session
    vtype = types.find(s, ctx, type_id)
    if of_type(s, vtype.id) is not None:
        raise BadRequest(f"Volume type encryption for type {vtype.id} already exists.",
                         kind="VolumeTypeEncryptionExists")  # fmt: skip
    _unused(s, vtype.id)
    e = VolumeEncryptionType(volume_type_id=vtype.id, **_fields(data, creating=True))
    s.add(e)
    s.flush()
    return view(e, full=False)


def _load(
    session: Session, ctx: RequestContext, type_id: str, encryption_id: str
) -> VolumeEncryptionType:
    vtype = types.find(session, ctx, type_id)
    e = of_type(session, vtype.id)
    if e is None or e.encryption_id != encryption_id:
        raise NotFound(f"Volume type encryption for type {type_id} does not exist.",
                       kind="VolumeTypeEncryptionNotFound")  # fmt: skip
    return e


def update(
    uow: UnitOfWork, ctx: RequestContext, type_id: str, encryption_id: str, body: Any
) -> dict[str, Any]:
    """The answer holds the fields the request changed."""
    authorize(ctx, "volume_extension:volume_type_encryption:update")
    data = common.body_of(body, "encryption")
    e = _load(uow.session, ctx, type_id, encryption_id)
    _unused(uow.session, e.volume_type_id)
    changed = _fields(data, creating=False)
    for key, value in changed.items():
        setattr(e, key, value)
    e.updated_at = utcnow()
    return changed


def delete(uow: UnitOfWork, ctx: RequestContext, type_id: str, encryption_id: str) -> None:
    authorize(ctx, "volume_extension:volume_type_encryption:delete")
    e = _load(uow.session, ctx, type_id, encryption_id)
    _unused(uow.session, e.volume_type_id)
    uow.session.delete(e)


def refuse_attach(session: Session, v: Volume) -> None:
    """Attaching needs the volume's key and an encrypting data path; kumo has neither."""
    e = of_type(session, v.volume_type_id)
    if e is not None:
        raise BadRequest(
            f"Volume {v.id} is of an encrypted volume type ({e.provider}); kumo cannot "
            "encrypt volume data, so encrypted volumes cannot be attached.",
            kind="InvalidVolume",
        )
