"""The ASGI application: one FastAPI app serving every API of kumo."""

from __future__ import annotations

from fastapi import FastAPI

from kumo.api import draining, faults, policy_gate
from kumo.api.access_log import AccessLogMiddleware
from kumo.api.json_text import StrictJsonMiddleware
from kumo.api.routing import include, settle
from kumo.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    from kumo.api.compute import router as compute_router
    from kumo.api.compute.microversion import MicroversionMiddleware
    from kumo.api.identity import router as identity_router
    from kumo.api.image import router as image_router
    from kumo.api.internal import router as internal_router
    from kumo.api.networking import router as networking_router
    from kumo.api.orchestration import router as orchestration_router
    from kumo.api.root import router as root_router
    from kumo.api.volume import router as volume_router
    from kumo.api.volume.microversion import VolumeMicroversionMiddleware
    from kumo.dashboard.routes import router as dashboard_router
    from kumo.dashboard.session import SessionMiddleware

    # A body without Content-Type is read as JSON, as OpenStack's services read
    # it (clients such as curl scripts and some SDK paths send none); a body
    # that is not JSON is still refused by each API's own fault.
    app = FastAPI(
        title="kumo",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        strict_content_type=False,
        lifespan=draining.lifespan,
    )
    app.state.runtime = runtime
    app.state.draining = draining.Draining()
    faults.install(app)
    app.include_router(root_router)
    include(app, identity_router, "/identity")
    include(app, networking_router, "/networking")
    include(app, internal_router, "/internal/v1")
    include(app, compute_router, "/compute")
    include(app, image_router, "/image")
    include(app, orchestration_router, "/orchestration")
    include(app, volume_router, "/volume")
    include(app, dashboard_router, "")
    app.add_middleware(StrictJsonMiddleware)  # innermost: errors get the microversion headers
    app.add_middleware(MicroversionMiddleware)
    app.add_middleware(VolumeMicroversionMiddleware)
    # the dashboard's cookie becomes the token header (CSRF checked) before anything reads it
    app.add_middleware(SessionMiddleware)
    settings = getattr(runtime, "settings", None)
    metrics = bool(getattr(settings, "metrics", False))
    # outermost: it times, ids and counts everything
    app.add_middleware(AccessLogMiddleware, metrics=metrics)
    policy_gate.attach(app)
    settle(app)  # every route is in place
    if metrics:
        from kumo.telemetry.api import label_routes, watch_pool

        label_routes(app)
        watch_pool(runtime.db.engine)
    return app
