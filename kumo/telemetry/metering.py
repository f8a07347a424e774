"""Metering labels' traffic on one host, as Prometheus samples.

The agent's totals per label (``kumo.agent.metering``: what this host's
router namespaces counted since the agent started, never going down) as
``kumo_metering_label_bytes_total`` and ``..._packets_total``, labelled
with the host, the label and its project; ``sum by (label_id)`` over the
agents is a label's traffic (the API's
``GET /v2.0/metering/metering-labels/{id}/counts`` gives the same sum).
The API's own ``/metrics`` carries no tenant's objects, so the sums are
not there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

LABELS = ["host", "project_id", "label_id"]


class MeteringCollector(Collector):
    def __init__(
        self,
        host: str,
        totals: Callable[[], dict[str, tuple[int, int]]],
        body: Callable[[str, str], dict[str, Any] | None],
    ) -> None:
        self.host = host
        self.totals = totals
        """Label id → (bytes, packets)."""
        self.body = body

    def _families(self) -> tuple[CounterMetricFamily, CounterMetricFamily]:
        return (
            CounterMetricFamily(
                "kumo_metering_label_bytes",
                "Bytes a metering label counted on this host's routers",
                labels=LABELS,
            ),
            CounterMetricFamily(
                "kumo_metering_label_packets",
                "Packets a metering label counted on this host's routers",
                labels=LABELS,
            ),
        )

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(self._families())

    def collect(self) -> Iterator[CounterMetricFamily]:
        nbytes, packets = self._families()
        for label_id, (b, p) in sorted(self.totals().items()):
            label = self.body("metering_label", label_id)
            if label is None:
                continue  # deleted: its series ends
            labels = [self.host, str(label.get("project_id", "")), label_id]
            nbytes.add_metric(labels, float(b))
            packets.add_metric(labels, float(p))
        yield nbytes
        yield packets
