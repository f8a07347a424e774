"""QoS specs: named limits (``read_iops_sec``, ``total_bytes_sec``, ...) for a
consumer (``front-end``: the hypervisor applies them, ``back-end``: the
storage host, ``both``), associated with volume types (one QoS specs per
type, shown as the type's ``qos_specs_id``). Administrators only.

Front-end specs are enforced where the volume is attached
(``throttle.py``: QEMU's throttle limits, carried in the attachment's watch
body to its compute host): a VM's disk by ``block_set_io_throttle``, a
namespace instance's volume by a throttle filter node in the storage
daemon serving its FUSE export. They are read when the volume is attached:
a change applies at the next attach. Back-end specs are stored and shown
only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import QosSpecs, VolumeType
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.policy import authorize
from kumo.volume import common, types

CONSUMERS = ("front-end", "back-end", "both")


def not_found(ident: str) -> NotFound:
    return NotFound(f"QoS spec {ident} could not be found.", kind="QoSSpecsNotFound")


def load(session: Session, ident: str) -> QosSpecs:
    found = session.get(QosSpecs, ident)
    if found is None:
        raise not_found(ident)
    return found


def view(q: QosSpecs) -> dict[str, Any]:
    return {"id": q.id, "name": q.name, "consumer": q.consumer, "specs": dict(q.specs or {})}


def _specs(data: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise BadRequest(f"Invalid QoS specs key {common.shown(key)!r}.")
        if isinstance(value, dict | list) or value is None or len(str(value)) > 255:
            raise BadRequest(f"Invalid QoS specs value for {key!r}: a string of at most 255.")
        out[key] = str(value)
    return out


def _consumer(value: Any) -> str:
    if value not in CONSUMERS:
        raise BadRequest(
            f"Invalid consumer {common.shown(value)!r}: one of {', '.join(CONSUMERS)}.",
            kind="InvalidQoSSpecs",
        )
    return str(value)


def listing(session: Session, ctx: RequestContext) -> list[QosSpecs]:
    authorize(ctx, "volume_extension:qos_specs_manage:get_all")
    return list(session.scalars(select(QosSpecs).order_by(QosSpecs.created_at, QosSpecs.name)))


def show(session: Session, ctx: RequestContext, ident: str) -> QosSpecs:
    authorize(ctx, "volume_extension:qos_specs_manage:get")
    return load(session, ident)


def create(uow: UnitOfWork, ctx: RequestContext, body: Any) -> QosSpecs:
    authorize(ctx, "volume_extension:qos_specs_manage:create")
    data = dict(common.body_of(body, "qos_specs"))
    name = common.text(data.pop("name", None), "name", required=True)
    assert name is not None
    consumer = _consumer(data.pop("consumer", "back-end"))
    s = uow.session
    if s.scalar(select(QosSpecs).where(QosSpecs.name == name)) is not None:
        raise Conflict(f"QoS Specs {name} already exists.", kind="QoSSpecsExists")
    q = QosSpecs(name=name.strip(), consumer=consumer, specs=_specs(data))
    s.add(q)
    s.flush()
    return q


def set_keys(uow: UnitOfWork, ctx: RequestContext, ident: str, body: Any) -> dict[str, str]:
    """Add or change keys (``consumer`` too); the answer is what the body set."""
    authorize(ctx, "volume_extension:qos_specs_manage:update")
    data = dict(common.body_of(body, "qos_specs"))
    q = load(uow.session, ident)
    changed: dict[str, str] = {}
    if "consumer" in data:
        q.consumer = changed["consumer"] = _consumer(data.pop("consumer"))
    if "name" in data:
        raise BadRequest("A QoS specs' name cannot be changed.", kind="InvalidQoSSpecs")
    added = _specs(data)
    q.specs = {**(q.specs or {}), **added}
    return {**changed, **added}


def delete_keys(uow: UnitOfWork, ctx: RequestContext, ident: str, body: Any) -> None:
    authorize(ctx, "volume_extension:qos_specs_manage:update")
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BadRequest("Expected {'keys': [key, ...]}.")
    q = load(uow.session, ident)
    specs = dict(q.specs or {})
    for key in keys:
        if key not in specs:
            raise NotFound(f"QoS spec {ident} has no key {key}.", kind="QoSSpecsKeyNotFound")
        del specs[key]
    q.specs = specs


def _associated(session: Session, ident: str) -> list[VolumeType]:
    query = select(VolumeType).where(VolumeType.qos_specs_id == ident).order_by(VolumeType.name)
    return list(session.scalars(query))


def delete(uow: UnitOfWork, ctx: RequestContext, ident: str, *, force: bool) -> None:
    """Refused while types use the specs (400) unless forced (then they lose it)."""
    authorize(ctx, "volume_extension:qos_specs_manage:delete")
    s = uow.session
    q = load(s, ident)
    users = _associated(s, ident)
    if users and not force:
        raise BadRequest(
            f"QoS Specs {ident} is still associated with entities.", kind="QoSSpecsInUse"
        )
    for vtype in users:
        vtype.qos_specs_id = None
    s.flush()
    s.delete(q)


def associations(session: Session, ctx: RequestContext, ident: str) -> list[dict[str, str]]:
    authorize(ctx, "volume_extension:qos_specs_manage:get")
    load(session, ident)
    return [
        {"association_type": "volume_type", "id": t.id, "name": t.name}
        for t in _associated(session, ident)
    ]


def _type_of(session: Session, ctx: RequestContext, params: dict[str, str]) -> VolumeType:
    type_id = params.get("vol_type_id")
    if not type_id:
        raise BadRequest("Missing required parameter vol_type_id.")
    return types.find(session, ctx, type_id)


def associate(uow: UnitOfWork, ctx: RequestContext, ident: str, params: dict[str, str]) -> None:
    """A type has at most one QoS specs: another one already there is a 400."""
    authorize(ctx, "volume_extension:qos_specs_manage:update")
    s = uow.session
    load(s, ident)
    vtype = _type_of(s, ctx, params)
    if vtype.qos_specs_id not in (None, ident):
        raise BadRequest(
            f"Volume type {vtype.id} is already associated with QoS specs {vtype.qos_specs_id}.",
            kind="InvalidVolumeType",
        )
    vtype.qos_specs_id = ident
    vtype.updated_at = utcnow()


def disassociate(
    uow: UnitOfWork, ctx: RequestContext, ident: str, params: dict[str, str] | None
) -> None:
    """One type (``vol_type_id``), or every type when ``params`` is None."""
    authorize(ctx, "volume_extension:qos_specs_manage:update")
    s = uow.session
    load(s, ident)
    targets = _associated(s, ident) if params is None else [_type_of(s, ctx, params)]
    for vtype in targets:
        if vtype.qos_specs_id == ident:
            vtype.qos_specs_id = None
            vtype.updated_at = utcnow()
