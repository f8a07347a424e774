"""Server boot benchmarks on a lab (needs root).

    .venv/bin/python -m bench.servers [--sequential 20] [--burst 50]

Builds a 3-host lab (prefix kbv-), a network, and a client instance on
host1. Sequential: servers created one after another through the compute
API, each timed from the create call to ACTIVE (every port wired by its
host's agent) and to the first answered ping from the client. Burst:
``--burst`` servers created at once (one request each, from 8 threads),
timed until all are ACTIVE and until all answer a ping. Removes
everything afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import free_port, machine, summary_ms
from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.instances import LabClient
from kumo.lab.supervisor import LabState

KUMO = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "kumo")
PREFIX = "kbv-"


class Compute:
    def __init__(self, state: Path) -> None:
        lab = LabState.load(state)
        assert lab is not None
        token = supervisor._admin_token(state, lab.api_url)
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
        self.api_url = lab.api_url
        self.http = httpx.Client(base_url=f"{lab.api_url}/compute/v2.1", headers=headers,
                                 timeout=120)  # fmt: skip
        self.net = httpx.Client(base_url=f"{lab.api_url}/networking/v2.0", headers=headers,
                                timeout=120)  # fmt: skip

    def create(self, name: str, network_id: str) -> str:
        body = {"server": {"name": name, "imageRef": self.image, "flavorRef": self.flavor,
                           "networks": [{"uuid": network_id}]}}  # fmt: skip
        r = self.http.post("/servers", json=body)
        r.raise_for_status()
        return str(r.json()["server"]["id"])

    def status(self, server_id: str) -> dict[str, Any]:
        return dict(self.http.get(f"/servers/{server_id}").json()["server"])

    def setup(self) -> None:
        images = httpx.get(f"{self.api_url}/image/v2/images",
                           headers=dict(self.http.headers)).json()["images"]  # fmt: skip
        self.image = next(i["id"] for i in images if i["name"] == "busybox")
        flavors = self.http.get("/flavors").json()["flavors"]
        self.flavor = next(f["id"] for f in flavors if f["name"] == "m1.tiny")


def _wait_active(api: Compute, server_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (server := api.status(server_id))["status"] != "ACTIVE":
        if server["status"] == "ERROR" or time.monotonic() > deadline:
            raise RuntimeError(f"server {server_id}: {server['status']} {server.get('fault')}")
        time.sleep(0.01)
    return server


def _pings(client_ns: str, ip: str) -> bool:
    cmd = ["ip", "netns", "exec", client_ns, "ping", "-c1", "-W", "0.2", ip]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def _address(server: dict[str, Any]) -> str:
    return str(next(iter(server["addresses"].values()))[0]["addr"])


def run(sequential: int, burst: int) -> list[str]:
    state = Path(tempfile.mkdtemp(prefix="kumo-bench-servers."))
    subprocess.run(
        [KUMO, "up", "--hosts", "3", "--port", str(free_port()), "--prefix", PREFIX,
         "--state-dir", str(state), "--detach"],
        check=True, capture_output=True,
    )  # fmt: skip
    out: list[str] = []
    try:
        api = Compute(state)
        api.setup()
        net = api.net.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
        api.net.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                  "cidr": "10.200.0.0/16"}})  # fmt: skip
        project = net["project_id"]
        room = sequential + burst + 10
        api.http.put(f"/os-quota-sets/{project}", json={"quota_set": {
            "instances": room, "cores": room, "ram": room * 512}}).raise_for_status()  # fmt: skip
        api.net.put(f"/quotas/{project}", json={"quota": {"port": room + 50}}).raise_for_status()
        # the default group admits members only: the client is one
        client = LabClient(state).create("client", "bench", f"{PREFIX}host1", None, None)
        client_ns = names.instance_netns(client["binding:host_id"], client["id"])
        active, pinged = [], []
        for k in range(sequential):
            started = time.monotonic()
            server_id = api.create(f"seq{k}", net["id"])
            server = _wait_active(api, server_id)
            active.append(time.monotonic() - started)
            ip = _address(server)
            while not _pings(client_ns, ip):
                if time.monotonic() - started > 120:
                    raise RuntimeError(f"{ip} never answered")
            pinged.append(time.monotonic() - started)
        out.append(f"sequential create -> ACTIVE: {summary_ms(active)}")
        out.append(f"sequential create -> first ping from another instance: {summary_ms(pinged)}")

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda k: api.create(f"burst{k}", net["id"]), range(burst)))
        created = time.monotonic() - started
        servers = [_wait_active(api, i) for i in ids]
        all_active = time.monotonic() - started
        pending = {_address(s) for s in servers}
        while pending:
            pending = {ip for ip in pending if not _pings(client_ns, ip)}
            if time.monotonic() - started > 600:
                raise RuntimeError(f"{len(pending)} servers never answered")
        all_pinged = time.monotonic() - started
        hosts = sorted({str(s["OS-EXT-SRV-ATTR:host"]) for s in servers})
        out.append(
            f"{burst} servers at once (8 client threads): API calls done {created:.1f} s,"
            f" all ACTIVE {all_active:.1f} s, all answering a ping {all_pinged:.1f} s;"
            f" spread over {len(hosts)} hosts"
        )
    finally:
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequential", type=int, default=20)
    parser.add_argument("--burst", type=int, default=50)
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench/servers.py {stamp}, {machine()}")
    for line in run(args.sequential, args.burst):
        print(line)


if __name__ == "__main__":
    main()
