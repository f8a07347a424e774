"""Gated routers: nested gates, and paths outside a gate still reach their routes."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.testclient import TestClient

from kumo.api.routing import GatedRouter, include, settle


def _app() -> tuple[FastAPI, GatedRouter, GatedRouter]:
    ports = GatedRouter(local="/v2.0/ports")
    ports.add_api_route("/v2.0/ports", lambda: "ports", methods=["GET"])
    ports.add_api_route("/v2.0/ports/{ident}", lambda ident: ident, methods=["GET"])
    api = GatedRouter()
    api.add_api_route("", lambda: "versions", methods=["GET"])
    api.include_router(ports)
    other = GatedRouter()
    other.add_api_route("/v2.0/ports", lambda: "other", methods=["GET"])
    app = FastAPI()
    include(app, other, "/other")
    include(app, api, "/net")
    return app, api, ports


def test_gates_nest_under_the_prefix_of_the_outer_router() -> None:
    app, api, ports = _app()
    assert (api.gate, ports.gate) == ("/net", "/net/v2.0/ports")
    c = TestClient(app)
    assert c.get("/net").json() == "versions"
    assert c.get("/net/v2.0/ports").json() == "ports"
    assert c.get("/net/v2.0/ports/p1").json() == "p1"
    assert c.get("/other/v2.0/ports").json() == "other"
    assert c.get("/net/v2.0/networks").status_code == 404
    assert c.post("/net/v2.0/ports").status_code == 405


def test_a_settled_app_walks_its_routers_once_and_still_sees_routes_added_to_it() -> None:
    app, api, ports = _app()
    settle(app)
    walks = 0
    walk = type(api)._get_routes_version

    def counted(self: GatedRouter, seen: set[int] | None = None) -> int:
        nonlocal walks
        walks += 1
        return walk(self, seen)

    GatedRouter._get_routes_version = counted  # type: ignore[method-assign]
    try:
        c = TestClient(app)
        assert c.get("/net/v2.0/ports/p1").json() == "p1"
        assert c.get("/other/v2.0/ports").json() == "other"
        assert walks == 0
        app.add_api_route("/late", lambda: "late", methods=["GET"])
        assert c.get("/late").json() == "late"
        assert c.get("/net/v2.0/ports").json() == "ports"
    finally:
        GatedRouter._get_routes_version = walk  # type: ignore[method-assign]
