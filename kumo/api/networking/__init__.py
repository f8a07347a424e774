"""Networking v2.0 HTTP routes (Neutron-compatible), mounted at /networking.

One module per resource; each exposes ``router``. The version documents
(``/networking`` and ``/networking/v2.0``) live in ``versions.py``.
"""

from kumo.api import door, policy_gate
from kumo.api.networking import (
    address_groups,
    address_scopes,
    agents,
    auto_allocated,
    availability,
    availability_zones,
    default_security_group_rules,
    extensions,
    flavors,
    floatingip_pools,
    floatingips,
    l3_agents,
    metering,
    networks,
    port_forwardings,
    ports,
    qos,
    quotas,
    rbac_policies,
    routers,
    security_groups,
    segments,
    service_providers,
    subnetpools,
    subnets,
    tags,
    trunks,
    versions,
)
from kumo.api.networking.body_checks import common_attributes
from kumo.api.routing import GatedRouter

router = GatedRouter()
router.add_api_route("", versions.versions, methods=["GET"])
router.add_api_route("/", versions.versions, methods=["GET"])
for _module in (
    versions,
    extensions,
    networks,
    subnets,
    ports,
    security_groups,
    routers,
    floatingips,
    quotas,
    tags,
    availability,
    agents,
    l3_agents,
    auto_allocated,
    rbac_policies,
    address_groups,
    floatingip_pools,
    default_security_group_rules,
    qos,
    port_forwardings,
    metering,
    subnetpools,
    address_scopes,
    availability_zones,
    trunks,
    segments,
    service_providers,
    flavors,
):
    router.include_router(_module.router)

# every body is checked for the attributes all resources share before the
# policy door (Neutron validates bodies before it enforces policy)
for _method, _path, _route in policy_gate.routes(router):
    if _method in ("POST", "PUT"):
        door.add(_route.endpoint, door.BEFORE, common_attributes)
