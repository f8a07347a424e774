"""Flavor and service profile rows: create, update, delete, bind, render.

Every caller reads flavors; only admins write them and see service
profiles (Neutron's default policy). A profile bound to a flavor is
neither changed nor deleted (``ServiceProfileInUse``); a flavor a router
was made with is not deleted (``FlavorInUse``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.l3_models import Router
from kumo.db.net_flavor_models import FlavorServiceProfile, NetworkFlavor, ServiceProfile
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InUse, InvalidInput, NotFound
from kumo.network import validate
from kumo.network.flavors import drivers
from kumo.policy import authorize

FLAVOR_CREATE = {"name", "description", "service_type", "enabled", "service_profiles",
                 "project_id", "tenant_id"}  # fmt: skip
FLAVOR_UPDATE = {"name", "description", "enabled", "service_profiles"}
PROFILE_CREATE = {"description", "driver", "metainfo", "enabled", "project_id", "tenant_id"}
PROFILE_UPDATE = {"description", "driver", "metainfo", "enabled"}
DESCRIPTION_MAX = 1024


def flavor_not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.", kind="FlavorNotFound")


def profile_not_found(sp_id: str) -> NotFound:
    return NotFound(f"Service Profile {sp_id} could not be found.", kind="ServiceProfileNotFound")


def binding_not_found(sp_id: str, flavor_id: str) -> NotFound:
    return NotFound(
        f"Service Profile {sp_id} is not associated with flavor {flavor_id}.",
        kind="FlavorServiceProfileBindingNotFound",
    )


def profile_ids(session: Session, flavor_ids: list[str]) -> dict[str, list[str]]:
    """The profiles bound to each flavor, in binding order."""
    out: dict[str, list[str]] = {f: [] for f in flavor_ids}
    if not flavor_ids:
        return out
    rows = session.execute(
        select(FlavorServiceProfile.flavor_id, FlavorServiceProfile.service_profile_id)
        .where(FlavorServiceProfile.flavor_id.in_(flavor_ids))
        .order_by(FlavorServiceProfile.position)
    )
    for flavor_id, sp_id in rows:
        out[flavor_id].append(sp_id)
    return out


def flavor_view(row: NetworkFlavor, profiles: list[str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "service_type": row.service_type,
        "enabled": row.enabled,
        "service_profiles": list(profiles),
    }


def profile_view(row: ServiceProfile) -> dict[str, Any]:
    return {
        "id": row.id,
        "description": row.description,
        "driver": row.driver,
        "enabled": row.enabled,
        "metainfo": row.metainfo,
    }


FLAVOR_ATTRIBUTES = frozenset(flavor_view(NetworkFlavor(), []))
PROFILE_ATTRIBUTES = frozenset(profile_view(ServiceProfile()))


def load_flavor(session: Session, flavor_id: str, *, lock: bool = False) -> NetworkFlavor:
    query = select(NetworkFlavor).where(NetworkFlavor.id == flavor_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise flavor_not_found(flavor_id)
    return row


def load_profile(session: Session, sp_id: str, *, lock: bool = False) -> ServiceProfile:
    query = select(ServiceProfile).where(ServiceProfile.id == sp_id)
    row = session.scalar(query.with_for_update() if lock else query)
    if row is None:
        raise profile_not_found(sp_id)
    return row


def _description(body: dict[str, Any]) -> str:
    return validate.string(body, "description", DESCRIPTION_MAX)


def _bind_all(session: Session, flavor: NetworkFlavor, raw: Any) -> None:
    """Bind the profiles ``raw`` names (a list of ids), in that order, and no other."""
    ids = [validate.uuid(x, "service_profiles") for x in validate.list_of(raw, "service_profiles")]
    validate.unique(ids, "service_profiles")
    for sp_id in ids:
        load_profile(session, sp_id)
    session.execute(delete(FlavorServiceProfile).where(FlavorServiceProfile.flavor_id == flavor.id))
    for n, sp_id in enumerate(ids):
        session.add(FlavorServiceProfile(flavor_id=flavor.id, service_profile_id=sp_id, position=n))
    session.flush()


def create_flavor(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> NetworkFlavor:
    authorize(ctx, "network:create_flavor")
    validate.known(body, FLAVOR_CREATE)
    if "service_type" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'service_type' not specified")
    service_type = body["service_type"]
    if service_type not in drivers.SERVICE_TYPES:
        raise InvalidInput(f"Invalid service type {service_type}.", kind="InvalidFlavorServiceType")
    row = NetworkFlavor(
        name=validate.string(body, "name") if "name" in body else "",
        description=_description(body) if "description" in body else "",
        service_type=service_type,
        enabled=validate.boolean(body, "enabled") if body.get("enabled") is not None else True,
    )
    uow.session.add(row)
    uow.session.flush()
    if body.get("service_profiles"):
        _bind_all(uow.session, row, body["service_profiles"])
    return row


def update_flavor(
    uow: UnitOfWork, ctx: RequestContext, flavor_id: str, body: dict[str, Any]
) -> NetworkFlavor:
    authorize(ctx, "network:update_flavor")
    for key in ("id", "service_type", "project_id", "tenant_id"):
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, FLAVOR_UPDATE)
    row = load_flavor(uow.session, flavor_id, lock=True)
    if "name" in body:
        row.name = validate.string(body, "name")
    if "description" in body:
        row.description = _description(body)
    if body.get("enabled") is not None:
        row.enabled = validate.boolean(body, "enabled")
    if "service_profiles" in body:
        _bind_all(uow.session, row, body["service_profiles"])
    return row


def delete_flavor(uow: UnitOfWork, ctx: RequestContext, flavor_id: str) -> None:
    authorize(ctx, "network:delete_flavor")
    s = uow.session
    row = load_flavor(s, flavor_id, lock=True)
    if s.scalar(select(Router.id).where(Router.flavor_id == row.id).limit(1)) is not None:
        raise InUse(f"Flavor {flavor_id} is used by some service instance.", kind="FlavorInUse")
    s.execute(delete(FlavorServiceProfile).where(FlavorServiceProfile.flavor_id == row.id))
    s.delete(row)
    s.flush()


def _check_unbound(session: Session, sp_id: str) -> None:
    bound = session.scalar(
        select(FlavorServiceProfile.flavor_id)
        .where(FlavorServiceProfile.service_profile_id == sp_id)
        .limit(1)
    )
    if bound is not None:
        raise InUse(
            f"Service Profile {sp_id} is used by some service instance.",
            kind="ServiceProfileInUse",
        )


def _metainfo(body: dict[str, Any]) -> str:
    value = body["metainfo"]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{value}' is not a valid string")
    return value


def create_profile(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> ServiceProfile:
    authorize(ctx, "network:create_service_profile")
    validate.known(body, PROFILE_CREATE)
    driver = validate.string(body, "driver", DESCRIPTION_MAX) if "driver" in body else ""
    metainfo = _metainfo(body) if "metainfo" in body else ""
    if not driver and not metainfo:
        raise InvalidInput(
            "Service Profile needs either a driver or metainfo.", kind="ServiceProfileEmpty"
        )
    row = ServiceProfile(
        description=_description(body) if "description" in body else "",
        driver=drivers.check(driver),
        metainfo=metainfo,
        enabled=validate.boolean(body, "enabled") if body.get("enabled") is not None else True,
    )
    uow.session.add(row)
    uow.session.flush()
    return row


def update_profile(
    uow: UnitOfWork, ctx: RequestContext, sp_id: str, body: dict[str, Any]
) -> ServiceProfile:
    authorize(ctx, "network:update_service_profile")
    for key in ("id", "project_id", "tenant_id"):
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, PROFILE_UPDATE)
    driver = validate.string(body, "driver", DESCRIPTION_MAX) if "driver" in body else None
    if driver:
        drivers.check(driver)
    s = uow.session
    row = load_profile(s, sp_id, lock=True)
    _check_unbound(s, sp_id)
    if driver is not None:
        row.driver = driver
    if "metainfo" in body:
        row.metainfo = _metainfo(body)
    if "description" in body:
        row.description = _description(body)
    if body.get("enabled") is not None:
        row.enabled = validate.boolean(body, "enabled")
    return row


def delete_profile(uow: UnitOfWork, ctx: RequestContext, sp_id: str) -> None:
    authorize(ctx, "network:delete_service_profile")
    s = uow.session
    row = load_profile(s, sp_id, lock=True)
    _check_unbound(s, sp_id)
    s.delete(row)
    s.flush()


def bind(uow: UnitOfWork, ctx: RequestContext, flavor_id: str, body: Any) -> str:
    """``POST /v2.0/flavors/{id}/service_profiles``: the bound profile's id."""
    authorize(ctx, "network:create_flavor_service_profile")
    item = validate.member(body, "service_profile")
    validate.known(item, {"id", "project_id", "tenant_id"})
    if "id" not in item:
        raise BadRequest("Failed to parse request. Required attribute 'id' not specified")
    sp_id = validate.uuid(item["id"], "id")
    s = uow.session
    flavor = load_flavor(s, flavor_id, lock=True)
    load_profile(s, sp_id)
    if s.get(FlavorServiceProfile, (flavor.id, sp_id)) is not None:
        raise Conflict(
            f"Service Profile {sp_id} is already associated with flavor {flavor_id}.",
            kind="FlavorServiceProfileBindingExists",
        )
    last = s.scalar(
        select(func.max(FlavorServiceProfile.position)).where(
            FlavorServiceProfile.flavor_id == flavor.id
        )
    )
    position = 0 if last is None else last + 1
    s.add(FlavorServiceProfile(flavor_id=flavor.id, service_profile_id=sp_id, position=position))
    s.flush()
    return sp_id


def unbind(uow: UnitOfWork, ctx: RequestContext, flavor_id: str, sp_id: str) -> None:
    authorize(ctx, "network:delete_flavor_service_profile")
    s = uow.session
    load_flavor(s, flavor_id, lock=True)
    binding = s.get(FlavorServiceProfile, (flavor_id, sp_id))
    if binding is None:
        raise binding_not_found(sp_id, flavor_id)
    s.delete(binding)
    s.flush()
