"""Telemetry end to end: a real Prometheus scrapes a 3-host lab's API and agents.

Known UDP traffic between two instances on different hosts (and from the
"Internet" to a floating IP) shows up in PromQL within 5% of what was
sent; the request id of a port's creation appears in the log line of the
agent that wired it. Needs root and Debian's ``prometheus``; one lab.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.compiler import names
from kumo.lab.supervisor import LabState
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import KUMO, _api, kumo
from tests.live import _free_port

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs prometheus"),
]

PAYLOAD, COUNT = 1000, 2000
SINK = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(60.0)
total = 0
print("ready", flush=True)
try:
    while True:
        total += len(s.recv(65535))
        s.settimeout(3.0)
except OSError:
    pass
print(total, flush=True)
"""
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = b"x" * int(sys.argv[3])
for i in range(int(sys.argv[4])):
    s.sendto(data, (sys.argv[1], int(sys.argv[2])))
    if i % 20 == 19:
        time.sleep(0.002)
"""


def _prometheus(tmp: Path, api: str, agents: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: kumo-api\n    static_configs: [{{targets: ['{api}']}}]\n"
        f"  - job_name: kumo-agent\n    static_configs: [{{targets: {agents!r}}}]\n"
    )
    log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp / "prometheus.log").read_text()[-2000:]
        try:
            if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "prometheus did not start"
        time.sleep(0.2)


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=10)
    r.raise_for_status()
    result: list[dict[str, Any]] = r.json()["data"]["result"]
    return result


def _value(base: str, promql: str) -> float:
    found = _query(base, promql)
    assert len(found) == 1, (promql, found)
    return float(found[0]["value"][1])


def _settled(base: str, promql: str) -> float:
    """The value once two scrapes agree (the counters stopped moving)."""
    last = -1.0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _query(base, promql)
        if len(found) == 1:
            now = float(found[0]["value"][1])
            if now == last:
                return now
            last = now
        time.sleep(1.2)
    raise AssertionError(f"{promql} did not settle (last {last})")


def _udp(state: Path, receiver: list[str], sender: list[str], address: str, port: int) -> int:
    """Send COUNT datagrams of PAYLOAD bytes; the bytes the receiver got."""
    sink = subprocess.Popen([*receiver, sys.executable, "-c", SINK, str(port)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    subprocess.run([*sender, sys.executable, "-c", SEND, address, str(port), str(PAYLOAD),
                    str(COUNT)], check=True, timeout=60)  # fmt: skip
    out, _ = sink.communicate(timeout=30)
    return int(out.strip())


def test_prometheus_sees_traffic_and_request_ids_follow_changes(tmp_path: Path) -> None:
    with running_lab(tmp_path, "kmt") as (state, prefix):
        lab = LabState.load(state)
        assert lab is not None
        api = _api(state)
        net = api.post("/networks", json={"network": {"name": "mnet"}}).json()["network"]
        sub = api.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                    "cidr": "10.70.0.0/24"}}).json()["subnet"]  # fmt: skip
        h1, h2 = f"{prefix}host1", f"{prefix}host2"
        kumo(state, "lab", "instance", "create", "vm1", "--network", "mnet", "--host", h1,
             "--ip", "10.70.0.11")  # fmt: skip
        # vm2's port is made here, with a request id of the caller's choosing
        request_id = f"req-{uuid.uuid4()}"
        r = api.post("/ports", headers={"X-OpenStack-Request-ID": request_id}, json={"port": {
            "network_id": net["id"], "name": "vm2", "device_owner": "compute:lab",
            "device_id": str(uuid.uuid4()), "binding:host_id": h2,
            "fixed_ips": [{"ip_address": "10.70.0.12"}]}})  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.headers["x-openstack-request-id"] == request_id
        vm2 = r.json()["port"]
        deadline = time.monotonic() + 60
        while api.get(f"/ports/{vm2['id']}").json()["port"]["status"] != "ACTIVE":
            assert time.monotonic() < deadline, "vm2 did not become ACTIVE"
            time.sleep(0.1)
        agent_log = (state / "logs" / f"agent-{h2}.log").read_text()
        wired = [line for line in agent_log.splitlines() if f"port {vm2['id']} wired" in line]
        assert wired and request_id in wired[0], wired
        # vm2's address: its DHCP client may take a moment after ACTIVE
        ns2 = names.instance_netns(h2, vm2["id"])
        deadline = time.monotonic() + 30
        while "inet 10.70.0.12/" not in subprocess.run(
                ["ip", "-n", ns2, "-4", "-o", "addr", "show", "dev", "eth0"],
                capture_output=True, text=True).stdout:  # fmt: skip
            assert time.monotonic() < deadline, "vm2 got no address"
            time.sleep(0.1)

        agents = [(state / "agents" / f"{prefix}host{i}.metrics").read_text().strip()
                  .removeprefix("http://") for i in (1, 2, 3)]  # fmt: skip
        prom, base = _prometheus(tmp_path, lab.api_url.removeprefix("http://"), agents)
        try:
            deadline = time.monotonic() + 30
            while len(_query(base, 'up{job="kumo-agent"} == 1')) < 3 or not _query(
                base, 'up{job="kumo-api"} == 1'
            ):
                assert time.monotonic() < deadline, _query(base, "up")
                time.sleep(0.5)
            assert _value(base, 'sum(kumo_agent_ready{job="kumo-agent"})') == 3
            assert _query(
                base,
                "kumo_api_request_duration_seconds_count{route="
                '"/networking/v2.0/ports",method="POST",status="201"}',
            )
            vm1 = api.get("/ports", params={"name": "vm1"}).json()["ports"][0]
            sent_q = f'kumo_port_sent_bytes_total{{port_id="{vm1["id"]}"}}'
            recv_q = f'kumo_port_received_bytes_total{{port_id="{vm2["id"]}"}}'
            labels = _query(base, recv_q)[0]["metric"]
            assert labels["host"] == h2 and labels["network_id"] == net["id"]
            assert labels["project_id"] == net["project_id"]
            sent0, recv0 = _settled(base, sent_q), _settled(base, recv_q)
            got = _udp(state, [KUMO, "exec", "vm2", "--state-dir", str(state), "--"],
                       [KUMO, "exec", "vm1", "--state-dir", str(state), "--"],
                       "10.70.0.12", 5001)  # fmt: skip
            wanted = PAYLOAD * COUNT
            assert got >= 0.95 * wanted, f"only {got} of {wanted} bytes arrived"
            sent = _settled(base, sent_q) - sent0
            recv = _settled(base, recv_q) - recv0
            # IP bytes: payload plus 28 bytes of headers per datagram (2.8%)
            assert abs(sent - wanted) <= 0.05 * wanted, (sent, wanted)
            assert abs(recv - got) <= 0.05 * got, (recv, got)

            # a floating IP: from the lab's "Internet" to vm2
            router = api.post("/routers", json={"router": {"name": "mr"}}).json()["router"]
            public = api.get("/networks", params={"name": "public"}).json()["networks"][0]
            api.put(f"/routers/{router['id']}", json={"router": {
                "external_gateway_info": {"network_id": public["id"]}}}).raise_for_status()  # fmt: skip
            api.put(f"/routers/{router['id']}/add_router_interface",
                    json={"subnet_id": sub["id"]}).raise_for_status()  # fmt: skip
            groups = api.get("/security-groups", params={
                "name": "default", "project_id": net["project_id"]}).json()["security_groups"]  # fmt: skip
            api.post("/security-group-rules", json={"security_group_rule": {
                "security_group_id": groups[0]["id"], "direction": "ingress", "protocol": "udp",
                "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0"}}).raise_for_status()  # fmt: skip
            fip = api.post("/floatingips", json={"floatingip": {
                "floating_network_id": public["id"], "port_id": vm2["id"]}}).json()["floatingip"]  # fmt: skip
            address = fip["floating_ip_address"]
            fip_q = f'kumo_floatingip_bytes_total{{floating_ip="{address}",direction="in"}}'
            deadline = time.monotonic() + 60
            while not _query(base, fip_q):
                assert time.monotonic() < deadline, "no floating IP counter"
                time.sleep(0.5)
            assert _query(base, fip_q)[0]["metric"]["floatingip_id"] == fip["id"]
            fip0 = _settled(base, fip_q)
            got = _udp(state, [KUMO, "exec", "vm2", "--state-dir", str(state), "--"],
                       ["ip", "netns", "exec", f"{prefix}up"], address, 5002)  # fmt: skip
            assert got >= 0.95 * wanted, f"only {got} of {wanted} bytes reached the floating IP"
            fip_in = _settled(base, fip_q) - fip0
            assert abs(fip_in - got) <= 0.05 * got, (fip_in, got)
        finally:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
