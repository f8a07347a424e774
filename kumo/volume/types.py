"""Volume types: extra specs (matched against pools' capabilities by the
scheduler) and access lists for private types.

Every caller sees public types; a private type is seen by admins and by
the projects on its access list. A volume made without a type gets the
default type ``__DEFAULT__``, created once at bootstrap.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Volume, VolumeType, VolumeTypeAccess
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.policy import authorize, unrestricted
from kumo.volume import common

DEFAULT_TYPE = "__DEFAULT__"


def ensure_default(session: Session) -> None:
    if session.scalar(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE)) is None:
        session.add(VolumeType(name=DEFAULT_TYPE, description="Default Volume Type"))


def not_found(ident: str) -> NotFound:
    return NotFound(f"Volume type {ident} could not be found.", kind="VolumeTypeNotFound")


def _access(session: Session, type_id: str) -> set[str]:
    rows = session.scalars(
        select(VolumeTypeAccess.project_id).where(VolumeTypeAccess.volume_type_id == type_id)
    )
    return set(rows)


def visible(session: Session, ctx: RequestContext, vtype: VolumeType) -> bool:
    if vtype.is_public or unrestricted(ctx, "volume_extension:types_manage"):
        return True
    return ctx.project_id is not None and ctx.project_id in _access(session, vtype.id)


def find(session: Session, ctx: RequestContext, ident: str) -> VolumeType:
    """A type by id or name that the caller may see."""
    vtype = session.get(VolumeType, ident)
    if vtype is None:
        vtype = session.scalar(select(VolumeType).where(VolumeType.name == ident))
    if vtype is None or not visible(session, ctx, vtype):
        raise not_found(ident)
    return vtype


def default(session: Session) -> VolumeType:
    vtype = session.scalar(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE))
    if vtype is None:
        raise NotFound("The default volume type does not exist.", kind="VolumeTypeNotFound")
    return vtype


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[VolumeType]:
    rows = list(session.scalars(select(VolumeType).order_by(VolumeType.name)))
    admin = unrestricted(ctx, "volume_extension:types_manage")
    public = params.get("is_public")
    out = []
    for vtype in rows:
        if not visible(session, ctx, vtype):
            continue
        filtered = admin and public is not None and public.lower() != "none"
        if filtered and common.boolean(public, "is_public") != vtype.is_public:
            continue
        out.append(vtype)
    return out


def view(vtype: VolumeType, *, specs: bool = True) -> dict[str, Any]:
    return {
        "id": vtype.id,
        "name": vtype.name,
        "description": vtype.description,
        "is_public": vtype.is_public,
        "os-volume-type-access:is_public": vtype.is_public,
        "extra_specs": dict(vtype.extra_specs or {}) if specs else {},
        "qos_specs_id": vtype.qos_specs_id,
    }


def _specs(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest("extra_specs must be an object.")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise BadRequest(f"Invalid extra spec key {common.shown(key)!r}.")
        if isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str | int | float) or len(str(item)) > 255:
            raise BadRequest(f"Invalid extra spec value for {key!r}: a string of at most 255.")
        out[key] = str(item)
    return out


def create(uow: UnitOfWork, ctx: RequestContext, body: Any) -> VolumeType:
    authorize(ctx, "volume_extension:types_manage")
    data = common.body_of(body, "volume_type")
    name = common.text(data.get("name"), "name", required=True)
    assert name is not None
    s = uow.session
    if s.scalar(select(VolumeType).where(VolumeType.name == name)) is not None:
        raise Conflict(f"Volume Type {name} already exists.", kind="VolumeTypeExists")
    is_public = common.boolean(
        data.get("os-volume-type-access:is_public", data.get("is_public", True)), "is_public"
    )
    vtype = VolumeType(
        name=name,
        description=common.text(data.get("description"), "description"),
        is_public=is_public,
        extra_specs=_specs(data.get("extra_specs") or {}),
    )
    s.add(vtype)
    s.flush()
    return vtype


def update(uow: UnitOfWork, ctx: RequestContext, type_id: str, body: Any) -> VolumeType:
    authorize(ctx, "volume_extension:types_manage")
    data = common.body_of(body, "volume_type")
    vtype = find(uow.session, ctx, type_id)
    if "name" in data:
        name = common.text(data["name"], "name", required=True)
        assert name is not None
        if vtype.name == DEFAULT_TYPE and name != DEFAULT_TYPE:
            raise BadRequest("The default volume type cannot be renamed.")
        taken = uow.session.scalar(select(VolumeType).where(VolumeType.name == name))
        if taken is not None and taken.id != vtype.id:
            raise Conflict(f"Volume Type {name} already exists.", kind="VolumeTypeExists")
        vtype.name = name
    if "description" in data:
        vtype.description = common.text(data["description"], "description")
    if "is_public" in data:
        vtype.is_public = common.boolean(data["is_public"], "is_public")
    vtype.updated_at = utcnow()
    return vtype


def remove(uow: UnitOfWork, ctx: RequestContext, type_id: str) -> None:
    authorize(ctx, "volume_extension:types_manage")
    s = uow.session
    vtype = find(s, ctx, type_id)
    if vtype.name == DEFAULT_TYPE:
        raise BadRequest("The default volume type cannot be deleted.")
    if s.scalar(select(Volume.id).where(Volume.volume_type_id == vtype.id).limit(1)):
        raise BadRequest(f"Target volume type {vtype.id} is still in use.", kind="VolumeTypeInUse")
    s.delete(vtype)


def set_specs(uow: UnitOfWork, ctx: RequestContext, type_id: str, body: Any) -> dict[str, str]:
    authorize(ctx, "volume_extension:types_manage")
    if not isinstance(body, dict) or not isinstance(body.get("extra_specs"), dict):
        raise BadRequest("Expected {'extra_specs': {...}}.")
    vtype = find(uow.session, ctx, type_id)
    added = _specs(body["extra_specs"])
    vtype.extra_specs = {**(vtype.extra_specs or {}), **added}
    vtype.updated_at = utcnow()
    return added  # the answer holds what the request set, as Cinder's does


def set_spec(
    uow: UnitOfWork, ctx: RequestContext, type_id: str, key: str, body: Any
) -> dict[str, str]:
    authorize(ctx, "volume_extension:types_manage")
    if not isinstance(body, dict) or list(body) != [key]:
        raise BadRequest("Request body and URI mismatch: the body must hold just that key.")
    vtype = find(uow.session, ctx, type_id)
    vtype.extra_specs = {**(vtype.extra_specs or {}), **_specs(body)}
    vtype.updated_at = utcnow()
    return {key: vtype.extra_specs[key]}


def delete_spec(uow: UnitOfWork, ctx: RequestContext, type_id: str, key: str) -> None:
    authorize(ctx, "volume_extension:types_manage")
    vtype = find(uow.session, ctx, type_id)
    specs = dict(vtype.extra_specs or {})
    if key not in specs:
        raise NotFound(
            f"Volume Type {type_id} has no extra specs with key {key}.",
            kind="VolumeTypeExtraSpecsNotFound",
        )
    del specs[key]
    vtype.extra_specs = specs
    vtype.updated_at = utcnow()


def access_list(session: Session, ctx: RequestContext, type_id: str) -> list[dict[str, str]]:
    authorize(ctx, "volume_extension:volume_type_access")
    vtype = find(session, ctx, type_id)
    if vtype.is_public:
        raise NotFound(
            f"Access list not available for public volume type {type_id}.",
            kind="VolumeTypeAccessNotFound",
        )
    return [
        {"volume_type_id": vtype.id, "project_id": p} for p in sorted(_access(session, vtype.id))
    ]


def change_access(uow: UnitOfWork, ctx: RequestContext, type_id: str, body: Any) -> None:
    """``{"addProjectAccess": {"project": P}}`` or ``{"removeProjectAccess": ...}``."""
    authorize(ctx, "volume_extension:volume_type_access")
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Expected one action: addProjectAccess or removeProjectAccess.")
    action, data = next(iter(body.items()))
    if action not in ("addProjectAccess", "removeProjectAccess") or not isinstance(data, dict):
        raise BadRequest(f"Invalid volume type action {common.shown(action)!r}.")
    project = common.text(data.get("project"), "project", required=True)
    s = uow.session
    vtype = find(s, ctx, type_id)
    if vtype.is_public:
        raise BadRequest(
            "Invalid volume type: the type is public; access lists are for private ones."
        )
    have = project in _access(s, vtype.id)
    if action == "addProjectAccess":
        if have:
            raise Conflict(
                f"Volume type access for {vtype.id}/{project} combination already exists.",
                kind="VolumeTypeAccessExists",
            )
        s.add(VolumeTypeAccess(volume_type_id=vtype.id, project_id=project))
        return
    if not have:
        raise NotFound(
            f"Volume type access not found for {vtype.id}/{project} combination.",
            kind="VolumeTypeAccessNotFound",
        )
    s.execute(
        delete(VolumeTypeAccess).where(
            VolumeTypeAccess.volume_type_id == vtype.id, VolumeTypeAccess.project_id == project
        )
    )


def usable(session: Session, ctx: RequestContext, ident: str | None) -> VolumeType:
    """The type a new volume gets: the one named (visible to the caller) or the default."""
    if ident is None:
        return default(session)
    return find(session, ctx, ident)
