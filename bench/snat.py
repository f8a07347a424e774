"""Distributed SNAT next to HA SNAT, on one real lab (needs root).

    .venv/bin/python -m bench.snat [--rounds 3] [--seconds 5] [--gateways 2]
        [--link-mbit R] [--only-scaling]

One lab (``kumo up --hosts 2+G --gateways G``: the last G hosts are
gateway hosts; distributed SNAT on) with routers side by side: ``rd``,
``rd2``... (one per gateway host: distributed SNAT, the lab's default)
and ``rh`` (``--ha``: the HA SNAT of before), each with a network and one
instance without a floating IP (on host1 and host2 in turn). Measured, in
the same run:

- the time from the instance's creation to its host's first lease;
- north-south TCP throughput (iperf3 to the upstream, interleaved rounds),
  and the ratio distributed / HA;
- gateway capacity: iperf3 from the upstream to every distributed
  router's instance at once (``-R``: the bulk is return traffic, which
  crosses a gateway), aggregate, with all their gateway ports on one
  gateway host (the upstream's frames for every address reach that host:
  the capacity of one active gateway, as HA SNAT has per router) and
  spread over 2..G gateway hosts (external IPs split across them),
  interleaved rounds, and the ratio to one gateway host. Every lab host
  shares the machine's CPUs, so unshaped the gateways cannot add
  capacity here; ``--link-mbit R`` gives each gateway host's external
  link the capacity of a real NIC (a token bucket of R Mbit/s on the
  upstream's side of the link, toward the gateway), which is what bounds
  a real gateway host, and then adding gateways adds capacity;
- the failover of the gateway carrying each router: its agent SIGKILLed
  and its underlay and external links cut; the largest gap between
  replies of a UDP probe (every 0.05 s), the probes lost, and whether an
  established TCP stream survived. The host is brought back before the
  next router's turn.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import machine
from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.dataplane.ha_nodes import PROBE
from tests.live import _free_port

ROOT = Path(__file__).resolve().parent.parent
KUMO = str(ROOT / ".venv" / "bin" / "kumo")
OPENSTACK = str(ROOT / ".venv" / "bin" / "openstack")
UPSTREAM = "203.0.113.1"


class Lab:
    def __init__(self, state: Path, prefix: str) -> None:
        self.state, self.prefix = state, prefix
        lab = LabState.load(state)
        assert lab is not None
        token = supervisor._admin_token(state, lab.api_url)
        self.api = httpx.Client(base_url=f"{lab.api_url}/networking/v2.0",
                                headers={"X-Auth-Token": token}, timeout=60)  # fmt: skip

    def kumo(self, *args: str) -> str:
        done = subprocess.run([KUMO, *args, "--state-dir", str(self.state)], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"kumo {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def openstack(self, *args: str) -> str:
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.state / "clouds.yaml"),
               "OS_CLOUD": "kumo"}  # fmt: skip
        done = subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env,
                              timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"openstack {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def router(self, name: str) -> dict[str, Any]:
        return dict(self.api.get("/routers", params={"name": name}).json()["routers"][0])

    def gateway_host(self, router_id: str) -> str:
        ports = self.api.get("/ports", params={"device_id": router_id}).json()["ports"]
        return next(p["binding:host_id"] for p in ports
                    if p["device_owner"] == "network:router_gateway")  # fmt: skip

    def instance_ns(self, ip: str) -> str:
        ports = self.api.get("/ports", params={"fixed_ips": f"ip_address={ip}"}).json()["ports"]
        return names.instance_netns(ports[0]["binding:host_id"], ports[0]["id"])

    def upstream(self, *cmd: str) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", f"{self.prefix}up", *cmd],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait(check: Any, timeout: float = 120.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.1)
    return time.monotonic() - started


ROUTERS = (("rd", "10.90.1.0/24", (), 1), ("rh", "10.90.2.0/24", ("--ha",), 1),
           ("rd2", "10.90.3.0/24", (), 2), ("rd3", "10.90.4.0/24", (), 1))  # fmt: skip
"""Name, instance subnet, ``router create`` options, the instance's host."""


def distributed(gateways: int) -> list[str]:
    """The distributed routers of a lab with this many gateway hosts: one
    per gateway host (at least two)."""
    return ["rd", *(f"rd{i}" for i in range(2, max(2, gateways) + 1))]


def build(lab: Lab, gateways: int) -> dict[str, str]:
    """Routers rh and rd, rd2..., one instance each: name → instance netns."""
    host1 = f"{lab.prefix}host1"
    wanted = {"rh", *distributed(gateways)}
    out = {}
    for router, cidr, extra, index in ROUTERS:
        if router not in wanted:
            continue
        lab.openstack("network", "create", f"n{router}")
        lab.openstack("subnet", "create", "--network", f"n{router}", "--subnet-range", cidr,
                      f"s{router}")  # fmt: skip
        lab.openstack("router", "create", *extra, router)
        lab.openstack("router", "set", "--external-gateway", "public", router)
        lab.openstack("router", "add", "subnet", router, f"s{router}")
        ip = cidr.replace("0/24", "11")
        created = time.monotonic()
        lab.kumo("lab", "instance", "create", f"i{router}", "--network", f"n{router}", "--host",
                 f"{lab.prefix}host{index}", "--ip", ip, "--disable-port-security")  # fmt: skip
        if router == "rd":
            took = wait(lambda: any(x["host"] == host1
                                    for x in lab.router("rd")["kumo_snat_leases"]))  # fmt: skip
            print(f"first lease {time.monotonic() - created:.2f} s after the instance create "
                  f"call ({took:.2f} s after it returned)")  # fmt: skip
        out[router] = lab.instance_ns(ip)
        wait(lambda ns=out[router]: _ping(ns))
    return out


def _ping(ns: str) -> bool:
    cmd = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", UPSTREAM]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def throughput(lab: Lab, instances: dict[str, str], rounds: int, seconds: int) -> None:
    server = lab.upstream("iperf3", "-s")
    time.sleep(0.5)
    got: dict[str, list[float]] = {r: [] for r in ("rd", "rh")}
    try:
        for _ in range(rounds):
            for router in got:
                ns = instances[router]
                out = subprocess.run(["ip", "netns", "exec", ns, "iperf3", "-c", UPSTREAM, "-t",
                                      str(seconds), "-J"], capture_output=True, text=True,
                                     timeout=seconds + 60)  # fmt: skip
                data = json.loads(out.stdout)
                got[router].append(data["end"]["sum_received"]["bits_per_second"] / 1e9)
    finally:
        server.kill()
    med = {r: statistics.median(v) for r, v in got.items()}
    for router, values in got.items():
        print(f"throughput {router}: median {med[router]:.2f} Gbit/s "
              f"({', '.join(f'{v:.2f}' for v in values)})")  # fmt: skip
    print(f"throughput ratio distributed / HA: {med['rd'] / med['rh']:.2f}")


def place(lab: Lab, router: str, host: str) -> None:
    """The router's gateway port onto ``host`` (the l3 agent scheduler
    extension: a router that is not HA moves there)."""
    rid = lab.router(router)["id"]
    if lab.gateway_host(rid) == host:
        return
    agents = lab.api.get("/agents", params={"host": host}).json()["agents"]
    agent = next(a["id"] for a in agents if a["host"] == host)
    for _ in range(5):  # a loaded machine's late heartbeat may move it back
        made = lab.api.post(f"/agents/{agent}/l3-routers", json={"router_id": rid})
        assert made.status_code == 201, made.text
        try:
            wait(lambda: lab.gateway_host(rid) == host, timeout=20)
            break
        except RuntimeError:
            continue
    else:  # measuring on would measure another placement than the one named
        raise RuntimeError(f"{router}'s gateway port did not move to {host}")
    wait(lambda: _ping_any(lab, router), timeout=60)
    time.sleep(2)  # the new gateway's announcement; the old one's namespace gone


def _ping_any(lab: Lab, router: str) -> bool:
    ip = dict((r, c) for r, c, _, _ in ROUTERS)[router].replace("0/24", "11")
    return _ping(lab.instance_ns(ip))


def shape(lab: Lab, gateways: int, mbit: int) -> None:
    """Each gateway host's external link carries ``mbit`` Mbit/s toward the
    host (a token bucket on the upstream side of its veth)."""
    hosts = 2 + gateways
    for index in range(3, hosts + 1):
        subprocess.run(["ip", "netns", "exec", f"{lab.prefix}ext", "tc", "qdisc", "replace", "dev",
                        f"e{index}", "root", "tbf", "rate", f"{mbit}mbit", "burst", "64kb",
                        "latency", "50ms"], check=True)  # fmt: skip


def scaling(lab: Lab, instances: dict[str, str], rounds: int, seconds: int, gateways: int) -> None:
    """Aggregate return-traffic throughput through 1..G gateway hosts."""
    hosts = [f"{lab.prefix}host{3 + i}" for i in range(max(2, gateways))]
    routers = distributed(gateways)
    ports = {r: 5211 + i for i, r in enumerate(routers)}
    servers = [lab.upstream("iperf3", "-s", "-p", str(port)) for port in (*ports.values(), HA_PORT)]
    time.sleep(0.5)
    got: dict[int, list[float]] = {g: [] for g in range(1, len(hosts) + 1)}
    ha: list[float] = []
    try:
        for _ in range(rounds):
            for spread in got:
                for i, router in enumerate(routers):
                    place(lab, router, hosts[i % spread])
                clients = [_return_stream(instances[r], port, seconds) for r, port in ports.items()]
                got[spread].append(sum(_gbits(c, seconds) for c in clients))
            # HA SNAT, as before: all of a router's traffic through its one active gateway
            ha.append(_gbits(_return_stream(instances["rh"], HA_PORT, seconds), seconds))
    finally:
        for server in servers:
            server.kill()
    med = {g: statistics.median(v) for g, v in got.items()}
    for spread, values in got.items():
        print(f"aggregate return traffic, {len(routers)} routers on {spread} gateway host(s): "
              f"median {med[spread]:.3f} Gbit/s ({', '.join(f'{v:.3f}' for v in values)})")  # fmt: skip
    for spread in list(got)[1:]:
        print(f"aggregate ratio {spread} / 1 gateway hosts: {med[spread] / med[1]:.2f}")
    ha_med = statistics.median(ha)
    print(f"HA SNAT router rh (one active gateway), return traffic: median {ha_med:.3f} Gbit/s "
          f"({', '.join(f'{v:.3f}' for v in ha)})")  # fmt: skip
    print(
        f"aggregate ratio {max(got)} gateway hosts (distributed) / HA: {med[max(got)] / ha_med:.2f}"
    )


HA_PORT = 5299


def _return_stream(ns: str, port: int, seconds: int) -> subprocess.Popen[str]:
    """iperf3 -R from an instance: the upstream sends, the bulk crosses a gateway."""
    cmd = ["ip", "netns", "exec", ns, "iperf3", "-c", UPSTREAM, "-p", str(port), "-R", "-t",
           str(seconds), "-J"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _gbits(client: subprocess.Popen[str], seconds: int) -> float:
    out = json.loads(client.communicate(timeout=seconds + 60)[0])
    return float(out["end"]["sum_received"]["bits_per_second"]) / 1e9


def failover(lab: Lab, router: str, ns: str) -> None:
    rid = lab.router(router)["id"]
    if router == "rh":
        carrier = _active(lab, rid)
    else:
        carrier = lab.gateway_host(rid)
    server = lab.upstream(sys.executable, PROBE, "serve", "7777")
    time.sleep(0.3)
    probes = {mode: subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, PROBE, mode,
                                      UPSTREAM, "7777", "40", "0.05"],
                                     stdout=subprocess.PIPE, text=True)  # fmt: skip
              for mode in ("udp", "tcp")}  # fmt: skip
    time.sleep(3)
    index = carrier.removeprefix(f"{lab.prefix}host")
    links = [(f"{lab.prefix}ul", f"u{index}"), (f"{lab.prefix}ext", f"e{index}")]
    killed = time.monotonic()
    supervisor.control(lab.state, "stop", carrier, "KILL")
    for link_ns, link in links:
        subprocess.run(["ip", "-n", link_ns, "link", "set", link, "down"], check=True)
    try:
        udp = json.loads(probes["udp"].communicate(timeout=120)[0])
        tcp = json.loads(probes["tcp"].communicate(timeout=120)[0])
    finally:
        server.kill()
        for link_ns, link in links:
            subprocess.run(["ip", "-n", link_ns, "link", "set", link, "up"], check=True)
        supervisor.control(lab.state, "start", carrier)
    replies = [t for t in udp["replies"] if t >= killed - 1]
    times = [killed, *replies]
    gap = max(b - a for a, b in zip(times, times[1:], strict=False)) if replies else float("inf")
    lost = udp["sent"] - len(udp["replies"])
    print(f"failover {router} (gateway {carrier} killed, links cut): largest UDP gap "
          f"{gap * 1000:.0f} ms, {lost} of {udp['sent']} probes lost, TCP "
          f"{'survived' if tcp['error'] is None else 'broke: ' + tcp['error']}")  # fmt: skip
    time.sleep(15)  # the host back as a standby (HA) or a spare gateway


def _active(lab: Lab, router_id: str) -> str:
    r = lab.api.get(f"/routers/{router_id}/l3-agents").json()["agents"]
    return next(a["host"] for a in r if a.get("ha_state") == "active")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--gateways", type=int, default=2, choices=(2, 3))
    parser.add_argument(
        "--link-mbit",
        type=int,
        default=0,
        help="each gateway host's external link capacity (0: unshaped)",
    )
    parser.add_argument(
        "--only-scaling",
        action="store_true",
        help="measure gateway capacity only (no throughput, no failover)",
    )
    args = parser.parse_args()
    prefix = f"kbs{uuid.uuid4().hex[:3]}-"
    state = Path(f"/tmp/{prefix}lab")
    print(f"{machine()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()}")
    os.environ["KUMO_AGENT_DOWN_TIME"] = "30"
    up = [KUMO, "up", "--hosts", str(2 + args.gateways), "--gateways", str(args.gateways),
          "--port", str(_free_port()),
          "--prefix", prefix, "--state-dir", str(state), "--detach"]  # fmt: skip
    for _ in range(3):  # a loaded machine's API may not answer within kumo up's wait
        done = subprocess.run(up, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            break
        print(f"kumo up failed ({done.stderr.strip().splitlines()[-1:]}); again", flush=True)
        up[up.index("--port") + 1] = str(_free_port())
    else:
        raise SystemExit("kumo up failed three times")
    try:
        lab = Lab(state, prefix)
        instances = build(lab, args.gateways)
        if args.link_mbit:
            shape(lab, args.gateways, args.link_mbit)
            print(f"each gateway host's external link shaped to {args.link_mbit} Mbit/s")
        if not args.only_scaling:
            throughput(lab, instances, args.rounds, args.seconds)
        scaling(lab, instances, args.rounds, args.seconds, args.gateways)
        if not args.only_scaling:
            for router in ("rd", "rh"):
                failover(lab, router, instances[router])
    finally:
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True, timeout=300)


if __name__ == "__main__":
    main()
