"""Image v2 HTTP routes (Glance-compatible), mounted at /image."""

from kumo.api.image import data, images, members, versions
from kumo.api.routing import GatedRouter

router = GatedRouter()
router.add_api_route("", versions.versions, methods=["GET"])
router.add_api_route("/", versions.versions, methods=["GET"])
router.include_router(versions.router)
router.include_router(images.router)
router.include_router(data.router)
router.include_router(members.router)
