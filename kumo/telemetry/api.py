"""The metrics of an API server.

Requests are labelled by route template (``/networking/v2.0/ports/{ident}``,
never the raw path: ids would make one series per object), method and
status. Gauges of live things (connections in use, watch subscribers,
console sessions) are summed over the live workers of a run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED = "(unmatched)"
"""The route label of requests no route matched (404s, mostly)."""

REQUESTS = Histogram(
    "kumo_api_request_duration_seconds",
    "API requests by route template, method and status: count and time to the last byte",
    ["route", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
DB_IN_USE = Gauge(
    "kumo_db_connections_in_use",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
DB_OPEN = Gauge(
    "kumo_db_connections_open",
    "Database connections the pool holds open (in use or idle)",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "kumo_db_pool_capacity",
    "Connections the pool may open (size plus overflow)",
    multiprocess_mode="livesum",
)
OUTBOX_LAG = Histogram(
    "kumo_outbox_lag_seconds",
    "Time from an outbox event's commit to the watch feed of this API server reading it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
OUTBOX_REVISION = Gauge(
    "kumo_outbox_revision",
    "The newest outbox revision the watch feed has read",
    multiprocess_mode="max",
)
WATCHERS = Gauge(
    "kumo_watch_subscribers",
    "Open watch streams (agents following the change feed)",
    multiprocess_mode="livesum",
)
CONSOLE_SESSIONS = Gauge(
    "kumo_console_sessions",
    "Open serial console websocket sessions",
    multiprocess_mode="livesum",
)
CONSOLE_OPENED = Counter("kumo_console_sessions_opened", "Serial console sessions opened")


@contextlib.contextmanager
def console_session(counted: bool = True) -> Iterator[None]:
    """One console session for the span of the block (``counted`` False:
    metrics are off and nothing is counted)."""
    if not counted:
        yield
        return
    CONSOLE_OPENED.inc()
    CONSOLE_SESSIONS.inc()
    try:
        yield
    finally:
        CONSOLE_SESSIONS.dec()


_children: dict[tuple[str, str, int], Any] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one request (the labelled child is looked up once per label set)."""
    key = (route, method, status)
    child = _children.get(key)
    if child is None:
        child = _children[key] = REQUESTS.labels(route, method, str(status))
    child.observe(seconds)


def route_template(scope: Any) -> str:
    """The template of the route that served ``scope`` (set on the route
    by ``label_routes``)."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    return str(getattr(route, "metric_template", None) or getattr(route, "path", UNMATCHED))


def label_routes(app: Any) -> None:
    """Give every route of ``app`` its full path template."""
    from kumo.api.policy_gate import routes

    for _method, path, route in routes(app):
        route.metric_template = path


def watch_pool(engine: Any) -> None:
    """Follow a SQLAlchemy engine's pool: connections open and in use."""
    from sqlalchemy import event

    pool = engine.pool
    DB_POOL_SIZE.inc(pool.size() + max(0, getattr(pool, "_max_overflow", 0)))

    @event.listens_for(engine, "checkout")
    def _checkout(*_: Any) -> None:
        DB_IN_USE.inc()

    @event.listens_for(engine, "checkin")
    def _checkin(*_: Any) -> None:
        DB_IN_USE.dec()

    @event.listens_for(engine, "connect")
    def _connect(*_: Any) -> None:
        DB_OPEN.inc()

    @event.listens_for(engine, "close")
    def _close(*_: Any) -> None:
        DB_OPEN.dec()
