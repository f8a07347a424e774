"""``l3-flavors``: a router made with a flavor takes its mode from the driver
of the flavor's first service profile.

The flavor must be of ``L3_ROUTER_NAT`` (400 ``InvalidFlavorServiceType``)
and enabled, and so must its first profile (503 ``FlavorDisabled`` and
``ServiceProfileDisabled``, as Neutron answers); a flavor with no profile is
404 ``FlavorServiceProfileBindingNotFound``, a profile whose driver serves
no router 404 ``ServiceProfileDriverNotFound``. The flavor then decides
``distributed`` and ``ha``: a request naming them as well is 400, and
neither changes later on a router with a flavor.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.l3_models import Router
from kumo.db.net_flavor_models import FlavorServiceProfile, ServiceProfile
from kumo.errors import BadRequest, InvalidInput, ServiceUnavailable
from kumo.network import validate
from kumo.network.flavors import drivers, rows

FLAGS = ("distributed", "ha")


def mode(session: Session, body: dict[str, Any]) -> tuple[str | None, drivers.RouterMode]:
    """The flavor a router request names (or None) and the mode it gives."""
    raw = body.get("flavor_id")
    if raw is None:
        return None, drivers.RouterMode(None, None)
    flavor_id = validate.uuid(raw, "flavor_id")
    if any(body.get(flag) is not None for flag in FLAGS):
        raise BadRequest(
            "Bad router request: distributed and ha cannot be set on a router with a flavor; "
            "the flavor's service profile decides them."
        )
    flavor = rows.load_flavor(session, flavor_id)
    if flavor.service_type != drivers.L3:
        raise InvalidInput(
            f"Invalid service type {flavor.service_type}.", kind="InvalidFlavorServiceType"
        )
    if not flavor.enabled:
        raise ServiceUnavailable("Flavor is not enabled.", kind="FlavorDisabled")
    profile = session.scalar(
        select(ServiceProfile)
        .join(FlavorServiceProfile, FlavorServiceProfile.service_profile_id == ServiceProfile.id)
        .where(FlavorServiceProfile.flavor_id == flavor.id)
        .order_by(FlavorServiceProfile.position)
        .limit(1)
    )
    if profile is None:
        raise rows.binding_not_found("", flavor.id)
    if not profile.enabled:
        raise ServiceUnavailable("Service Profile is not enabled.", kind="ServiceProfileDisabled")
    found = drivers.ROUTER_MODES.get(profile.driver)
    if found is None:
        raise drivers.driver_not_found(profile.driver)
    return flavor.id, found


def check_update(router: Router, body: dict[str, Any]) -> None:
    """A router with a flavor keeps the mode its flavor gave it."""
    if router.flavor_id is None:
        return
    if any(
        flag in body and validate.boolean(body, flag) != getattr(router, flag) for flag in FLAGS
    ):
        raise BadRequest(
            "Bad router request: the distributed and ha attributes of a router with a flavor "
            "cannot be changed."
        )
