"""What one event pass costs the agent, by the host's load (no root, no lab).

    .venv/bin/python -m bench.agent_pass [--loads 0,1100] [--events 30] [--restart 1200] [--dhcp]

For each load: an agent-like cache holding that many ports bound to the
host (250 per network, all in one security group whose rule names the
group itself, as a lab's default group does), the real compiler and the
real reconcilers over the in-memory fake kernel and nftables. After the
first (full) pass, ``--events`` ports are created one by one; each goes
through the cache and is compiled and applied as the agent's worker does
it. Prints the CPU time (``process_time``: steady on a shared machine) of
each step per event pass, p50 and p99, and the ratio to the first load,
and the first pass (everything created) of each load. After the first
pass, memory is settled as the agent settles it (``gc.freeze``).
``--dhcp``: the ports are a lab's (a project, a ``dns_assignment``, the
network a ``dns_domain``, every tenth port a QoS policy), so each pass also
compiles their DNS records, DHCP leases and QoS as a lab's agent does.
``--restart N``: the CPU of an agent restart with N ports already in the
(fake) kernel: the cache filled from one list, the first compile and the
first full pass, nothing remembered from before, the cyclic collector
paused as in the agent's first pass.

The fake kernel and fake nftables cost what Python costs, not what the
kernel does: the firewall step here is the in-memory nftables' bookkeeping
(``FakeNft``), not libnftables. What this measures is the agent's own work,
which is what grows with the host's load; ``bench/wiring.py`` measures the
whole path on a real lab.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import ipaddress
import os
import statistics
import time
from typing import Any

from bench.common import forget_kumo_memory, machine, percentile
from kumo.agent.cache import Cache
from kumo.compiler import compile_host
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.guest.processes import FakeGuests
from kumo.dataplane.nftables.port import FakeNft
from kumo.dataplane.uts import FakeUts

HOST = "bench-host"
GROUP = "5a000000-0000-4000-8000-0000000000a1"


def _network_id(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-0000000000e0"


PROJECT = "5a000000-0000-4000-8000-0000000000b2"
QOS_RULES = [
    {"id": "q1", "type": "bandwidth_limit", "direction": "egress", "max_kbps": 10_000},
    {"id": "q2", "type": "dscp_marking", "dscp_mark": 26},
]


def _port(n: int, network: int, host: str = HOST, lab: bool = False) -> dict[str, Any]:
    ip = str(ipaddress.ip_address("10.0.0.2") + n)
    body: dict[str, Any] = {
        "id": f"{n:08x}-b000-4000-8000-000000000000",
        "network_id": _network_id(network),
        "mac_address": "fa:16:3e:" + ":".join(f"{(n >> b) & 0xFF:02x}" for b in (16, 8, 0)),
        "fixed_ips": [{"subnet_id": f"sb{network}", "ip_address": ip}],
        "binding:host_id": host,
        "device_owner": "compute:bench",
        "status": "ACTIVE",
        "admin_state_up": True,
        "security_groups": [GROUP],
        "port_security_enabled": True,
    }
    if lab:
        name = "host-" + ip.replace(".", "-")
        body["project_id"] = PROJECT
        body["dns_assignment"] = [
            {"hostname": name, "ip_address": ip, "fqdn": f"{name}.openstacklocal."}
        ]
        if n % 10 == 0:
            body["kumo_qos_rules"] = QOS_RULES
    return body


def _objects(load: int, networks: int, lab: bool = False) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"kind": "agent", "id": "a1", "host": HOST, "configurations": {"tunnel_ip": "192.0.2.1"}},
        {"kind": "agent", "id": "a2", "host": "peer", "configurations": {"tunnel_ip": "192.0.2.2"}},
        {
            "kind": "security_group",
            "id": GROUP,
            "security_group_rules": [
                {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": GROUP},
                {"id": "r2", "direction": "egress", "ethertype": "IPv4"},
            ],
        },
    ]
    for i in range(networks):
        out.append(
            {"kind": "network", "id": _network_id(i), "provider:network_type": "vxlan",
             "provider:segmentation_id": 100 + i, "mtu": 1450, "admin_state_up": True,
             **({"dns_domain": "bench.example."} if lab else {})}
        )  # fmt: skip
        out.append(
            {"kind": "subnet", "id": f"sb{i}", "network_id": _network_id(i), "cidr": "10.0.0.0/8",
             "gateway_ip": "10.255.255.254", "ip_version": 4, "enable_dhcp": True}
        )  # fmt: skip
    out += [{"kind": "port", **_port(n, n // 250, lab=lab)} for n in range(load)]
    out.append({"kind": "port", **_port(999_999, 0, "peer", lab=lab)})
    return out


def measure(load: int, events: int, settle: bool = True, lab: bool = False) -> dict[str, Any]:
    networks = load // 250 + 1
    cache = Cache(HOST)
    cache.replace(1, _objects(load, networks, lab))
    dp = Dataplane(FakeKernel(), HOST, nft=FakeNft())
    t0 = time.process_time()
    first = dp.apply(compile_host(HOST, cache.view()))
    first_s = time.process_time() - t0
    assert first.ok, first.errors
    if settle:
        # As the agent does after its first complete pass (``_settle_memory``):
        # what lives on is frozen out of the cyclic collector's reach.
        gc.collect()
        gc.freeze()
    steps: dict[str, list[float]] = {"cache": [], "compile": [], "dataplane": [], "total": []}
    for e in range(events):
        body = _port(500_000 + e, e % networks, lab=lab)
        t0 = time.process_time()
        cache.apply({"type": "event", "op": "create", "kind": "port", "object": body})
        _, view = cache.view_at()
        t1 = time.process_time()
        plan = compile_host(HOST, view)
        t2 = time.process_time()
        result = dp.apply(plan)
        t3 = time.process_time()
        assert result.ok and body["id"] in result.wired_ports, result.errors
        for name, spent in (("cache", t1 - t0), ("compile", t2 - t1), ("dataplane", t3 - t2),
                            ("total", t3 - t0)):  # fmt: skip
            steps[name].append(spent)
    gc.unfreeze()
    return {"load": load, "first": first_s, "steps": steps}


def restart(load: int, lab: bool = False) -> dict[str, float]:
    """CPU of an agent restart with ``load`` ports in the kernel already (as
    its predecessor left them): the cache filled from one list, the first
    compile and the first full pass over the same fake kernel, nftables,
    guests and UTS namespaces, with nothing remembered."""
    networks = load // 250 + 1
    objects = _objects(load, networks, lab)
    cache = Cache(HOST)
    cache.replace(1, objects)
    kernel, nft, guests, uts = FakeKernel(), FakeNft(), FakeGuests(), FakeUts()
    before = Dataplane(kernel, HOST, nft=nft, guests=guests, uts=uts)
    assert before.apply(compile_host(HOST, cache.view())).ok
    forget_kumo_memory()
    gc.collect()
    gc.disable()  # as the agent's first pass (``Agent._first_pass``)
    try:
        t0 = time.process_time()
        cache = Cache(HOST)
        cache.replace(1, objects)
        view = cache.view()
        t1 = time.process_time()
        plan = compile_host(HOST, view)
        t2 = time.process_time()
        result = Dataplane(kernel, HOST, nft=nft, guests=guests, uts=uts).apply(plan)
        t3 = time.process_time()
    finally:
        gc.enable()
    assert result.ok and len(result.wired_ports) == load, result.errors
    return {"cache": t1 - t0, "compile": t2 - t1, "dataplane": t3 - t2, "total": t3 - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", default="0,1100", help="ports on the host, comma-separated")
    ap.add_argument("--events", type=int, default=30)
    ap.add_argument(
        "--no-settle",
        action="store_true",
        help="leave the cyclic collector walking the first pass's objects (the agent freezes them)",
    )
    ap.add_argument(
        "--restart",
        type=int,
        default=0,
        help="also measure an agent restart with this many ports in the kernel already",
    )
    ap.add_argument(
        "--dhcp",
        action="store_true",
        help="lab-like ports: DNS records, DHCP leases and QoS compiled per pass",
    )
    args = ap.parse_args()
    runs = [
        measure(int(n), args.events, not args.no_settle, args.dhcp) for n in args.loads.split(",")
    ]
    mode = " (--dhcp: lab-like ports)" if args.dhcp else ""
    print(
        f"# bench/agent_pass.py{mode}  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}"
        f"  load average {os.getloadavg()[0]:.1f}"
    )
    print("CPU ms per event pass (p50 / p99); ratio of total p99 to the first load's")
    base = percentile(runs[0]["steps"]["total"], 99)
    for run in runs:
        s = run["steps"]
        cells = "  ".join(
            f"{k} {statistics.median(v) * 1000:.1f}/{percentile(v, 99) * 1000:.1f}"
            for k, v in s.items()
        )
        ratio = percentile(s["total"], 99) / base if base else float("nan")
        print(f"{run['load']:5d} ports: {cells}  ({ratio:.1f}x); first pass {run['first']:.2f} s")
    if args.restart:
        took = restart(args.restart, args.dhcp)
        cells = "  ".join(f"{k} {v * 1000:.0f}" for k, v in took.items())
        print(f"restart, {args.restart} ports in the kernel: CPU ms {cells}")


if __name__ == "__main__":
    main()
