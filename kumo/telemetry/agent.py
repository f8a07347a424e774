"""The metrics of a host agent, and the small HTTP server that exposes them.

``kumo agent --metrics-port P`` serves ``/metrics`` and ``/readyz`` on
``--metrics-address`` (default 127.0.0.1). The agent's registry holds its
passes (total time by kind: ``full`` when every reconciler checked
everything, ``incremental`` otherwise; and time per step), ports wired,
reconcile errors by object type, HA state per router, DHCP replies,
metadata requests, and (``traffic.TrafficCollector``) the bytes and
packets of its ports, floating IPs and router gateways, read from
nftables once per scrape.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

log = logging.getLogger("kumo.agent.metrics")

PASS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class AgentMetrics:
    def __init__(self, host: str) -> None:
        self.host = host
        self.registry = CollectorRegistry()
        r = self.registry
        self.passes = Histogram(
            "kumo_agent_pass_seconds",
            "Agent passes (compile, sinks, dataplane, report) by kind: full or incremental",
            ["kind"], buckets=PASS_BUCKETS, registry=r)  # fmt: skip
        self.steps = Histogram(
            "kumo_agent_pass_step_seconds",
            "Time of each step of a pass: compile, sinks, report and each reconciler",
            ["step"], buckets=PASS_BUCKETS, registry=r)  # fmt: skip
        self.ports_wired = Gauge(
            "kumo_agent_ports_wired", "Ports of this host whose plumbing is in place", registry=r
        )
        self.reconcile_errors = Counter(
            "kumo_agent_reconcile_errors",
            "Kernel objects a pass failed to bring in line, by object type",
            ["object_type"], registry=r)  # fmt: skip
        self.pass_crashes = Counter(
            "kumo_agent_pass_crashes", "Passes that raised (a bug, retried)", registry=r
        )
        self.ha_active = Gauge(
            "kumo_agent_ha_router_active",
            "HA routers' gateways on this host: 1 active, 0 standby",
            ["router_id"], registry=r)  # fmt: skip
        self.ready = Gauge("kumo_agent_ready", "1 once the agent is registered and in sync",
                           registry=r)  # fmt: skip

    def observe_pass(self, result: Any, steps: dict[str, float], total: float) -> None:
        scope = "full" if getattr(result, "full", False) else "incremental"
        self.passes.labels(scope).observe(total)
        for name, spent in steps.items():
            self.steps.labels(name).observe(spent)
        for name, spent in getattr(result, "timings", ()):
            self.steps.labels(name).observe(spent)
        self.ports_wired.set(len(getattr(result, "wired_ports", ())))
        for key in getattr(result, "errors", None) or {}:
            self.reconcile_errors.labels(str(key).split(":", 1)[0]).inc()

    def follow_stats(
        self, name: str, doc: str, stats: Callable[[], dict[str, int]], keys: tuple[str, ...]
    ) -> None:
        """A counter family read at each scrape from a component's own tallies
        (the DHCP responder's, the metadata server's): one sample per key."""
        self.registry.register(_StatsCollector(name, doc, stats, keys))

    def set_ha(self, states: dict[str, str]) -> None:
        self.ha_active.clear()
        for router_id, state in states.items():
            self.ha_active.labels(router_id).set(1 if state == "active" else 0)


class _StatsCollector(Collector):
    def __init__(
        self, name: str, doc: str, stats: Callable[[], dict[str, int]], keys: tuple[str, ...]
    ) -> None:
        self.name, self.doc, self.stats, self.keys = name, doc, stats, keys

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.doc, labels=["outcome"])
        tallies = self.stats()
        for key in self.keys:
            family.add_metric([key], float(tallies.get(key, 0)))
        yield family


class MetricsServer:
    """``/metrics`` and ``/readyz`` of an agent, on a thread of its own."""

    def __init__(
        self,
        registry: CollectorRegistry,
        readiness: Callable[[], dict[str, Any]],
        address: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, ctype, status = generate_latest(outer.registry), CONTENT_TYPE_LATEST, 200
                elif path == "/readyz":
                    state = outer.readiness()
                    body = json.dumps(state).encode()
                    ctype, status = "application/json", 200 if state.get("ready") else 503
                else:
                    body, ctype, status = b'{"error": "not found"}', "application/json", 404
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.registry = registry
        self.readiness = readiness
        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="kumo-agent-metrics", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("metrics and readiness on %s/metrics, %s/readyz", self.url, self.url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
