"""Identity v3 HTTP routes (Keystone-compatible), mounted at /identity."""

from fastapi import APIRouter

from kumo.api.identity import assignments, catalog, resources, tokens, versions

router = APIRouter()
for _path, _handler in (
    ("", versions.versions),
    ("/", versions.versions),
    ("/v3", versions.v3),
    ("/v3/", versions.v3),
):
    router.add_api_route(_path, _handler, methods=["GET"])
for _module in (tokens, resources, assignments, catalog):
    router.include_router(_module.router)
