"""Port-block leases of distributed SNAT, for the agents.

``POST /internal/v1/snat-leases`` with ``{"snat_lease": {"router_id": R,
"host": H}}`` leases the next free block of R's external address to H
(201, the lease); 409 ``SnatPortBlocksExhausted`` when H holds its share
or no block is free. ``DELETE /internal/v1/snat-leases/{id}`` returns one
(204). An agent acts only for its own host (``kumo.network.snat.leases``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.db.uow import run_in_transaction
from kumo.errors import BadRequest
from kumo.network.snat import leases
from kumo.network.snat.views import lease_view

router = GatedRouter()


@router.post("/snat-leases")
def allocate(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    rt = request.app.state.runtime
    data = body.get("snat_lease") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) and data.get(k) for k in ("router_id", "host")
    ):
        raise BadRequest("Expected {'snat_lease': {'router_id': ..., 'host': ...}}")
    lease = run_in_transaction(
        rt.db,
        lambda uow: lease_view(
            leases.allocate(uow, rt.settings, ctx, data["router_id"], data["host"])
        ),
    )
    return json_response({"snat_lease": lease}, status=201)


@router.delete("/snat-leases/{lease_id}")
def release(
    lease_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    rt = request.app.state.runtime
    run_in_transaction(rt.db, lambda uow: leases.release(uow, ctx, lease_id))
    return Response(status_code=204)
