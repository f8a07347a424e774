"""Routers that turn away foreign paths before trying any of their routes.

FastAPI tries every route of every included router in order, and a request
for /networking/v2.0/ports would otherwise be matched against each identity
route first. Each API's router is included under its own prefix, so a path
outside that prefix can match none of its routes: ``GatedRouter`` says so
at once.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.routing import Match
from starlette.types import Scope


class GatedRouter(APIRouter):
    gate = ""
    """The prefix every path of this router starts with once included."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.gate and not scope.get("path", "").startswith(self.gate):
            return Match.NONE, {}
        return super().matches(scope)


def include(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """``app.include_router(router, prefix=prefix)``, gating ``GatedRouter``s."""
    if isinstance(router, GatedRouter):
        router.gate = prefix
    app.include_router(router, prefix=prefix)
