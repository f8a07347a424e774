"""Segments with the openstack CLI against a live ``kumo serve``: a second
segment made with ``openstack network segment create`` and a subnet on it
(``openstack subnet create --network-segment``); the network is then routed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.slow

OPENSTACK = str(Path(sys.executable).parent / "openstack")


def _cli(server: LiveServer, *args: str) -> Any:
    done = subprocess.run(
        [OPENSTACK, *args, "-f", "json"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_segment_create_list_and_a_subnet_on_it(live_server: LiveServer) -> None:
    api = httpx.Client(
        base_url=f"{live_server.base}/networking/v2.0",
        headers={"X-Auth-Token": live_server.token()},
        timeout=30,
    )
    net = api.post("/networks", json={"network": {
        "name": "routed", "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": 150}}).json()["network"]  # fmt: skip
    seg = _cli(live_server, "network", "segment", "create", "--network", net["id"],
               "--network-type", "vlan", "--physical-network", "external", "--segment", "151",
               "rack2")  # fmt: skip
    assert (seg["name"], seg["network_type"], seg["segmentation_id"]) == ("rack2", "vlan", 151)
    listed = api.get("/segments", params={"network_id": net["id"]}).json()["segments"]
    assert sorted(s["segmentation_id"] for s in listed) == [150, 151]
    sub = _cli(live_server, "subnet", "create", "--network", net["id"], "--network-segment",
               seg["id"], "--subnet-range", "10.67.2.0/24", "rack2-subnet")  # fmt: skip
    assert sub["segment_id"] == seg["id"]
    assert api.get(f"/networks/{net['id']}").json()["network"]["l2_adjacency"] is False
