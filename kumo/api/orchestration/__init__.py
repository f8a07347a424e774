"""Orchestration v1 HTTP routes (Heat-compatible), mounted at /orchestration.

``stacks.py`` serves stacks and everything under them; ``misc.py`` the
template validation, resource types, template versions and the version
document; ``handles.py`` the wait condition handles' own signal URL; ``software.py`` the
software configs and deployments.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kumo.api.orchestration import handles, misc, software, stacks
from kumo.api.routing import GatedRouter


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The engine: fail what a dead engine left, hold leases; on a graceful stop,
    fail this server's operations in progress at once."""
    engine = app.state.runtime.orchestration.engine
    await asyncio.to_thread(engine.start)
    try:
        yield
    finally:
        await asyncio.to_thread(engine.shutdown)


router = GatedRouter(lifespan=lifespan)
router.add_api_route("", misc.version_document, methods=["GET"])
router.add_api_route("/", misc.version_document, methods=["GET"])
for _module in (stacks, misc, handles, software):
    router.include_router(_module.router, prefix="/v1/{project_id}")
