"""Ties every route to its rule in the policy table.

At start each route gets ``policy_rules`` (method -> rule) from the table;
``authenticate`` admits a caller only when the route's rule could pass for
its roles. ``routes(app)`` lists every (method, path) the app serves, for
the test that fails when one has no rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, FastAPI

from kumo.policy import Rule, for_route


def routes(app: FastAPI | APIRouter) -> Iterator[tuple[str, str, Any]]:
    """(method, full path template, route object) for every route of ``app``
    (or of a router, its paths relative to where it is included)."""

    def walk(items: list[Any], prefix: str) -> Iterator[tuple[str, str, Any]]:
        for r in items:
            if hasattr(r, "original_router"):
                yield from walk(r.original_router.routes, prefix + r.include_context.prefix)
            elif hasattr(r, "path"):
                methods = getattr(r, "methods", None) or {"WS"}
                for m in sorted(methods):
                    yield m, prefix + r.path, r

    yield from walk(list(app.routes), "")


def attach(app: FastAPI) -> None:
    for method, path, route in routes(app):
        table: dict[str, Rule | None] = getattr(route, "policy_rules", None) or {}
        found = for_route(method, path)
        if found is None and method == "HEAD":
            found = for_route("GET", path)
        table[method] = found
        route.policy_rules = table
