"""Trunks end to end on a 3-host lab: the API, the agents and the kernel.

A lab instance's port becomes a trunk's parent with a subport (VLAN 100)
on another network; the API binds the subport to the parent's host and the
agent there wires it (subport and trunk ACTIVE). Inside the instance a VLAN
subinterface with the subport's MAC and address reaches an instance of the
subport's network on another host; removing the subport stops it.
Needs root; its own prefix, state directory and API port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kumo.compiler import names
from kumo.dataplane.kernel import KernelAdapter
from tests.dataplane.test_trunk_root import vlan_subinterface
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import KUMO, _api, kumo

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "ktr") as running:
        yield running


def _until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _pings(state: Path, name: str, ip: str) -> bool:
    cmd = [KUMO, "exec", name, "--state-dir", str(state), "--", "busybox", "ping", "-c", "2",
           "-W", "2", ip]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def test_subport_reaches_its_network_from_the_parents_instance(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    api = _api(state)
    nets = {}
    for name, cidr in (("tparent", "10.61.0.0/24"), ("tsub", "10.62.0.0/24")):
        nets[name] = api.post("/networks", json={"network": {"name": name}}).json()["network"]
        api.post("/subnets", json={"subnet": {"network_id": nets[name]["id"], "ip_version": 4,
                                              "cidr": cidr}}).raise_for_status()  # fmt: skip
    h1, h2 = f"{prefix}host1", f"{prefix}host2"
    kumo(state, "lab", "instance", "create", "par", "--network", "tparent", "--host", h1,
         "--ip", "10.61.0.11")  # fmt: skip
    kumo(state, "lab", "instance", "create", "far", "--network", "tsub", "--host", h2,
         "--ip", "10.62.0.13")  # fmt: skip
    parent = api.get("/ports", params={"name": "par"}).json()["ports"][0]
    sub = api.post("/ports", json={"port": {"network_id": nets["tsub"]["id"], "fixed_ips": [
        {"ip_address": "10.62.0.12"}]}}).json()["port"]  # fmt: skip
    r = api.post("/trunks", json={"trunk": {"port_id": parent["id"], "sub_ports": [
        {"port_id": sub["id"], "segmentation_type": "vlan", "segmentation_id": 100}]}})  # fmt: skip
    assert r.status_code == 201, r.text
    trunk = r.json()["trunk"]

    def shown(path: str, key: str) -> dict[str, Any]:
        return dict(api.get(path).json()[key])

    bound = shown(f"/ports/{sub['id']}", "port")
    assert bound["binding:host_id"] == h1 and bound["device_owner"] == "trunk:subport"
    assert _until(lambda: shown(f"/ports/{sub['id']}", "port")["status"] == "ACTIVE")
    assert _until(lambda: shown(f"/trunks/{trunk['id']}", "trunk")["status"] == "ACTIVE")
    adapter = KernelAdapter(None)
    try:
        ns = names.instance_netns(h1, parent["id"])
        vlan_subinterface(adapter, ns, 100, sub["mac_address"], "10.62.0.12/24")
    finally:
        adapter.close()
    assert _until(lambda: _pings(state, "par", "10.62.0.13"), 30)
    assert _pings(state, "far", "10.62.0.12")
    r = api.put(f"/trunks/{trunk['id']}/remove_subports",
                json={"sub_ports": [{"port_id": sub["id"]}]})  # fmt: skip
    assert r.status_code == 200, r.text
    assert _until(lambda: not _pings(state, "par", "10.62.0.13"), 30)
