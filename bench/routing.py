"""Routing throughput, side by side in one run (needs root).

    bash bench/routing.sh [--seconds 5] [--latency-samples 20]

Four hosts (namespaces) on an underlay and an external segment with an
upstream namespace; host4 is the gateway host. Plans are compiled from
Neutron bodies and applied with the real dataplane. Cases (iperf3, one
stream per pair):

- raw veth pair (the limit), same network across hosts (VXLAN), routed
  across hosts and subnets with the distributed router, and with the
  centralized router on host4 (hairpin);
- 1, 2 and 3 concurrent host pairs (h1→h2, h2→h3, h3→h1, each from s1 to
  s2), distributed against centralized: aggregate throughput;
- floating IP north-south (the upstream to an instance's floating IP)
  against east-west routed.

With ``--latency-samples N`` it also builds a 3-host lab (``kumo up``,
prefix kbr-) and times, through the API, ``add_router_interface`` → first
answered ping across the new subnets, and floating IP association → first
answered ping from the upstream, p50/p99 (``bench/routing_lab.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import time

from bench.common import machine
from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from tests.compiler import states as s
from tests.dataplane.rootlab import sh
from tests.dataplane.test_routing_root import EXT, GW, UPSTREAM, ExternalLab, rport

R = "e0000000-0000-4000-8000-0000000000e1"
FIP = "ef000000-0000-4000-8000-00000000000f"


def _pid(kind: str, i: int) -> str:
    return f"{kind}{i:07d}-0000-4000-8000-000000000000"


class Bench:
    def __init__(self, lab: ExternalLab) -> None:
        self.lab = lab
        self.hosts = list(lab.hosts)
        self.planes = {h: Dataplane.for_host(h, ns) for h, ns in lab.hosts.items()}
        # pairs: (src host, dst host); src on s1 (.1x), dst on s2 (.2x); and a
        # same-network peer of the first source on s1 at host2
        self.pairs = [(0, 1), (1, 2), (2, 0)]

    def view(self, distributed: bool, fip: bool = False) -> ClusterView:
        gw_host = self.hosts[3]
        owner = "network:router_interface" + ("_distributed" if distributed else "")
        where = "" if distributed else gw_host
        ports = [
            rport(_pid("a1", 1), s.NET1, "fa:16:3e:00:01:01", ("s1", "10.0.1.1"), owner, where),
            rport(_pid("a1", 2), s.NET2, "fa:16:3e:00:02:01", ("s2", "10.0.2.1"), owner, where),
            rport(GW, EXT, "fa:16:3e:00:09:09", ("sx", "203.0.113.10"),
                  "network:router_gateway", gw_host),
        ]  # fmt: skip
        if distributed:
            snat = "network:router_centralized_snat"
            ports.append(rport(_pid("c1", 1), s.NET1, "fa:16:3e:00:01:02", ("s1", "10.0.1.2"),
                               snat, gw_host))  # fmt: skip
            ports.append(rport(_pid("c1", 2), s.NET2, "fa:16:3e:00:02:02", ("s2", "10.0.2.2"),
                               snat, gw_host))  # fmt: skip
        for i, (src, dst) in enumerate(self.pairs):
            ports.append(s.port(_pid("b1", i), s.NET1, f"fa:16:3e:01:00:{i:02x}",
                                self.hosts[src], [("s1", f"10.0.1.{10 + i}")]))  # fmt: skip
            ports.append(s.port(_pid("b2", i), s.NET2, f"fa:16:3e:02:00:{i:02x}",
                                self.hosts[dst], [("s2", f"10.0.2.{20 + i}")]))  # fmt: skip
        ports.append(s.port(_pid("b3", 0), s.NET1, "fa:16:3e:03:00:00", self.hosts[1],
                            [("s1", "10.0.1.30")]))  # fmt: skip
        router = {
            "id": R, "admin_state_up": True, "distributed": distributed, "routes": [],
            "external_gateway_info": {"network_id": EXT, "enable_snat": True,
                                      "external_fixed_ips": [{"subnet_id": "sx",
                                                              "ip_address": "203.0.113.10"}]},
            "kumo_ports": s.router_ports(R, ports),
        }  # fmt: skip
        fips = []
        if fip:
            fips.append({"id": FIP, "floating_ip_address": "203.0.113.50",
                         "floating_network_id": EXT, "router_id": R,
                         "port_id": _pid("b2", 0), "fixed_ip_address": "10.0.2.20"})  # fmt: skip
        return ClusterView.from_bodies(
            [
                s.network(s.NET1, seg=101),
                s.network(s.NET2, seg=102),
                s.network(EXT, kind="flat", seg=None, **{"provider:physical_network": "external"}),
            ],
            [
                s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
                s.subnet("s2", s.NET2, "10.0.2.0/24", "10.0.2.1"),
                s.subnet("sx", EXT, "203.0.113.0/24", UPSTREAM),
            ],
            ports,
            self.lab.agent_bodies(),
            (),
            [router],
            fips,
        )

    def apply(self, view: ClusterView) -> None:
        for host, dp in self.planes.items():
            result = dp.converge(compile_host(host, view), timeout=20)
            assert result.ok, result.errors

    def ns(self, kind: str, i: int) -> str:
        pid = _pid(kind, i)
        if kind == "b1":
            host = self.hosts[self.pairs[i][0]]
        elif kind == "b2":
            host = self.hosts[self.pairs[i][1]]
        else:
            host = self.hosts[1]
        return n.instance_netns(host, pid)

    def close(self) -> None:
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


def _iperf_many(flows: list[tuple[str, str, str]], seconds: int) -> float:
    """Concurrent iperf3 flows (client ns, server ns, server ip): total Gbit/s."""
    servers = [
        subprocess.Popen(
            ["ip", "netns", "exec", srv, "iperf3", "-s", "-1", "-p", str(5201 + i)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i, (_, srv, _) in enumerate(flows)
    ]
    time.sleep(0.4)
    clients = [
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                cli,
                "iperf3",
                "-c",
                ip,
                "-p",
                str(5201 + i),
                "-t",
                str(seconds),
                "-J",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i, (cli, _, ip) in enumerate(flows)
    ]
    total = 0.0
    for proc in clients:
        out, _ = proc.communicate(timeout=seconds + 60)
        total += float(json.loads(out)["end"]["sum_received"]["bits_per_second"]) / 1e9
    for proc in servers:
        proc.kill()
        proc.wait()
    return total


def _raw_pair(tag: str) -> tuple[str, str]:
    a, b = f"kq{tag}a", f"kq{tag}b"
    sh("ip", "netns", "add", a)
    sh("ip", "netns", "add", b)
    sh("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b)
    for ns, ip in ((a, "10.99.0.1/24"), (b, "10.99.0.2/24")):
        sh("ip", "-n", ns, "addr", "add", ip, "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
    return a, b


def run(seconds: int) -> list[str]:
    lab = ExternalLab().start(4)
    bench = Bench(lab)
    raw = _raw_pair(lab.tag)
    out: list[str] = []
    try:
        results: dict[str, list[float]] = {}

        def record(name: str, value: float) -> None:
            results.setdefault(name, []).append(value)

        for _ in range(2):
            record("raw veth", _iperf_many([(raw[0], raw[1], "10.99.0.2")], seconds))
            bench.apply(bench.view(distributed=True, fip=True))
            sh("ip", "netns", "exec", bench.ns("b1", 0), "ping", "-c", "2", "-W", "1", "10.0.2.20")
            record(
                "same network, across hosts",
                _iperf_many([(bench.ns("b1", 0), bench.ns("b3", 0), "10.0.1.30")], seconds),
            )
            record(
                "distributed, routed across hosts",
                _iperf_many([(bench.ns("b1", 0), bench.ns("b2", 0), "10.0.2.20")], seconds),
            )
            sh("ip", "netns", "exec", lab.upstream, "ping", "-c", "2", "-W", "1", "203.0.113.50")
            record(
                "floating IP, upstream to instance",
                _iperf_many([(lab.upstream, bench.ns("b2", 0), "203.0.113.50")], seconds),
            )
            bench.apply(bench.view(distributed=False))
            sh("ip", "netns", "exec", bench.ns("b1", 0), "ping", "-c", "2", "-W", "1", "10.0.2.20")
            record(
                "centralized, routed across hosts",
                _iperf_many([(bench.ns("b1", 0), bench.ns("b2", 0), "10.0.2.20")], seconds),
            )
        for name, values in results.items():
            mean = sum(values) / len(values)
            out.append(f"{name}: {mean:.2f} Gbit/s ({', '.join(f'{v:.2f}' for v in values)})")
        mean = {k: sum(v) / len(v) for k, v in results.items()}
        raw_rate = mean["raw veth"]
        out.append(
            "ratios to raw veth: "
            + ", ".join(f"{k} {v / raw_rate:.2f}" for k, v in mean.items() if k != "raw veth")
        )
        out.append(
            f"routed (distributed) / same network: "
            f"{mean['distributed, routed across hosts'] / mean['same network, across hosts']:.2f};"
            f" floating IP / distributed east-west: "
            f"{mean['floating IP, upstream to instance'] / mean['distributed, routed across hosts']:.2f}"
        )
        for distributed in (True, False):
            bench.apply(bench.view(distributed=distributed))
            for i in range(3):
                sh("ip", "netns", "exec", bench.ns("b1", i), "ping", "-c", "1", "-W", "1",
                   f"10.0.2.{20 + i}")  # fmt: skip
            rates = []
            for k in (1, 2, 3):
                flows = [
                    (bench.ns("b1", i), bench.ns("b2", i), f"10.0.2.{20 + i}") for i in range(k)
                ]
                rates.append(_iperf_many(flows, seconds))
            label = "distributed" if distributed else "centralized"
            out.append(
                f"{label}, 1/2/3 concurrent host pairs: "
                + " / ".join(f"{r:.2f}" for r in rates)
                + " Gbit/s aggregate"
            )
    finally:
        bench.close()
        for ns in raw:
            sh("ip", "netns", "del", ns, check=False)
        lab.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=0)
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench/routing.sh {stamp}, {machine()}, iperf3 {args.seconds}s per run")
    for line in run(args.seconds):
        print(line)
    if args.latency_samples:
        from bench.routing_lab import bench_latency

        for line in bench_latency(args.latency_samples):
            print(line)


if __name__ == "__main__":
    main()
