"""What every orchestration route needs: the service, the endpoint, query parameters."""

from __future__ import annotations

from fastapi import Request

from kumo.orchestration.service import OrchestrationService


def service(request: Request) -> OrchestrationService:
    svc: OrchestrationService = request.app.state.runtime.orchestration
    return svc


def base(request: Request) -> str:
    settings = request.app.state.runtime.settings
    return str(settings.public_url or str(request.base_url)).rstrip("/")


def endpoint(request: Request, project_id: str) -> str:
    """``.../orchestration/v1/{project_id}``: what links and signal URLs start with."""
    return f"{base(request)}/orchestration/v1/{project_id}"


def query(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


def flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    return value.lower() in ("true", "1", "yes", "on")
