"""Enrolling a host's agent: ``POST /internal/v1/agent-credentials``.

``{"host": H}`` from an admin makes, or resets, the credential of ``H``'s
agent and answers it once, password included (``kumo agent enroll``
writes it to a file only root can read).
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.errors import BadRequest
from kumo.identity.agent_credentials import authorize_enrolment

router = GatedRouter()


@router.post("/agent-credentials")
def enroll(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    authorize_enrolment(ctx)
    data = body.get("agent_credential") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest("Expected {'agent_credential': {'host': ...}}")
    made = request.app.state.runtime.identity.enroll_agent(data.get("host"))
    out = {
        "host": made.host,
        "user_id": made.user_id,
        "username": made.user_name,
        "password": made.password,
        "project_name": made.project_name,
        "user_domain_id": made.domain_id,
        "project_domain_id": made.domain_id,
    }
    return json_response({"agent_credential": out}, status=201)
