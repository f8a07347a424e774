"""The drivers a service profile may name, and what each makes of a router.

kumo has one implementation of each advanced service, its host agents: the
provider ``kumo`` of ``GET /v2.0/service-providers``. A service profile's
``driver`` is therefore one of:

- ``kumo``: kumo's own driver; a router of such a flavor gets the cloud's
  defaults (distributed, HA as configured), as without a flavor;
- one of Neutron's four L3 provider drivers, which name a router mode kumo
  has: ``...single_node.SingleNodeDriver`` (centralized), ``...ha.HaDriver``
  (centralized, HA), ``...dvr.DvrDriver`` (distributed),
  ``...dvrha.DvrHaDriver`` (distributed, HA gateway);
- empty, with ``metainfo`` (kept and shown; it cannot serve a router).

Anything else is ``ServiceProfileDriverNotFound`` (404), as Neutron answers
for a driver no service provider has.
"""

from __future__ import annotations

from dataclasses import dataclass

from kumo.errors import NotFound

KUMO = "kumo"
_NEUTRON_L3 = "neutron.services.l3_router.service_providers."


@dataclass(frozen=True)
class RouterMode:
    """What a driver makes of a router: None keeps the cloud's default."""

    distributed: bool | None
    ha: bool | None


ROUTER_MODES: dict[str, RouterMode] = {
    KUMO: RouterMode(None, None),
    _NEUTRON_L3 + "single_node.SingleNodeDriver": RouterMode(False, False),
    _NEUTRON_L3 + "ha.HaDriver": RouterMode(False, True),
    _NEUTRON_L3 + "dvr.DvrDriver": RouterMode(True, False),
    _NEUTRON_L3 + "dvrha.DvrHaDriver": RouterMode(True, True),
}
"""The drivers that serve routers (L3_ROUTER_NAT)."""
DRIVERS = frozenset(ROUTER_MODES)
"""Every driver a profile may name (kumo's serves every kumo service)."""

SERVICE_TYPES = frozenset({"FLAVORS", "L3_ROUTER_NAT", "METERING", "QOS"})
"""The service types a flavor may be of: the services kumo runs."""
L3 = "L3_ROUTER_NAT"


def driver_not_found(driver: str) -> NotFound:
    return NotFound(
        f"Service Profile driver {driver} could not be found.", kind="ServiceProfileDriverNotFound"
    )


def check(driver: str) -> str:
    if driver and driver not in DRIVERS:
        raise driver_not_found(driver)
    return driver
