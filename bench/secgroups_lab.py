"""Rule create (API) → enforced on every host of a 3-host lab, p50/p99.

Part of ``bench/secgroups.py --latency``. Builds its own lab (prefix kbs-),
one server instance per host in group ``web`` with a TCP listener, and a
client on each host in the default group. Each sample creates a rule
opening a fresh TCP port and times until a connection from the client on
the NEXT host to every server succeeds (so each host's filter is seen from
another host), then deletes the rule. Removes everything afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import free_port, summary_ms
from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.instances import LabClient
from kumo.lab.supervisor import LabState

KUMO = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "kumo")
PREFIX = "kbs-"

PROBE = """
import socket, sys, time
targets = [(ip, int(port)) for ip, port in (a.split(":") for a in sys.argv[1:])]
for line in sys.stdin:
    port = int(line)
    started = time.monotonic()
    pending = [ip for ip, _ in targets]
    while pending and time.monotonic() - started < 30:
        for ip in list(pending):
            try:
                socket.create_connection((ip, port), timeout=0.05).close()
                pending.remove(ip)
            except OSError:
                pass
    print(time.monotonic() - started if not pending else -1, flush=True)
"""

LISTEN = """
import socket, sys, selectors
sel = selectors.DefaultSelector()
for port in range(int(sys.argv[1]), int(sys.argv[2])):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept(); conn.close()
"""


def _in_ns(netns: str, script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def bench_latency(samples: int) -> list[str]:
    state = Path(tempfile.mkdtemp(prefix="kumo-bench-sg."))
    port = free_port()
    subprocess.run(
        [KUMO, "up", "--hosts", "3", "--port", str(port), "--prefix", PREFIX,
         "--state-dir", str(state), "--detach"],
        check=True, capture_output=True,
    )  # fmt: skip
    procs: list[subprocess.Popen[str]] = []
    try:
        lab = LabState.load(state)
        assert lab is not None
        token = supervisor._admin_token(state, lab.api_url)
        api = httpx.Client(
            base_url=f"{lab.api_url}/networking/v2.0",
            headers={"X-Auth-Token": token},
            timeout=60,
        )
        net = api.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
        api.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                              "cidr": "10.62.0.0/24"}})  # fmt: skip
        web = api.post("/security-groups", json={"security_group": {"name": "web"}}).json()
        web_id = web["security_group"]["id"]
        client = LabClient(state)
        hosts = [f"{PREFIX}host{i}" for i in (1, 2, 3)]
        servers, clients = [], []
        for i, host in enumerate(hosts):
            s = client.create(f"s{i}", "bench", host, f"10.62.0.{11 + i}", None,
                              security_groups=[web_id])  # fmt: skip
            c = client.create(f"c{i}", "bench", host, f"10.62.0.{21 + i}", None)
            servers.append((host, s))
            clients.append((host, c))
        base = 20000
        for host, s in servers:
            proc = _in_ns(
                names.instance_netns(host, s["id"]), LISTEN, str(base), str(base + samples)
            )
            procs.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        targets = [f"{s['fixed_ips'][0]['ip_address']}:0" for _, s in servers]
        host, c = clients[1]
        probe = _in_ns(names.instance_netns(host, c["id"]), PROBE, *targets)
        procs.append(probe)
        assert probe.stdin is not None and probe.stdout is not None
        times: list[float] = []
        for k in range(samples):
            dport = base + k
            t0 = time.monotonic()
            r = api.post("/security-group-rules", json={"security_group_rule": {
                "security_group_id": web_id, "direction": "ingress", "protocol": "tcp",
                "port_range_min": dport, "port_range_max": dport,
                "remote_ip_prefix": "0.0.0.0/0"}})  # fmt: skip
            api_time = time.monotonic() - t0
            assert r.status_code == 201, r.text
            probe.stdin.write(f"{dport}\n")
            probe.stdin.flush()
            waited = float(probe.stdout.readline())
            if waited < 0:
                raise RuntimeError(f"rule for port {dport} not enforced on every host in 30 s")
            times.append(api_time + waited)
            api.delete(f"/security-group-rules/{r.json()['security_group_rule']['id']}")
        return [
            f"rule create (API) -> enforced on all 3 hosts (TCP connect from another host):"
            f" {summary_ms(times)}"
        ]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    for line in bench_latency(int(sys.argv[1]) if len(sys.argv) > 1 else 20):
        print(line)
