"""Networking v2.0: the l3_agent_scheduler extension (admin only).

``/v2.0/routers/{id}/l3-agents`` lists the gateway agents hosting a router
in priority order (with each one's ``ha_state`` for an HA router);
``/v2.0/agents/{id}/l3-routers`` lists, adds and removes the routers an
agent hosts (adding moves a router that is not HA).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.uow import run_in_transaction
from kumo.errors import BadRequest, Forbidden, not_found
from kumo.network import agents, validate
from kumo.network.l3 import routers
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.network.l3.views import render_routers
from kumo.policy import allowed

router = APIRouter()


def _admin(ctx: RequestContext, action: str) -> None:
    if not allowed(ctx, "network:l3_scheduling"):
        raise Forbidden(f"(rule:{action}) is disallowed by policy")


@router.get("/v2.0/routers/{router_id}/l3-agents")
def list_l3_agents(
    router_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _admin(ctx, "get_l3-agents")
    rt = request.app.state.runtime
    now = utcnow()
    with rt.db.read_session() as s:
        found = routers.load(s, ctx, router_id)
        items = [
            {
                **agents.view(agent, rt.settings, now),
                "ha_state": l3_scheduler.ha_state(found, row, agent, rt.settings, now),
            }
            for row, agent in l3_scheduler.bindings(s, router_id)
        ]
    return list_response(request, "agents", items)


@router.get("/v2.0/agents/{agent_id}/l3-routers")
def list_l3_routers(
    agent_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _admin(ctx, "get_l3-routers")
    rt = request.app.state.runtime
    with rt.db.read_session() as s:
        if s.get(Agent, agent_id) is None:
            raise not_found("agent", agent_id)
        items = render_routers(s, l3_scheduler.routers_on(s, agent_id))
    return list_response(request, "routers", items)


@router.post("/v2.0/agents/{agent_id}/l3-routers")
def add_l3_router(
    agent_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _admin(ctx, "create_l3-router")
    if not isinstance(body, dict) or not body.get("router_id"):
        raise BadRequest("Failed to parse request. Required attribute 'router_id' not specified")
    router_id = validate.uuid(body["router_id"], "router_id")
    rt = request.app.state.runtime
    run_in_transaction(
        rt.db, lambda uow: l3_scheduler.add_router(uow, rt.settings, agent_id, router_id)
    )
    return json_response(None, status=201)


@router.delete("/v2.0/agents/{agent_id}/l3-routers/{router_id}")
def remove_l3_router(
    agent_id: str, router_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _admin(ctx, "delete_l3-router")
    rt = request.app.state.runtime
    run_in_transaction(
        rt.db, lambda uow: l3_scheduler.remove_router(uow, rt.settings, agent_id, router_id)
    )
    return no_content()
