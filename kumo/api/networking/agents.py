"""Networking v2.0: /v2.0/agents (admins; others list none, as Neutron's default policy)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response, show_response
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.db.uow import run_in_transaction
from kumo.errors import Forbidden, not_found
from kumo.network import agents
from kumo.network.validate import member
from kumo.policy import allowed

router = APIRouter()
ATTRS = {
    "id", "agent_type", "binary", "host", "topic", "availability_zone", "admin_state_up",
    "alive", "description", "configurations", "created_at", "started_at",
    "heartbeat_timestamp", "resources_synced",
}  # fmt: skip


def _admin(ctx: RequestContext, action: str) -> None:
    if not allowed(ctx, "network:get_agent"):
        raise Forbidden(f"(rule:{action}) is disallowed by policy")


@router.get("/v2.0/agents")
def list_agents(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    rt = request.app.state.runtime
    with rt.db.read_session() as s:
        items = agents.visible_views(s, rt.settings, ctx)
    return list_response(request, "agents", items, ATTRS)


@router.get("/v2.0/agents/{agent_id}")
def show_agent(
    agent_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _admin(ctx, "get_agent")
    rt = request.app.state.runtime
    with rt.db.read_session() as s:
        for item in agents.list_views(s, rt.settings):
            if item["id"] == agent_id:
                return show_response(request, "agent", item)
    raise not_found("agent", agent_id)


@router.put("/v2.0/agents/{agent_id}")
def update_agent(
    agent_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _admin(ctx, "update_agent")
    rt = request.app.state.runtime
    data = member(body, "agent")
    agent = run_in_transaction(rt.db, lambda uow: agents.update(uow, rt.settings, agent_id, data))
    return json_response({"agent": agents.view(agent, rt.settings)})


@router.delete("/v2.0/agents/{agent_id}")
def delete_agent(
    agent_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _admin(ctx, "delete_agent")
    rt = request.app.state.runtime
    run_in_transaction(rt.db, lambda uow: agents.remove(uow, rt.settings, agent_id))
    return no_content()
