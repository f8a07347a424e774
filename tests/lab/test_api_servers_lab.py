"""``kumo up --api-servers 2`` on the real kernel: two API servers on the
lab's own PostgreSQL serve one cloud, and the agents go on through the
second when the one they use is stopped.

Needs root, iproute2 and the PostgreSQL server programs; its own prefix,
state directory, API port and PostgreSQL data directory (removed after).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.compiler import names
from kumo.lab import postgres, supervisor
from kumo.lab.supervisor import LabState
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import kumo


def _has_postgres() -> bool:
    try:
        postgres.bindir()
    except postgres.PostgresMissing:
        return False
    return True


pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
    pytest.mark.skipif(not _has_postgres(), reason="needs the PostgreSQL server programs"),
]


def _api(state: Path, url: str) -> httpx.Client:
    token = supervisor._admin_token(state, url)
    return httpx.Client(
        base_url=f"{url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=30
    )


def _ping(host: str, port_id: str, address: str) -> bool:
    ns = names.instance_netns(host, port_id)
    cmd = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", address]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def _port(api: httpx.Client, name: str) -> dict[str, Any]:
    (port,) = api.get("/ports", params={"name": name}).json()["ports"]
    return dict(port)


def test_two_api_servers_one_cloud_and_agents_move_on(tmp_path: Path) -> None:
    own: list[str] = []  # the lab's name, once known: its PostgreSQL data is removed after
    try:
        with running_lab(tmp_path, "kas", "--api-servers", "2") as (state, prefix):
            lab = LabState.load(state)
            assert lab is not None and lab.own_postgres
            own.append(lab.name)
            first, second = lab.api_urls
            hosts = [f"{prefix}host{i}" for i in (1, 2, 3)]
            one, two = _api(state, first), _api(state, second)

            # both answer, and a write through one is read through the other
            net = two.post("/networks", json={"network": {"name": "apinet"}})
            assert net.status_code == 201, net.text
            net_id = net.json()["network"]["id"]
            assert one.get(f"/networks/{net_id}").status_code == 200
            sub = {"network_id": net_id, "ip_version": 4, "cidr": "10.61.0.0/24"}
            assert one.post("/subnets", json={"subnet": sub}).status_code == 201
            assert len(two.get("/subnets", params={"network_id": net_id}).json()["subnets"]) == 1
            for name, host, ip in (("a1", hosts[0], "10.61.0.11"), ("a2", hosts[1], "10.61.0.12")):
                kumo(state, "lab", "instance", "create", name, "--network", "apinet",
                     "--host", host, "--ip", ip)  # fmt: skip
            a1 = _port(two, "a1")
            assert _ping(hosts[0], a1["id"], "10.61.0.12")

            # the agents use the first server: stop it; they go on through the second
            kumo(state, "lab", "stop", "api")
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"{first}/healthz", timeout=2)
            body = {"network_id": net_id, "name": "a3", "device_owner": "compute:lab",
                    "device_id": "a3", "binding:host_id": hosts[2],
                    "fixed_ips": [{"ip_address": "10.61.0.13"}]}  # fmt: skip
            made = two.post("/ports", json={"port": body})
            assert made.status_code == 201, made.text
            a3 = made.json()["port"]["id"]
            deadline = time.monotonic() + 60
            while two.get(f"/ports/{a3}").json()["port"]["status"] != "ACTIVE":
                assert time.monotonic() < deadline, (
                    "the agent did not wire a3 via the second server"
                )
                time.sleep(0.5)
            assert _ping(hosts[0], a1["id"], "10.61.0.13")
            assert _ping(hosts[2], a3, "10.61.0.12")
    finally:  # once `kumo down` stopped it (a failed up leaves the state file)
        made = LabState.load(tmp_path / "lab")
        if made is not None and made.own_postgres:
            own.append(made.name)
        for name in own:
            shutil.rmtree(postgres.data_dir(name), ignore_errors=True)
