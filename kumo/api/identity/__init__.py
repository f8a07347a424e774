"""Identity v3 HTTP routes (Keystone-compatible), mounted at /identity."""

from kumo.api.identity import assignments, catalog, resources, tokens, versions
from kumo.api.routing import GatedRouter

router = GatedRouter()
for _path, _handler in (
    ("", versions.versions),
    ("/", versions.versions),
    ("/v3", versions.v3),
    ("/v3/", versions.v3),
):
    router.add_api_route(_path, _handler, methods=["GET"])
for _module in (tokens, resources, assignments, catalog):
    router.include_router(_module.router)
