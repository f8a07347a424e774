"""Measure how long the dataplane takes to wire N instance ports on one host.

    python -m kumo.dataplane.bench_apply --ports 200

Creates a throwaway host namespace (``kz`` + random hex, with an ``eth0``
underlay end on 192.0.2.11), compiles a plan for N instance
ports on one VXLAN network (plus N/10 ports on a remote host, for FDB and
neighbour entries) and times: the first apply (everything created), wiring one more
port (an event-driven pass), a no-change apply after ``resync()`` (everything read back and compared), and
the teardown (an empty plan). Everything it creates is removed at the end,
even on failure. Needs root. ``measure(ports)`` is the function form.

Measured on the 2-vCPU development machine (seconds):

=====  ======  ===============  =================  ========
ports  create  one more port    no-change apply    teardown
=====  ======  ===============  =================  ========
200    1.7     -                0.75-0.85          0.45
1000   9.4     -                4.5                3.7
1000   10.0    0.10             0.96               -
=====  ======  ===============  =================  ========

The first two rows are from before event passes were narrowed and reads
went through ``rtnl`` (pyroute2 decoding every dump: ~0.4 ms per link); the
last is 2026-11-26, under cProfile, on a machine shared with other test
runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass

from kumo.compiler import ClusterView, HostPlan, compile_host, names
from kumo.compiler.plan import HOST_NS, Address, Link, VethPeer
from kumo.dataplane import netns
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.kernel import KernelAdapter
from kumo.dataplane.port import KernelPort


@dataclass(frozen=True)
class BenchResult:
    ports: int
    create_seconds: float
    create_ops: int
    event_seconds: float
    """Wiring one more port (an event-driven pass)."""
    noop_seconds: float
    noop_ops: int
    teardown_seconds: float
    teardown_ops: int
    wired: int


def _view(host: str, ports: int, more: int = 0) -> ClusterView:
    """``ports`` local ports, a tenth as many remote ones, then ``more`` local."""
    network_id = "b0000000-0000-4000-8000-00000000be01"
    bodies = []
    remote = max(1, ports // 10)
    first_ip = ipaddress.ip_address("10.0.0.2")
    for i in range(ports + remote + more):
        local = i < ports or i >= ports + remote
        bodies.append(
            {
                "id": f"{i:08x}-b000-4000-8000-000000000000",
                "network_id": network_id,
                "mac_address": "fa:16:3e:" + ":".join(f"{(i >> b) & 0xFF:02x}" for b in (16, 8, 0)),
                "fixed_ips": [{"subnet_id": "sb", "ip_address": str(first_ip + i)}],
                "binding:host_id": host if local else "bench-remote",
                "device_owner": "compute:bench",
            }
        )
    return ClusterView.from_bodies(
        networks=[
            {
                "id": network_id,
                "provider:network_type": "vxlan",
                "provider:segmentation_id": 4000,
                "mtu": 1450,
            }
        ],
        subnets=[
            {
                "id": "sb",
                "network_id": network_id,
                "cidr": "10.0.0.0/8",
                "gateway_ip": "10.255.255.254",
            }
        ],
        ports=bodies,
        agents=[
            {
                "id": "a1",
                "host": host,
                "configurations": {"tunnel_ip": "192.0.2.11", "underlay_device": "eth0"},
            },
            {"id": "a2", "host": "bench-remote", "configurations": {"tunnel_ip": "192.0.2.12"}},
        ],
    )


def measure(ports: int) -> BenchResult:
    tag = uuid.uuid4().hex[:10]
    host_ns = f"kz{tag}"
    host = f"bench-{tag}"
    adapter = KernelAdapter(host_ns)
    netns.create(host_ns)
    try:
        _underlay(adapter)
        port = KernelPort(adapter)
        dp = Dataplane(port, host)
        plan = compile_host(host, _view(host, ports))
        started = time.perf_counter()
        created = dp.apply(plan)
        create_s = time.perf_counter() - started
        if not created.ok:
            raise RuntimeError(f"apply failed: {dict(created.errors)}")
        plan = compile_host(host, _view(host, ports, more=1))
        started = time.perf_counter()
        event = dp.apply(plan)
        event_s = time.perf_counter() - started
        if not event.ok:
            raise RuntimeError(f"apply failed: {dict(event.errors)}")
        dp.resync()
        started = time.perf_counter()
        noop = dp.apply(plan)
        noop_s = time.perf_counter() - started
        started = time.perf_counter()
        gone = dp.apply(HostPlan(host=host))
        teardown_s = time.perf_counter() - started
        return BenchResult(
            ports=ports,
            create_seconds=round(create_s, 3),
            create_ops=created.changes,
            event_seconds=round(event_s, 3),
            noop_seconds=round(noop_s, 3),
            noop_ops=noop.changes,
            teardown_seconds=round(teardown_s, 3),
            teardown_ops=gone.changes,
            wired=len(created.wired_ports),
        )
    finally:
        adapter.close()
        for name in netns.list_names():
            if names.is_instance_netns(name, host):
                netns.remove(name)
        netns.remove(host_ns)


def _underlay(adapter: KernelAdapter) -> None:
    """An ``eth0`` with the tunnel address inside the bench host namespace."""
    adapter.add_link(
        Link(HOST_NS, "eth0", "veth", up=True, peer=VethPeer(HOST_NS, "ul0")),
        Link(HOST_NS, "ul0", "veth", up=True),
    )
    adapter.add_address(Address(HOST_NS, "eth0", "192.0.2.11/24"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, action="append", help="ports to wire (repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args(argv)
    for count in args.ports or [200]:
        result = measure(count)
        if args.json:
            print(json.dumps(asdict(result)))
        else:
            print(
                f"{result.ports} ports: create {result.create_seconds}s ({result.create_ops} ops), "
                f"one more port {result.event_seconds}s, "
                f"no-change apply {result.noop_seconds}s ({result.noop_ops} ops), "
                f"teardown {result.teardown_seconds}s ({result.teardown_ops} ops), "
                f"wired {result.wired}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
