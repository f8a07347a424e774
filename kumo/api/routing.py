"""Routers that turn away foreign paths before trying any of their routes.

FastAPI tries every route of every included router in order (and does so
twice per request: once to find the router, once inside it), so a request
for /networking/v2.0/ports would otherwise be matched against each identity
route, then each networking route before the ports ones. A ``GatedRouter``
knows the prefix all its paths start with once included (its ``gate``) and
says at once that a path outside it matches none of its routes.

Gates nest: a GatedRouter made with ``local="/v2.0/ports"`` (all its paths
start with that) and included, directly or through other GatedRouters, in
one that ``include`` puts under ``/networking`` is gated at
``/networking/v2.0/ports``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import Match
from starlette.types import Scope


class GatedRouter(APIRouter):
    def __init__(self, *args: Any, local: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.local = local
        """The prefix every path of this router starts with, where it is defined."""
        self.gate = ""
        """The prefix every path of this router starts with once included ("": ungated)."""
        self._gated: list[tuple[str, GatedRouter]] = []

    def include_router(self, router: APIRouter, *args: Any, **kwargs: Any) -> None:
        if isinstance(router, GatedRouter):
            self._gated.append((kwargs.get("prefix", ""), router))
        super().include_router(router, *args, **kwargs)

    def open_gate(self, prefix: str) -> None:
        """Record that this router is included under ``prefix``, as are its gated children."""
        self.gate = prefix + self.local
        for child_prefix, child in self._gated:
            child.open_gate(prefix + child_prefix)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.gate and not scope.get("path", "").startswith(self.gate):
            return Match.NONE, {}
        return super().matches(scope)


def include(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """``app.include_router(router, prefix=prefix)``, gating ``GatedRouter``s."""
    if isinstance(router, GatedRouter):
        router.open_gate(prefix)
    app.include_router(router, prefix=prefix)


def settle(app: FastAPI) -> None:
    """Let route matching skip FastAPI's walk over every router at each request.

    FastAPI (0.165) asks a router for its "routes version" each time it
    matches a request there, to notice routes added since the last request:
    the router's own count of changes plus that of every router included in
    it, found by walking all their routes (for the app's router, every route
    of every API: ~50 µs, several times per request). kumo adds its routes
    before ``create_app`` returns; ``settle`` then keeps each router's
    version as it is. A router that gets a route afterwards (its own count
    moves) walks again, and reports a new version.
    """
    routers: list[APIRouter] = []
    todo: list[APIRouter] = [app.router]
    while todo:
        router = todo.pop()
        if any(router is r for r in routers):
            continue
        routers.append(router)
        todo.extend(r.original_router for r in router.routes if hasattr(r, "original_router"))
    kept = [(router, _walk(router)()) for router in routers]
    for router, version in kept:
        setattr(router, "_get_routes_version", _kept(router, version))  # noqa: B010


def _walk(router: APIRouter) -> Callable[..., int]:
    """FastAPI's own version walk for ``router`` (not one ``settle`` kept)."""
    walk: Callable[..., int] = type(router)._get_routes_version.__get__(router)
    return walk


def _kept(router: APIRouter, version: int) -> Callable[..., int]:
    own: int = router._routes_version

    def routes_version(seen: set[int] | None = None) -> int:
        if router._routes_version != own:
            return _walk(router)(seen)
        return version

    return routes_version
