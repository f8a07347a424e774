"""Security group benchmarks (needs root).

    .venv/bin/python -m bench.secgroups [--apply] [--throughput] [--latency]
                                        [--seconds 5] [--samples 20]

``--apply``: one host namespace; the time to compile and write 1,000 and
10,000 rules in one nft transaction (10 ports x 100 rules, 100 x 100), next
to writing the same 1,000 rules one ``nft add rule`` at a time, and the time
of an element-only update (a port joining a remote group).

``--throughput``: two hosts on an underlay (VXLAN), one instance each;
iperf3 with port security off and with 200 rules on both ports (stateful,
established first), alternating in the same run; the ratio is what counts.

``--latency``: a real lab (``kumo up``, 3 hosts, prefix kbs-) and the API:
the time from a rule create call until the rule is enforced on every host
(a TCP connection to an instance on each host succeeds), p50/p99.

With no option, all three. Everything made is removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import time
from typing import Any

from bench.common import machine
from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.nftables import render
from kumo.dataplane.nftables.port import NftCommands
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

GROUP = "b0000000-0000-4000-8000-0000000000b1"
PEERS = "b0000000-0000-4000-8000-0000000000b2"


def _rules(count: int, open_all_tcp: bool = False) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"id": f"r{i:05d}", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 10000 + i, "port_range_max": 10000 + i,
         "remote_ip_prefix": f"172.{16 + i // 65536 % 16}.{i // 256 % 256}.{i % 256}/32"}
        for i in range(count - 3 if open_all_tcp else count)
    ]  # fmt: skip
    if open_all_tcp:
        rules.append({"id": "zz-tcp", "direction": "ingress", "ethertype": "IPv4",
                      "protocol": "tcp", "remote_group_id": PEERS})  # fmt: skip
        rules.append({"id": "zz-out", "direction": "egress", "ethertype": "IPv4"})
        rules.append({"id": "zz-icmp", "direction": "ingress", "ethertype": "IPv4",
                      "protocol": "icmp", "remote_group_id": PEERS})  # fmt: skip
    return rules


def _view(
    lab: RootLab,
    ports: list[tuple[str, str, str]],
    rules: list[dict[str, Any]],
    secured: bool = True,
    peers: tuple[str, ...] = (),
) -> ClusterView:
    """``ports``: (port id, host, ip); every port in GROUP, ``peers`` also in PEERS."""
    bodies = [
        s.port(pid, s.NET1, f"fa:16:3e:{i // 65536:02x}:{i // 256 % 256:02x}:{i % 256:02x}",
               host, [("s1", ip)], port_security_enabled=secured,
               security_groups=[GROUP, *([PEERS] if pid in peers else [])] if secured else [])
        for i, (pid, host, ip) in enumerate(ports, start=1)
    ]  # fmt: skip
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/16", "10.0.0.1")],
        bodies,
        lab.agent_bodies(),
        [
            {"id": GROUP, "security_group_rules": rules},
            {"id": PEERS, "security_group_rules": []},
        ],
    )


def _port_id(i: int) -> str:
    return f"c{i:07x}-0000-4000-8000-000000000000"


def bench_apply() -> list[str]:
    lab = RootLab().start(1)
    (host, ns), = lab.hosts.items()  # fmt: skip
    out: list[str] = []
    dp = Dataplane.for_host(host, ns)
    try:
        for port_count in (10, 100):
            ports = [
                (_port_id(i), host, f"10.0.{i // 250}.{i % 250 + 2}") for i in range(port_count)
            ]
            rules = _rules(100, open_all_tcp=True)
            peers = tuple(p[0] for p in ports)
            t0 = time.perf_counter()
            plan = compile_host(host, _view(lab, ports, rules, peers=peers))
            t1 = time.perf_counter()
            result = dp.apply(plan)
            t2 = time.perf_counter()
            assert result.ok, result.errors
            total = sum(len(p.rules) for p in plan.firewall.ports)
            nft_rules = len(
                [c for c in render.ruleset(plan.firewall) if "rule" in c.get("add", {})]
            )
            # the firewall alone, rewritten: one transaction
            t3 = time.perf_counter()
            NftCommands(ns).apply(render.ruleset(plan.firewall))
            t4 = time.perf_counter()
            out.append(
                f"{total} security group rules ({port_count} ports x 100; {nft_rules} nft rules):"
                f" compile {t1 - t0:.3f} s, first apply incl. wiring {t2 - t1:.3f} s,"
                f" firewall rewrite in one transaction {t4 - t3:.3f} s"
            )
            # element-only update: one more member in the remote group
            bigger = [*ports, (_port_id(9999), "elsewhere", "10.0.200.2")]
            after = compile_host(host, _view(lab, bigger, rules, peers=(*peers, _port_id(9999))))
            t5 = time.perf_counter()
            assert dp.apply(after).ok
            t6 = time.perf_counter()
            out.append(
                f"  remote-group member added: {t6 - t5:.3f} s"
                f" (rewrites {dp.firewall.rewrites}, element updates {dp.firewall.element_updates})"
            )
        # one rule at a time, 1,000 rules, for comparison
        chain = "inet kumo e1"
        sh("ip", "netns", "exec", ns, "nft", "flush", "chain", *chain.split())
        t7 = time.perf_counter()
        for i in range(1000):
            sh("ip", "netns", "exec", ns, "nft", "add", "rule", *chain.split(),
               "ip", "daddr", f"172.16.{i // 256}.{i % 256}", "tcp", "dport", str(10000 + i),
               "accept")  # fmt: skip
        t8 = time.perf_counter()
        out.append(f"1000 rules one nft command at a time: {t8 - t7:.3f} s")
    finally:
        dp.apply(HostPlan(host=host))
        dp.close()
        lab.close()
    return out


def _iperf(client_ns: str, server_ns: str, ip: str, seconds: int) -> float:
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    try:
        done = sh("ip", "netns", "exec", client_ns, "iperf3", "-c", ip, "-t", str(seconds), "-J",
                  timeout=seconds + 30)  # fmt: skip
        return float(json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e9
    finally:
        server.kill()
        server.wait()


def bench_throughput(seconds: int, rounds: int = 3) -> list[str]:
    lab = RootLab().start(2)
    a, b = list(lab.hosts)
    ports = [(s.P1, a, "10.0.0.11"), (s.P2, b, "10.0.0.12")]
    planes = {h: Dataplane.for_host(h, ns) for h, ns in lab.hosts.items()}
    peers = (s.P1, s.P2)
    views = {
        "none": _view(lab, ports, [], secured=False),
        "none, bridge netfilter on": _view(lab, ports, [], secured=False),
        "3 rules": _view(lab, ports, _rules(3, open_all_tcp=True), peers=peers),
        "200 rules": _view(lab, ports, _rules(200, open_all_tcp=True), peers=peers),
    }
    rates: dict[str, list[float]] = {k: [] for k in views}
    try:
        for _ in range(rounds):
            for name, view in views.items():
                for host, dp in planes.items():
                    assert dp.apply(compile_host(host, view)).ok
                    on = "1" if "netfilter on" in name else "0"
                    if view.ports[s.P1].port_security is False:
                        sh("ip", "netns", "exec", lab.hosts[host], "sysctl", "-qw",
                           f"net.bridge.bridge-nf-call-iptables={on}")  # fmt: skip
                client = n.instance_netns(a, s.P1)
                server = n.instance_netns(b, s.P2)
                sh("ip", "netns", "exec", client, "ping", "-c", "2", "-W", "1", "10.0.0.12")
                rates[name].append(_iperf(client, server, "10.0.0.12", seconds))
    finally:
        for host, dp in planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()
        lab.close()
    mean = {k: sum(v) / len(v) for k, v in rates.items()}
    base, few, filtered = mean["none"], mean["3 rules"], mean["200 rules"]
    return [
        f"iperf3 across hosts (VXLAN), {seconds}s x{rounds} each, alternating:"
        f" port security off {base:.2f} Gbit/s, 3 rules {few:.2f} Gbit/s,"
        f" 200 rules {filtered:.2f} Gbit/s; 200 rules / off {filtered / base:.2f},"
        f" 200 rules / 3 rules {filtered / few:.2f},"
        f" off with bridge netfilter on / off {mean['none, bridge netfilter on'] / base:.2f}",
        f"  runs: {json.dumps({k: [round(v, 2) for v in vs] for k, vs in rates.items()})}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apply", action="store_true")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="iperf3 runs per case")
    args = parser.parse_args()
    every = not (args.apply or args.throughput or args.latency)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench/secgroups.py {stamp}, {machine()}")
    if args.apply or every:
        for line in bench_apply():
            print(line)
    if args.throughput or every:
        for line in bench_throughput(args.seconds, args.rounds):
            print(line)
    if args.latency or every:
        from bench.secgroups_lab import bench_latency

        for line in bench_latency(args.samples):
            print(line)


if __name__ == "__main__":
    main()
