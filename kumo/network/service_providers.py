"""Service providers (``service-type``): the drivers behind each advanced
service, as ``GET /v2.0/service-providers`` lists them.

kumo has one driver per service it offers, its own host agents; the list is
fixed by the code, not by configuration.
"""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.policy import authorize

ATTRIBUTES = frozenset({"service_type", "name", "default"})

PROVIDERS: tuple[tuple[str, str], ...] = (
    ("L3_ROUTER_NAT", "kumo"),
    ("METERING", "kumo"),
    ("QOS", "kumo"),
)
"""(service type, provider name): every one is its service's default."""


def list_providers(ctx: RequestContext) -> list[dict[str, Any]]:
    authorize(ctx, "network:get_service_provider")
    return [{"service_type": service, "name": name, "default": True} for service, name in PROVIDERS]
