"""Real VM boot benchmarks on a lab (needs root, QEMU and the cirros image).

    .venv/bin/python -m bench.vms [--sequential 3] [--burst 3]

Builds a 3-host lab (prefix kbm-), a network and a client instance (a
namespace) on host2. Sequential: cirros servers (m1.tiny) booted on host1
one after another, each timed from the create call's answer to ACTIVE (its host
reports QEMU running), to the first answered ping from the client and to
the first SSH login with its Nova keypair (``hostname``), then deleted.
Burst: ``--burst`` servers created at once, timed until all are ACTIVE,
answer a ping and take an SSH login (they alternate between host1 and
host3); then each QEMU's resident memory after 30 s idle. Then one TCP
stream across hosts, VM to VM (burst1 on host3 sends to burst0 on host1)
and namespace to namespace (the client on host2 to a peer on host1), the
same way on both (``dd`` of 64 MiB into busybox ``nc``, timed by the
sender; the guest has no iperf3), and iperf3 between the namespaces for
scale. Prints the machine's load average, since every guest runs under
TCG on shared cores. Removes everything afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import free_port, machine, summary_ms
from bench.servers import Compute, _address, _pings
from kumo.compiler import names
from kumo.lab.instances import LabClient

KUMO = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "kumo")
PREFIX = "kbm-"
TIMEOUT = 600.0


def _ssh(client_ns: str, key: Path, ip: str) -> bool:
    cmd = ["ip", "netns", "exec", client_ns, "ssh", "-i", str(key), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "ConnectTimeout=3", f"cirros@{ip}", "hostname"]  # fmt: skip
    try:
        return subprocess.run(cmd, capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _until(check: Callable[[], bool], started: float, what: str) -> float:
    while not check():
        if time.monotonic() - started > TIMEOUT:
            raise RuntimeError(f"{what}: not within {TIMEOUT} s")
        time.sleep(0.2)
    return time.monotonic() - started


def _active(api: Compute, server_id: str) -> bool:
    server = api.status(server_id)
    if server["status"] == "ERROR":
        raise RuntimeError(f"server {server_id}: {server.get('fault')}")
    return bool(server["status"] == "ACTIVE")


def _rss_mib(server_id: str) -> float:
    found = subprocess.run(["pgrep", "-f", f"guest={server_id},"], capture_output=True, text=True)
    pid = int(found.stdout.split()[0])
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _one(api: Compute, sid: str, client_ns: str, key: Path) -> tuple[float, float, float]:
    """Seconds from now (just after the create call) to ACTIVE, first ping and first SSH
    login of one server; then it is deleted."""
    started = time.monotonic()
    active = _until(lambda: _active(api, sid), started, "ACTIVE")
    ip = _address(api.status(sid))
    pinged = _until(lambda: _pings(client_ns, ip), started, "ping")
    sshed = _until(lambda: _ssh(client_ns, key, ip), started, "ssh")
    api.http.delete(f"/servers/{sid}")
    _until(lambda: api.http.get(f"/servers/{sid}").status_code == 404, started, "delete")
    return active, pinged, sshed


STREAM_MIB = 64
"""Bytes sent per throughput run (``dd`` from ``/dev/zero`` into busybox ``nc``)."""
SEND = (
    "for i in 1 2 3 4 5 6 7 8 9 10; do a=$(cut -d' ' -f1 /proc/uptime); "
    "if dd if=/dev/zero bs=64k count={blocks} 2>/dev/null | nc {ip} 5001; then "
    "b=$(cut -d' ' -f1 /proc/uptime); echo $a $b; exit 0; fi; sleep 1; done; exit 1"
)
"""The sender, timed by its own clock (``/proc/uptime``: a VM's and a namespace's alike);
tried again while the listener is not up yet (nc refused)."""


def _ssh_run(client_ns: str, key: Path, ip: str, command: str, timeout: float = 120) -> str:
    cmd = ["ip", "netns", "exec", client_ns, "ssh", "-i", str(key), "-o", "BatchMode=yes",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "ConnectTimeout=5", f"cirros@{ip}", command]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"ssh {ip} {command!r}: {done.stderr.strip()}")
    return done.stdout


def _mbit(uptimes: str) -> float:
    start, end = (float(x) for x in uptimes.split())
    return STREAM_MIB * 8 * 1.048576 / max(end - start, 0.01)


def _vm_stream(client_ns: str, key: Path, receiver: str, sender: str) -> float:
    """Mbit/s of one TCP stream from the VM at ``sender`` to the one at ``receiver``
    (both reached over SSH from the client namespace)."""
    listen = subprocess.Popen(
        ["ip", "netns", "exec", client_ns, "ssh", "-i", str(key), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"cirros@{receiver}", "nc -l -p 5001 > /dev/null"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        send = SEND.format(blocks=STREAM_MIB * 16, ip=receiver)
        return _mbit(_ssh_run(client_ns, key, sender, send))
    finally:
        listen.wait(timeout=60)


def _ns_stream(receiver_ns: str, receiver_ip: str, sender_ns: str) -> float:
    """The same stream between two namespace instances (busybox ``nc`` on the host)."""
    listen = subprocess.Popen(
        ["ip", "netns", "exec", receiver_ns, "busybox", "nc", "-l", "-p", "5001"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        send = SEND.format(blocks=STREAM_MIB * 16, ip=receiver_ip).replace("| nc ", "| busybox nc ")
        done = subprocess.run(["ip", "netns", "exec", sender_ns, "sh", "-c", send],
                              capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
        return _mbit(done.stdout)
    finally:
        listen.wait(timeout=60)


def _ns_iperf(receiver_ns: str, receiver_ip: str, sender_ns: str) -> float:
    """iperf3 (5 s) between the two namespace instances, for scale."""
    import json

    server = subprocess.Popen(["ip", "netns", "exec", receiver_ns, "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(0.5)
        done = subprocess.run(["ip", "netns", "exec", sender_ns, "iperf3", "-c", receiver_ip,
                               "-t", "5", "-J"], capture_output=True, text=True, timeout=60)  # fmt: skip
        return float(json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"]) / 1e6
    finally:
        server.wait(timeout=30)


def run(sequential: int, burst: int) -> list[str]:
    state = Path(tempfile.mkdtemp(prefix="kumo-bench-vms."))
    subprocess.run(
        [KUMO, "up", "--hosts", "3", "--port", str(free_port()), "--prefix", PREFIX,
         "--state-dir", str(state), "--detach"],
        check=True, capture_output=True,
    )  # fmt: skip
    out: list[str] = []
    try:
        api = Compute(state)
        api.setup()
        images = httpx.get(f"{api.api_url}/image/v2/images",
                           headers=dict(api.http.headers)).json()["images"]  # fmt: skip
        api.image = next(i["id"] for i in images if i["name"] == "cirros")
        key = state / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)  # fmt: skip
        api.http.post(
            "/os-keypairs",
            json={"keypair": {"name": "bench", "public_key": Path(f"{key}.pub").read_text()}},
        ).raise_for_status()
        net = api.net.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
        api.net.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                  "cidr": "10.201.0.0/16"}})  # fmt: skip
        groups = api.net.get("/security-groups", params={"name": "default",
                             "project_id": net["project_id"]}).json()["security_groups"]  # fmt: skip
        for protocol, port in (("icmp", None), ("tcp", 22), ("tcp", 5001), ("tcp", 5201)):
            rule = {
                "security_group_id": groups[0]["id"],
                "direction": "ingress",
                "protocol": protocol,
                "port_range_min": port,
                "port_range_max": port,
            }
            api.net.post("/security-group-rules", json={"security_group_rule": rule})
        lab = LabClient(state)
        client = lab.create("client", "bench", f"{PREFIX}host2", None, None)
        client_ns = names.instance_netns(client["binding:host_id"], client["id"])
        peer = lab.create("peer", "bench", f"{PREFIX}host1", None, None)
        peer_ns = names.instance_netns(peer["binding:host_id"], peer["id"])
        peer_ip = str(peer["fixed_ips"][0]["ip_address"])

        def create(name: str, host: str | None) -> str:
            body = {
                "server": {
                    "name": name,
                    "imageRef": api.image,
                    "flavorRef": api.flavor,
                    "key_name": "bench",
                    "networks": [{"uuid": net["id"]}],
                }
            }
            if host:
                body["server"]["availability_zone"] = f"nova:{host}"
            r = api.http.post("/servers", json=body)
            r.raise_for_status()
            return str(r.json()["server"]["id"])

        active, pinged, sshed = [], [], []
        for k in range(sequential):
            times = _one(api, create(f"seq{k}", f"{PREFIX}host1"), client_ns, key)
            active.append(times[0])
            pinged.append(times[1])
            sshed.append(times[2])
        out.append(f"sequential create -> ACTIVE: {summary_ms(active)}")
        out.append(f"sequential create -> first ping: {summary_ms(pinged)}")
        out.append(f"sequential create -> first SSH login: {summary_ms(sshed)}")

        started = time.monotonic()
        hosts = (f"{PREFIX}host1", f"{PREFIX}host3")  # burst0 and burst1 on two hosts
        with ThreadPoolExecutor(burst) as pool:
            ids = list(pool.map(lambda k: create(f"burst{k}", hosts[k % 2]), range(burst)))
        all_active = _until(lambda: all(_active(api, i) for i in ids), started, "ACTIVE")
        ips = [_address(api.status(i)) for i in ids]
        all_pinged = _until(lambda: all(_pings(client_ns, ip) for ip in ips), started, "ping")
        all_ssh = _until(lambda: all(_ssh(client_ns, key, ip) for ip in ips), started, "ssh")
        out.append(
            f"{burst} VMs at once: all ACTIVE {all_active:.1f} s, all answering a ping"
            f" {all_pinged:.1f} s, all taking an SSH login {all_ssh:.1f} s"
        )
        time.sleep(30)
        rss = [_rss_mib(i) for i in ids]
        out.append(f"idle QEMU RSS: {', '.join(f'{r:.0f}' for r in rss)} MiB (after 30 s)")

        if len(ips) >= 2:  # one TCP stream across hosts: VM to VM, namespace to namespace
            vm = [_vm_stream(client_ns, key, ips[0], ips[1]) for _ in range(3)]
            ns = [_ns_stream(peer_ns, peer_ip, client_ns) for _ in range(3)]
            iperf = _ns_iperf(peer_ns, peer_ip, client_ns)
            vm_mbit, ns_mbit = sorted(vm)[1], sorted(ns)[1]
            out.append(
                f"TCP across hosts, {STREAM_MIB} MiB dd | busybox nc, median of 3: VM host3 -> "
                f"VM host1 {vm_mbit:.0f} Mbit/s, namespace host2 -> namespace host1 "
                f"{ns_mbit:.0f} Mbit/s (VM/namespace {vm_mbit / ns_mbit:.3f}); "
                f"iperf3 namespace to namespace {iperf:.0f} Mbit/s"
            )
        out.append(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True)
        for i in (1, 2, 3):
            subprocess.run(["rm", "-rf", f"/run/kumo/vms/{PREFIX}host{i}"], check=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequential", type=int, default=3)
    parser.add_argument("--burst", type=int, default=3)
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench/vms.py {stamp}, {machine()}, load {os.getloadavg()[0]:.1f} at the start")
    for line in run(args.sequential, args.burst):
        print(line)


if __name__ == "__main__":
    main()
