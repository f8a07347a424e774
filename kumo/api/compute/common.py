"""What every compute route needs: the service, the caller's version, the base URL."""

from __future__ import annotations

from fastapi import Request

from kumo.compute import microversion
from kumo.compute.microversion import Version
from kumo.compute.service import ComputeService
from kumo.errors import NotFound


def service(request: Request) -> ComputeService:
    svc: ComputeService = request.app.state.runtime.compute
    return svc


def version(request: Request) -> Version:
    found = getattr(request.state, "compute_version", None)
    return found if isinstance(found, Version) else microversion.MIN


def base(request: Request) -> str:
    """The compute root URL (``.../compute``) that links are built from."""
    settings = request.app.state.runtime.settings
    return str(settings.public_url or str(request.base_url)).rstrip("/") + "/compute"


def params(request: Request) -> dict[str, str]:
    """Query parameters, the last value of each."""
    return dict(request.query_params.items())


def served_until(request: Request, last: str) -> None:
    """404 for a request above microversion ``last``: Nova's deprecated APIs
    (the network proxies to 2.35, ``os-hosts`` to 2.42) are gone from then on."""
    if version(request) > microversion.parse(last):
        raise NotFound("The resource could not be found.")


def served_from(request: Request, first: str) -> None:
    """404 for a request below microversion ``first`` (an API Nova added then)."""
    if version(request) < microversion.parse(first):
        raise NotFound("The resource could not be found.")
