"""Block Storage v3 HTTP routes (Cinder-compatible), mounted at /volume.

Paths carry no project id (Cinder's form since microversion 3.67); the
catalog's ``block-storage``/``volumev3`` endpoint is ``.../volume/v3``.
One module per resource; ``microversion.py`` negotiates the version of
every /volume/v3 request.
"""

from kumo.api.routing import GatedRouter
from kumo.api.volume import (
    admin,
    attachments,
    groups,
    qos,
    quotas,
    snapshots,
    transfers,
    types,
    versions,
    volumes,
)

router = GatedRouter()
router.add_api_route("", versions.versions, methods=["GET"])
router.add_api_route("/", versions.versions, methods=["GET"])
router.add_api_route("/v3", versions.v3, methods=["GET"])
router.add_api_route("/v3/", versions.v3, methods=["GET"])
for _module in (volumes, snapshots, types, quotas, attachments, groups, admin, qos, transfers):
    router.include_router(_module.router, prefix="/v3")
