"""DNS integration end to end on a 3-host lab: two servers on one network,
on two hosts, get their hostnames as their ports' ``dns_name``; the DHCP
lease names the host's resolver (169.254.169.254) and the domain; one
resolves the other by name (busybox nslookup and glibc's getent) and back
by address; a name of another project on the same network does not
resolve, and nothing outside the cloud's names is answered.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.labs import running_lab
from tests.lab.test_compute_lab import kexec, server
from tests.lab.test_secgroups_lab import openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "kdn") as running:
        yield running


def _until(what: str, check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


@pytest.mark.timeout(900)
def test_instances_resolve_their_projects_names(lab: tuple[Path, str]) -> None:
    state, _ = lab
    openstack(state, "network", "create", "dnet")
    openstack(state, "subnet", "create", "--network", "dnet", "--subnet-range", "10.93.0.0/24",
              "dsub")  # fmt: skip
    for name in ("dvm1", "dvm2"):
        openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
                  "--network", "dnet", name)  # fmt: skip
    _until(
        "servers did not become ACTIVE",
        lambda: {server(state, n)["status"] for n in ("dvm1", "dvm2")} == {"ACTIVE"},
        60,
    )
    assert len({server(state, n)["OS-EXT-SRV-ATTR:host"] for n in ("dvm1", "dvm2")}) == 2
    (vm2_ip,) = server(state, "dvm2")["addresses"]["dnet"]  # type: ignore[index]
    port = json.loads(openstack(state, "port", "list", "--server", "dvm2", "--long", "-f", "json"))
    (port_id,) = [p["ID"] for p in port]
    shown = json.loads(openstack(state, "port", "show", port_id, "-f", "json"))
    assert shown["dns_name"] == "dvm2"
    assert shown["dns_assignment"] == [
        {"hostname": "dvm2", "ip_address": vm2_ip, "fqdn": "dvm2.openstacklocal."}
    ]

    # another project's port with a name on this network (names on another
    # network are in no zone of this one: tests/dataplane/test_dns_root.py)
    openstack(state, "project", "create", "other")
    openstack(state, "port", "create", "--network", "dnet", "--project", "other",
              "--dns-name", "secret", "sport")  # fmt: skip

    _until(
        "no resolver in the lease",
        lambda: "169.254.169.254" in kexec(state, "dvm1", "cat", "/etc/resolv.conf").stdout,
    )
    resolv = kexec(state, "dvm1", "cat", "/etc/resolv.conf").stdout
    assert "openstacklocal" in resolv, resolv

    looked = kexec(state, "dvm1", "busybox", "nslookup", "dvm2.openstacklocal", "169.254.169.254")
    assert looked.returncode == 0 and vm2_ip in looked.stdout, looked
    got = kexec(state, "dvm1", "getent", "hosts", "dvm2")
    assert got.returncode == 0 and got.stdout.split()[0] == vm2_ip, got
    back = kexec(state, "dvm1", "busybox", "nslookup", vm2_ip, "169.254.169.254")
    assert "dvm2.openstacklocal" in back.stdout, back
    for name in ("secret", "secret.openstacklocal", "example.com"):
        miss = kexec(state, "dvm1", "busybox", "nslookup", name, "169.254.169.254")
        assert miss.returncode != 0, (name, miss)
        assert "Address: 10.93." not in miss.stdout
