"""Traffic metering: the nftables counters of one host, as Prometheus samples.

At each scrape the agent reads the named counters of its host's ``bridge
kumo`` table (two per filtered port: ``tx<i>``, ``rx<i>``, see
``kumo.dataplane.nftables.render``) and of each router namespace's
``ip kumo_nat`` table (per floating IP and per gateway, see
``kumo.dataplane.nftables.nat``): one read per namespace, never one per
object. Labels come from the plan the counters were written for (port
index → port) and the agent's cache (project, network, floating IP id).
Directions are the instance's: a port's ``sent`` bytes left the instance.
A counter starts again from zero when its port is wired anew, as
Prometheus counters may.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS, HostPlan
from kumo.dataplane.nftables.nat import floating_ip_of

PORT_LABELS = ["host", "project_id", "network_id", "port_id"]
FIP_LABELS = ["host", "project_id", "floatingip_id", "floating_ip", "port_id", "direction"]
GATEWAY_LABELS = ["host", "project_id", "router_id", "direction"]


class TrafficCollector(Collector):
    def __init__(
        self,
        host: str,
        read: Callable[[], dict[str, list[dict[str, Any]]]],
        plan: Callable[[], HostPlan],
        body: Callable[[str, str], dict[str, Any] | None],
        bodies: Callable[[str], dict[str, dict[str, Any]]],
    ) -> None:
        self.host = host
        self.read = read
        """netns → counters, as ``Dataplane.read_counters`` gives them."""
        self.plan = plan
        self.body = body
        """(kind, id) → the cached body, or None."""
        self.bodies = bodies
        """kind → every cached body of that kind, by id."""

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(self._families())

    def _families(self) -> list[CounterMetricFamily]:
        def fam(name: str, doc: str, labels: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(name, doc, labels=labels)

        return [
            fam("kumo_port_sent_bytes", "Bytes a port sent (left the instance)", PORT_LABELS),
            fam("kumo_port_sent_packets", "Packets a port sent", PORT_LABELS),
            fam(
                "kumo_port_received_bytes", "Bytes bridged to a port (to the instance)", PORT_LABELS
            ),  # fmt: skip
            fam("kumo_port_received_packets", "Packets bridged to a port", PORT_LABELS),
            fam(
                "kumo_floatingip_bytes", "Bytes to (in) and from (out) a floating IP", FIP_LABELS
            ),  # fmt: skip
            fam("kumo_floatingip_packets", "Packets to and from a floating IP", FIP_LABELS),
            fam(
                "kumo_router_gateway_bytes",
                "Bytes through a router's gateway (SNAT) on this host",
                GATEWAY_LABELS,
            ),  # fmt: skip
            fam(
                "kumo_router_gateway_packets", "Packets through a router's gateway", GATEWAY_LABELS
            ),  # fmt: skip
        ]

    def collect(self) -> Iterator[CounterMetricFamily]:
        (sent_b, sent_p, recv_b, recv_p, fip_b, fip_p, gw_b, gw_p) = self._families()
        counters = self.read()
        plan = self.plan()
        by_index = {p.index: p.port_id for p in plan.firewall.ports}
        for c in counters.get(HOST_NS, ()):
            name = str(c.get("name", ""))
            kind, digits = name[:2], name[2:]
            if kind not in ("tx", "rx") or not digits.isdigit():
                continue
            port_id = by_index.get(int(digits))
            if port_id is None:
                continue
            port = self.body("port", port_id) or {}
            labels = [self.host, _project(port), str(port.get("network_id", "")), port_id]
            b, p = (sent_b, sent_p) if kind == "tx" else (recv_b, recv_p)
            b.add_metric(labels, float(c.get("bytes", 0)))
            p.add_metric(labels, float(c.get("packets", 0)))
        fips = {str(f.get("floating_ip_address")): f for f in self.bodies("floatingip").values()}
        routers = self._router_of_netns()
        for netns, items in counters.items():
            if netns == HOST_NS:
                continue
            for c in items:
                name = str(c.get("name", ""))
                found = floating_ip_of(name)
                if found is not None:
                    direction, ip = found
                    fip = fips.get(ip) or {}
                    labels = [self.host, _project(fip), str(fip.get("id", "")), ip,
                              str(fip.get("port_id") or ""), direction]  # fmt: skip
                    fip_b.add_metric(labels, float(c.get("bytes", 0)))
                    fip_p.add_metric(labels, float(c.get("packets", 0)))
                elif name in ("gw_in", "gw_out"):
                    router_id = routers.get(netns, "")
                    router = self.body("router", router_id) or {}
                    labels = [self.host, _project(router), router_id, name[3:]]
                    gw_b.add_metric(labels, float(c.get("bytes", 0)))
                    gw_p.add_metric(labels, float(c.get("packets", 0)))
        yield from (sent_b, sent_p, recv_b, recv_p, fip_b, fip_p, gw_b, gw_p)

    def _router_of_netns(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for router_id in self.bodies("router"):
            out[names.router_netns(self.host, router_id)] = router_id
            out[names.snat_netns(self.host, router_id)] = router_id
        return out


def _project(body: dict[str, Any]) -> str:
    return str(body.get("project_id") or body.get("tenant_id") or "")
