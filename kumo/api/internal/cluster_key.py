"""``GET /internal/v1/cluster-key``: the key agents seal underlay messages with.

An agent reads it once at start and seals its HA beats and state sync
datagrams with it (``kumo.ha.seal``). Only callers with role ``service`` or
``admin`` may read it: 401 without a token, 403 for anyone else. The body::

    {"cluster_key": {"key": BASE64, "id": HEX, "algorithm": "HMAC-SHA256",
                     "created_at": "YYYY-MM-DDTHH:MM:SSZ"}}

``id`` names the key in agents' logs (the same value ``kumo.ha.seal``
puts in each datagram).
"""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.errors import Forbidden
from kumo.ha.seal import ClusterKey
from kumo.network import cluster_key

router = GatedRouter(local="/cluster-key")


def may_read_cluster_key(ctx: RequestContext) -> None:
    """Authorization of reading the cluster key: agents (role service) and admins."""
    if not ({"service", "admin"} & ctx.roles):
        raise Forbidden("Only agents (role service) and admins may read the cluster key.")


@router.get("/cluster-key")
async def show(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    may_read_cluster_key(ctx)
    key = await run_in_threadpool(cluster_key.underlay_key, request.app.state.runtime.db)
    sealing = ClusterKey(key.secret)
    body = {
        "key": sealing.text(),
        "id": sealing.id.hex(),
        "algorithm": "HMAC-SHA256",
        "created_at": key.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return json_response({"cluster_key": body}, headers={"Cache-Control": "no-store"})
