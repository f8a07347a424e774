"""Servers end to end: the openstack CLI boots busybox servers on a 3-host
lab; they become instance namespaces that configure themselves by DHCP,
run their services, and reach each other; ``kumo exec`` works on them;
delete removes them. Needs root; its own prefix, state directory and port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from kumo.identity.authbody import password_auth
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import KUMO
from tests.lab.test_secgroups_lab import openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "klc") as running:
        yield running


def kexec(
    state: Path, name: str, *cmd: str, network: str | None = None
) -> subprocess.CompletedProcess[str]:
    on = ["--network", network] if network else []
    return subprocess.run([KUMO, "exec", name, *on, "--state-dir", str(state), "--", *cmd],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def server(state: Path, name: str) -> dict[str, object]:
    return dict(json.loads(openstack(state, "server", "show", name, "-f", "json")))


def test_busybox_servers(lab: tuple[Path, str]) -> None:
    state, _ = lab
    openstack(state, "network", "create", "net1")
    openstack(state, "subnet", "create", "--network", "net1", "--subnet-range", "10.90.0.0/24",
              "sub1")  # fmt: skip
    openstack(state, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port",
              "80", "default")  # fmt: skip
    for name in ("vm1", "vm2"):
        openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
                  "--network", "net1", name)  # fmt: skip
    deadline = time.monotonic() + 60
    while {server(state, n)["status"] for n in ("vm1", "vm2")} != {"ACTIVE"}:
        assert time.monotonic() < deadline, "servers did not become ACTIVE"
        time.sleep(0.5)
    hosts = {server(state, n)["OS-EXT-SRV-ATTR:host"] for n in ("vm1", "vm2")}
    assert len(hosts) == 2  # spread across hosts

    addresses = server(state, "vm2")["addresses"]
    assert isinstance(addresses, dict), addresses
    (vm2_ip,) = addresses["net1"]
    # the address came from DHCP; its busybox services answer, from inside and from vm1
    deadline = time.monotonic() + 30
    while vm2_ip not in kexec(state, "vm2", "ip", "-4", "addr", "show", "eth0").stdout:
        assert time.monotonic() < deadline, "vm2 has no address"
        time.sleep(0.2)
    for _ in range(50):
        got = kexec(state, "vm1", "busybox", "wget", "-q", "-O", "-", f"http://{vm2_ip}/").stdout
        if "kumo busybox instance" in got:
            break
        time.sleep(0.2)
    assert "kumo busybox instance" in got

    # servers on an IPv4 and an IPv6-only network: one namespace per port,
    # `kumo exec` in the first network's (the ports of one create tie on
    # their creation time: not by port id), --network in another's
    openstack(state, "network", "create", "net6")
    openstack(state, "subnet", "create", "--network", "net6", "--ip-version", "6",
              "--subnet-range", "fd90::/64", "--ipv6-ra-mode", "dhcpv6-stateless",
              "--ipv6-address-mode", "dhcpv6-stateless", "sub6")  # fmt: skip
    firsts = {"vm3": "net1", "vm4": "net6"}
    for name, first in firsts.items():
        second = "net6" if first == "net1" else "net1"
        openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
                  "--network", first, "--network", second, name)  # fmt: skip
    deadline = time.monotonic() + 60
    while {server(state, n)["status"] for n in firsts} != {"ACTIVE"}:
        assert time.monotonic() < deadline, "servers did not become ACTIVE"
        time.sleep(0.5)
    v6 = {n: server(state, n)["addresses"]["net6"][0] for n in firsts}  # type: ignore[index]
    assert kexec(state, "vm3", "ping", "-c", "1", "-W", "2", vm2_ip).returncode == 0
    assert kexec(state, "vm3", "ping", "-c", "1", "-W", "2", vm2_ip, network="net1").returncode == 0
    on_vm4 = kexec(state, "vm4", "ip", "-o", "addr", "show", "dev", "eth0").stdout
    assert "inet6 fd90:" in on_vm4 and "inet " not in on_vm4, on_vm4  # its first: net6
    assert kexec(state, "vm4", "ping", "-c", "1", "-W", "2", vm2_ip, network="net1").returncode == 0
    for _ in range(50):  # the address from router advertisements, once not tentative
        done = kexec(state, "vm3", "ping", "-6", "-c", "1", "-W", "1", v6["vm4"], network="net6")
        if done.returncode == 0:
            break
        time.sleep(0.2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert kexec(state, "vm4", "true", network="net2").returncode != 0  # no such network

    # the serial console: a websocket to a shell inside the instance
    url = openstack(state, "console", "url", "show", "--serial", "vm1", "-f", "value",
                    "-c", "url").strip()  # fmt: skip
    assert url.startswith("ws://")
    with connect(url, subprotocols=[Subprotocol("binary")], open_timeout=10) as ws:
        ws.send(b"echo kumo-$((6*7)); ip -4 -o addr show dev eth0\n")
        seen = b""
        deadline = time.monotonic() + 10
        while b"kumo-42" not in seen and time.monotonic() < deadline:
            seen += ws.recv(timeout=5)  # type: ignore[operator]
        assert b"kumo-42" in seen
    with pytest.raises(InvalidStatus):
        connect(url.split("token=")[0] + "token=forged", open_timeout=10)
    with pytest.raises(InvalidStatus):  # a console URL opens once
        connect(url, open_timeout=10)

    openstack(state, "server", "delete", "--wait", "vm2")
    assert kexec(state, "vm2", "true").returncode != 0


def test_metadata_from_inside(lab: tuple[Path, str], tmp_path: Path) -> None:
    """A server reads its own uuid, user data and properties from
    169.254.169.254 (answered by its own host); another server reads its
    own, never the first one's; the agents serving it are not admins."""
    state, _ = lab
    openstack(state, "network", "create", "mnet")
    openstack(state, "subnet", "create", "--network", "mnet", "--subnet-range", "10.91.0.0/24",
              "msub")  # fmt: skip
    user_data = tmp_path / "user-data"
    user_data.write_text("#cloud-config\nhostname: from-user-data\n")
    openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
              "--network", "mnet", "--user-data", str(user_data), "--property", "role=web",
              "mvm1")  # fmt: skip
    openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
              "--network", "mnet", "mvm2")  # fmt: skip
    deadline = time.monotonic() + 60
    while {server(state, n)["status"] for n in ("mvm1", "mvm2")} != {"ACTIVE"}:
        assert time.monotonic() < deadline, "servers did not become ACTIVE"
        time.sleep(0.5)
    ids = {n: server(state, n)["id"] for n in ("mvm1", "mvm2")}

    def fetch(name: str, path: str) -> subprocess.CompletedProcess[str]:
        return kexec(state, name, "timeout", "10", "busybox", "wget", "-qO-",
                     f"http://169.254.169.254{path}")  # fmt: skip

    for name in ("mvm1", "mvm2"):
        got = fetch(name, "/openstack/latest/meta_data.json")
        deadline = time.monotonic() + 30
        while got.returncode != 0:  # until DHCP has configured the instance
            assert time.monotonic() < deadline, got.stderr
            time.sleep(0.5)
            got = fetch(name, "/openstack/latest/meta_data.json")
        meta = json.loads(got.stdout)
        assert meta["uuid"] == ids[name]
        assert meta["meta"] == ({"role": "web"} if name == "mvm1" else {})
    assert fetch("mvm1", "/openstack/latest/user_data").stdout == user_data.read_text()
    assert fetch("mvm1", "/latest/user-data").stdout == user_data.read_text()
    assert fetch("mvm1", "/latest/meta-data/local-hostname").stdout == "mvm1.novalocal"
    # the instance's own hostname is the server's, not the machine's
    assert kexec(state, "mvm1", "hostname").stdout.strip() == "mvm1"
    # mvm2 has no user data, and nothing of mvm1's reaches it
    assert fetch("mvm2", "/openstack/latest/user_data").returncode != 0
    assert ids["mvm1"] not in fetch("mvm2", "/openstack/latest/meta_data.json").stdout
    # served by agents that are not admins: each holds its own host's credential
    files = sorted((state / "agents").glob("*.credentials.json"))
    assert len(files) == 3
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600
        cred = json.loads(path.read_text())
        assert cred["username"] == "agent-" + cred["host"]
        auth = password_auth(cred["username"], cred["password"], project_name="service")
        r = httpx.post(cred["auth_url"] + "/auth/tokens", json=auth, timeout=10)
        assert r.status_code == 201, r.text
        assert {role["name"] for role in r.json()["token"]["roles"]} == {"service"}
