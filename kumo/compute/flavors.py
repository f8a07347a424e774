"""Flavors: the defaults kumo ships, admin create/delete, access, extra specs."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.common import body_member, links, name_field, non_negative, truthy
from kumo.compute.microversion import Version
from kumo.context import RequestContext
from kumo.db.compute_models import Flavor, FlavorAccess
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound, shown
from kumo.policy import allowed

# (id, name, ram MB, vcpus, disk GB)
DEFAULTS = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
)


MAX_FLOAT = 3.40282e38
"""The largest ``rxtx_factor`` (a single-precision float column in Nova)."""


def not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.", kind="FlavorNotFound")


def ensure_defaults(session: Session) -> None:
    for ident, name, ram, vcpus, disk in DEFAULTS:
        if (
            session.get(Flavor, ident) is None
            and session.scalar(select(Flavor.id).where(Flavor.name == name)) is None
        ):
            session.add(Flavor(id=ident, name=name, ram=ram, vcpus=vcpus, disk=disk))
    session.flush()


def visible(session: Session, ctx: RequestContext, flavor: Flavor) -> bool:
    if flavor.is_public or allowed(ctx, "compute:flavors:show:private"):
        return True
    return (
        session.scalar(
            select(FlavorAccess.id).where(
                FlavorAccess.flavor_id == flavor.id, FlavorAccess.project_id == ctx.project_id
            )
        )
        is not None
    )


def load(session: Session, ctx: RequestContext, flavor_id: str) -> Flavor:
    flavor = session.get(Flavor, flavor_id)
    if flavor is None or not visible(session, ctx, flavor):
        raise not_found(flavor_id)
    return flavor


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[Flavor]:
    q = select(Flavor)
    is_public: bool | None = True
    everything = allowed(ctx, "compute:flavors:show:private")
    if everything and "is_public" in params:
        raw = params["is_public"]
        is_public = None if raw.lower() == "none" else truthy(raw)
        if is_public is None and raw.lower() != "none":
            raise BadRequest(f"Invalid is_public filter [{raw}]")
    if "minRam" in params:
        q = q.where(Flavor.ram >= non_negative(params["minRam"], "minRam"))
    if "minDisk" in params:
        q = q.where(Flavor.disk >= non_negative(params["minDisk"], "minDisk"))
    sort_key = params.get("sort_key", "flavorid")
    column = {
        "flavorid": Flavor.id,
        "id": Flavor.id,
        "name": Flavor.name,
        "memory_mb": Flavor.ram,
        "ram": Flavor.ram,
        "vcpus": Flavor.vcpus,
        "root_gb": Flavor.disk,
        "disk": Flavor.disk,
        "created_at": Flavor.created_at,
    }.get(sort_key)
    if column is None:
        raise BadRequest(f"Invalid sort key: {sort_key}")
    desc = params.get("sort_dir", "asc").lower() == "desc"
    rows = list(session.scalars(q.order_by(column.desc() if desc else column, Flavor.id)))
    if is_public is not None and everything:
        rows = [f for f in rows if f.is_public == is_public]
    elif not everything:
        rows = [f for f in rows if visible(session, ctx, f)]
    return rows


def _rxtx_factor(value: Any) -> float:
    """A positive, finite number, as Nova's flavor schema takes it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_FLOAT:
        raise BadRequest(f"Invalid input for field/attribute rxtx_factor. Value: {shown(value)}.")
    return float(value)


ID_RE = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")


def flavor_id(raw: Any) -> str:
    """The id of a new flavor, as Nova takes it: a string of letters, digits,
    ``. _-`` (no leading or trailing space), a number (stored as its text),
    or null or absent for a generated UUID."""
    if raw is None:
        return str(uuid.uuid4())
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, str) and 1 <= len(raw) <= 255 and ID_RE.match(raw):
        return raw
    raise BadRequest(f"Invalid input for field/attribute id. Value: {raw}.")


def create(uow: UnitOfWork, ctx: RequestContext, body: Any) -> Flavor:
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
        )
    data = body_member(body, "flavor")
    name = name_field(data.get("name"))
    ident = flavor_id(data.get("id"))
    ram = non_negative(data.get("ram"), "ram", minimum=1)
    vcpus = non_negative(data.get("vcpus"), "vcpus", minimum=1)
    disk = non_negative(data.get("disk"), "disk")
    ephemeral = non_negative(data.get("OS-FLV-EXT-DATA:ephemeral", 0), "OS-FLV-EXT-DATA:ephemeral")
    swap = non_negative(data.get("swap", 0) or 0, "swap")
    public = data.get("os-flavor-access:is_public", True)
    if isinstance(public, str):  # Nova's boolean: "True", "false", "1", "off", ...
        public = truthy(public) if public.lower() not in ("t", "f", "y", "n") else None
    if not isinstance(public, bool):
        raise BadRequest(
            "Invalid input for field/attribute os-flavor-access:is_public. "
            f"Value: {data.get('os-flavor-access:is_public')}."
        )
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequest(f"Invalid input for field/attribute description. Value: {description}.")
    s = uow.session
    if s.get(Flavor, ident) is not None:
        raise Conflict(f"Flavor with ID {ident} already exists.", kind="FlavorIdExists")
    if s.scalar(select(Flavor.id).where(Flavor.name == name)) is not None:
        raise Conflict(f"Flavor with name {name} already exists.", kind="FlavorExists")
    flavor = Flavor(
        id=ident,
        name=name,
        ram=ram,
        vcpus=vcpus,
        disk=disk,
        ephemeral=ephemeral,
        swap=swap,
        rxtx_factor=_rxtx_factor(data.get("rxtx_factor", 1.0)),
        is_public=public,
        description=description,
        extra_specs={},
    )
    s.add(flavor)
    s.flush()
    return flavor


def update(uow: UnitOfWork, ctx: RequestContext, flavor_id: str, body: Any) -> Flavor:
    """``PUT /flavors/{id}`` (2.55): only the description changes."""
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-manage:update to be performed."
        )
    data = body_member(body, "flavor")
    if set(data) != {"description"}:
        raise BadRequest(
            "Invalid input for field/attribute flavor. Only description may be updated."
        )
    description = data["description"]
    if description is not None and (not isinstance(description, str) or len(description) > 65535):
        raise BadRequest(f"Invalid input for field/attribute description. Value: {description}.")
    flavor = uow.session.get(Flavor, flavor_id)
    if flavor is None:
        raise not_found(flavor_id)
    flavor.description = description
    return flavor


def remove(uow: UnitOfWork, ctx: RequestContext, flavor_id: str) -> None:
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-manage:delete to be performed."
        )
    flavor = uow.session.get(Flavor, flavor_id)
    if flavor is None:
        raise not_found(flavor_id)
    uow.session.delete(flavor)


def set_extra_specs(
    uow: UnitOfWork, ctx: RequestContext, flavor_id: str, specs: Any
) -> dict[str, str]:
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-extra-specs:create to be performed."
        )
    if not isinstance(specs, dict) or not all(
        isinstance(v, str | int | float) for v in specs.values()
    ):
        raise BadRequest("Invalid input for field/attribute extra_specs.")
    flavor = uow.session.get(Flavor, flavor_id)
    if flavor is None:
        raise not_found(flavor_id)
    merged = dict(flavor.extra_specs or {})
    merged.update({str(k): str(v) for k, v in specs.items()})
    flavor.extra_specs = merged
    return merged


def set_extra_spec(
    uow: UnitOfWork, ctx: RequestContext, flavor_id: str, key: str, body: Any
) -> dict[str, str]:
    """``PUT .../os-extra_specs/{key}``: the body names exactly that one key."""
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Request body contains too many items")
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    set_extra_specs(uow, ctx, flavor_id, body)
    return {key: str(body[key])}


def unset_extra_spec(uow: UnitOfWork, ctx: RequestContext, flavor_id: str, key: str) -> None:
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-extra-specs:delete to be performed."
        )
    flavor = uow.session.get(Flavor, flavor_id)
    if flavor is None:
        raise not_found(flavor_id)
    specs = dict(flavor.extra_specs or {})
    if key not in specs:
        raise NotFound(
            f"Flavor {flavor_id} has no extra specs with key {key}.",
            kind="FlavorExtraSpecsNotFound",
        )
    del specs[key]
    flavor.extra_specs = specs


def access_list(session: Session, ctx: RequestContext, flavor_id: str) -> list[dict[str, str]]:
    flavor = load(session, ctx, flavor_id)
    if flavor.is_public:
        raise NotFound("Access list not available for public flavors.")
    rows = session.scalars(
        select(FlavorAccess.project_id).where(FlavorAccess.flavor_id == flavor.id)
    )
    return [{"flavor_id": flavor.id, "tenant_id": p} for p in rows]


def add_access(uow: UnitOfWork, ctx: RequestContext, flavor_id: str, project_id: str) -> None:
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-access:add_tenant_access to be performed."
        )
    flavor = uow.session.get(Flavor, flavor_id)
    if flavor is None:
        raise not_found(flavor_id)
    if flavor.is_public:
        raise Conflict("Can not add access to a public flavor.")
    exists = uow.session.scalar(
        select(FlavorAccess.id).where(
            FlavorAccess.flavor_id == flavor_id, FlavorAccess.project_id == project_id
        )
    )
    if exists is not None:
        raise Conflict(
            f"Flavor access already exists for flavor {flavor_id} and project {project_id} combination."
        )
    uow.session.add(FlavorAccess(flavor_id=flavor_id, project_id=project_id))


def remove_access(uow: UnitOfWork, ctx: RequestContext, flavor_id: str, project_id: str) -> None:
    if not allowed(ctx, "compute:flavors:manage"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:os-flavor-access:remove_tenant_access "
            "to be performed."
        )
    if uow.session.get(Flavor, flavor_id) is None:
        raise not_found(flavor_id)
    row = uow.session.scalar(
        select(FlavorAccess).where(
            FlavorAccess.flavor_id == flavor_id, FlavorAccess.project_id == project_id
        )
    )
    if row is None:
        raise NotFound(
            f"Flavor access not found for {flavor_id} / {project_id} combination.",
            kind="FlavorAccessNotFound",
        )
    uow.session.delete(row)


def view(flavor: Flavor, base: str, version: Version, *, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "links": links(base, "flavors", flavor.id),
    }
    if version.at_least("2.55"):
        out["description"] = flavor.description
    if not detail:
        return out
    out.update(
        {
            "ram": flavor.ram,
            "disk": flavor.disk,
            "vcpus": flavor.vcpus,
            "swap": flavor.swap if (flavor.swap or version.at_least("2.75")) else "",
            "rxtx_factor": flavor.rxtx_factor,
            "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
            "OS-FLV-DISABLED:disabled": flavor.disabled,
            "os-flavor-access:is_public": flavor.is_public,
        }
    )
    if version.at_least("2.61"):
        out["extra_specs"] = dict(flavor.extra_specs or {})
    return out


def snapshot(flavor: Flavor) -> dict[str, Any]:
    """What a server keeps of its flavor (shown embedded from 2.47)."""
    return {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.ram,
        "vcpus": flavor.vcpus,
        "disk": flavor.disk,
        "ephemeral": flavor.ephemeral,
        "swap": flavor.swap,
        "extra_specs": dict(flavor.extra_specs or {}),
    }
