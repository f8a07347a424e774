"""Metering end to end: a 3-host lab, an instance behind a distributed
router sends a known number of bytes to the upstream; the label's count
summed over the hosts by the API is within 1% of what left, a prefix the
label excludes is not counted, and the agents' /metrics agree with the
API. Needs root; its own prefix, state directory and port; one lab.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.compiler import names
from tests.dataplane.ha_nodes import wait_for
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import _api, kumo, ping

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]

UPSTREAM = "203.0.113.1"
EXCLUDED = "198.51.100.1"
"""A second address of the upstream namespace, in the label's excluded prefix."""
PAYLOAD, COUNT = 1000, 3000
SEND = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
data = b"x" * int(sys.argv[3])
for i in range(int(sys.argv[4])):
    s.sendto(data, (sys.argv[1], int(sys.argv[2])))
    if i % 50 == 49:
        time.sleep(0.002)
"""


def _send(netns: str, address: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", SEND, address, "9",
                    str(PAYLOAD), str(COUNT)], check=True, timeout=120)  # fmt: skip


def _counts(api: httpx.Client, label_id: str) -> dict[str, Any]:
    r = api.get(f"/metering/metering-labels/{label_id}/counts")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()["counts"]
    return found


def _agents_sum(state: Path, prefix: str, label_id: str) -> float:
    total = 0.0
    pattern = re.compile(
        r'^kumo_metering_label_bytes_total\{[^}]*label_id="' + label_id + r'"[^}]*\} (\S+)$', re.M
    )
    for i in (1, 2, 3):
        url = (state / "agents" / f"{prefix}host{i}.metrics").read_text().strip()
        text = httpx.get(f"{url}/metrics", timeout=10).text
        total += sum(float(v) for v in pattern.findall(text))
    return total


@pytest.mark.timeout(600)
def test_a_label_counts_what_leaves_through_the_router(tmp_path: Path) -> None:
    with running_lab(tmp_path, "kme") as (state, prefix):
        api = _api(state)
        up = f"{prefix}up"
        subprocess.run(["ip", "-n", up, "addr", "add", f"{EXCLUDED}/32", "dev", "lo"], check=True)
        public = api.get("/networks", params={"name": "public"}).json()["networks"][0]
        net = api.post("/networks", json={"network": {"name": "mnet"}}).json()["network"]
        sub = api.post("/subnets", json={"subnet": {
            "network_id": net["id"], "ip_version": 4, "cidr": "10.71.0.0/24"}}).json()["subnet"]  # fmt: skip
        router = api.post("/routers", json={"router": {
            "name": "mr", "external_gateway_info": {"network_id": public["id"]}}}).json()["router"]  # fmt: skip
        r = api.put(f"/routers/{router['id']}/add_router_interface",
                    json={"subnet_id": sub["id"]})  # fmt: skip
        assert r.status_code == 200, r.text
        label = api.post("/metering/metering-labels",
                         json={"metering_label": {"name": "out"}}).json()["metering_label"]  # fmt: skip
        for rule in ({"direction": "egress", "remote_ip_prefix": "0.0.0.0/0"},
                     {"direction": "egress", "remote_ip_prefix": "198.51.100.0/24",
                      "excluded": True}):  # fmt: skip
            r = api.post("/metering/metering-label-rules",
                         json={"metering_label_rule": {"metering_label_id": label["id"], **rule}})  # fmt: skip
            assert r.status_code == 201, r.text
        h1 = f"{prefix}host1"
        kumo(state, "lab", "instance", "create", "m1", "--network", "mnet", "--host", h1,
             "--ip", "10.71.0.11", "--disable-port-security")  # fmt: skip
        port = api.get("/ports", params={"fixed_ips": "ip_address=10.71.0.11"}).json()["ports"][0]
        ns = names.instance_netns(h1, port["id"])
        for address in (UPSTREAM, EXCLUDED):
            wait_for(lambda a=address: ping(state, "m1", a, count=1), timeout=60, step=0.5)
        # the pings are counted too: wait for the count to settle first
        wait_for(lambda: _counts(api, label["id"])["bytes"] > 0, timeout=30, step=0.5)
        time.sleep(6)
        before = _counts(api, label["id"])
        wanted = COUNT * (PAYLOAD + 28)  # IP bytes: payload, UDP and IP headers
        _send(ns, EXCLUDED)
        _send(ns, UPSTREAM)
        wait_for(lambda: _counts(api, label["id"])["bytes"] - before["bytes"] >= 0.99 * wanted,
                 timeout=60, step=0.5)  # fmt: skip
        time.sleep(6)  # one more report from every agent
        after = _counts(api, label["id"])
        counted = after["bytes"] - before["bytes"]
        assert abs(counted - wanted) <= 0.01 * wanted, (counted, wanted)
        assert abs(after["packets"] - before["packets"] - COUNT) <= 0.01 * COUNT
        # the agents' own metrics sum to the same
        assert abs(_agents_sum(state, prefix, label["id"]) - after["bytes"]) <= 0.01 * wanted
