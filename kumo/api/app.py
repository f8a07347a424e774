"""The ASGI application: one FastAPI app serving every API of kumo."""

from __future__ import annotations

from fastapi import FastAPI

from kumo.api import faults, policy_gate
from kumo.api.access_log import AccessLogMiddleware
from kumo.api.routing import include
from kumo.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    from kumo.api.compute import router as compute_router
    from kumo.api.compute.microversion import MicroversionMiddleware
    from kumo.api.identity import router as identity_router
    from kumo.api.image import router as image_router
    from kumo.api.internal import router as internal_router
    from kumo.api.networking import router as networking_router
    from kumo.api.root import router as root_router
    from kumo.api.volume import router as volume_router
    from kumo.api.volume.microversion import VolumeMicroversionMiddleware

    app = FastAPI(title="kumo", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    faults.install(app)
    app.include_router(root_router)
    include(app, identity_router, "/identity")
    include(app, networking_router, "/networking")
    include(app, internal_router, "/internal/v1")
    include(app, compute_router, "/compute")
    include(app, image_router, "/image")
    include(app, volume_router, "/volume")
    app.add_middleware(MicroversionMiddleware)
    app.add_middleware(VolumeMicroversionMiddleware)
    app.add_middleware(AccessLogMiddleware)  # outermost: it times and ids everything
    policy_gate.attach(app)
    return app
