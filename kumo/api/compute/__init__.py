"""Compute v2.1 HTTP routes (Nova-compatible), mounted at /compute.

One module per resource; each exposes ``router`` (paths under /v2.1).
``microversion.py`` negotiates the version of every /compute/v2.1 request.
"""

from kumo.api.compute import (
    console,
    extensions,
    flavors,
    hosts,
    images,
    keypairs,
    limits,
    network_proxies,
    os_hosts,
    server_groups,
    server_metadata,
    servers,
    usage,
    versions,
    volume_attachments,
)
from kumo.api.routing import GatedRouter

router = GatedRouter()
router.add_api_route("", versions.versions, methods=["GET"])
router.add_api_route("/", versions.versions, methods=["GET"])
router.include_router(versions.router)
for _module in (
    flavors,
    servers,
    server_metadata,
    volume_attachments,
    keypairs,
    server_groups,
    hosts,
    os_hosts,
    limits,
    network_proxies,
    images,
    extensions,
    console,
    usage,
):
    router.include_router(_module.router, prefix="/v2.1")
router.include_router(console.proxy)
