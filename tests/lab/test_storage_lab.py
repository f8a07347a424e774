"""Block storage in the lab: ``kumo up`` runs a storage agent on the first
host (with that host's own agent credential, its storage daemon serving
NBD on the host's underlay address); the openstack CLI makes a volume in
its pool and moves it, with its data, between namespace instances on the
other hosts. Needs root; its own prefix, state directory and port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.labs import running_lab
from tests.lab.test_secgroups_lab import openstack

KUMO = str(Path(sys.executable).parent / "kumo")

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-utils"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "kls", "--storage-hosts", "1") as running:
        yield running


def _until(state: Path, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        shown = dict(json.loads(openstack(state, "volume", "show", name, "-f", "json")))
        if shown["status"] == status:
            return shown
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)


def _inside(state: Path, server: str, script: str) -> str:
    """Run ``script`` in the namespace instance ``server`` (as its processes run)."""
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run([KUMO, "exec", server, "--state-dir", str(state), "--", "sh",
                               "-c", script], capture_output=True, text=True, timeout=60)  # fmt: skip
        if done.returncode == 0 or "no port bound" not in done.stderr:
            break
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.5)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _mount_path(state: Path, server: str, volume_id: str) -> str:
    """Where the server's metadata says the volume is mounted (once its host mounted it)."""
    deadline = time.monotonic() + 60
    while True:
        shown = json.loads(openstack(state, "server", "show", server, "-f", "json"))
        props = shown.get("properties") or {}
        if isinstance(props, str):  # older clients print k='v', ...
            props = dict(kv.split("=", 1) for kv in props.replace("'", "").split(", ") if "=" in kv)
        path = props.get(f"volume:{volume_id}")
        if path:
            return str(path)
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)


@pytest.mark.timeout(900)
def test_volume_data_follows_it_between_instances_and_into_a_snapshot(
    lab: tuple[Path, str],
) -> None:
    """Made in host1's pool; attached to an instance on host2 (over NBD
    across the underlay), written from inside it, detached (flushed),
    attached to an instance on host3 and read back; snapshot, a volume
    from the snapshot, read back again; deleted, its file gone."""
    state, prefix = lab
    openstack(state, "volume", "create", "--size", "1", "vol1")
    vol = _until(state, "vol1", "available")
    host = vol["os-vol-host-attr:host"]
    assert host.startswith(f"{prefix}host1@file#pool1"), host
    pool = state / "storage" / f"{prefix}host1" / "pool1"
    assert (pool / f"volume-{vol['id']}.qcow2").exists()
    openstack(state, "network", "create", "net1")
    openstack(state, "subnet", "create", "--network", "net1", "--subnet-range", "10.77.0.0/24",
              "sub1")  # fmt: skip
    for name, where in (("s1", "host2"), ("s2", "host3")):
        openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
                  "--network", "net1", "--availability-zone", f"nova:{prefix}{where}", name)  # fmt: skip
    for name in ("s1", "s2"):
        _server_active(state, name)
    openstack(state, "server", "add", "volume", "s1", "vol1")
    vol = _until(state, "vol1", "in-use")
    assert json.dumps(vol["attachments"]).count("/dev/vdb") == 1
    path = _mount_path(state, "s1", vol["id"])
    _inside(state, "s1", f"echo written-on-s1 > {path}/data.txt && sync")
    openstack(state, "server", "remove", "volume", "s1", "vol1")
    _until(state, "vol1", "available")  # only once host2 let go of it
    openstack(state, "server", "add", "volume", "s2", "vol1")
    _until(state, "vol1", "in-use")
    path = _mount_path(state, "s2", vol["id"])
    assert _inside(state, "s2", f"cat {path}/data.txt").strip() == "written-on-s1"
    openstack(state, "server", "remove", "volume", "s2", "vol1")
    _until(state, "vol1", "available")
    # snapshot -> volume from the snapshot: the same data
    openstack(state, "volume", "snapshot", "create", "--volume", "vol1", "snap1")
    deadline = time.monotonic() + 60
    while (
        json.loads(openstack(state, "volume", "snapshot", "show", "snap1", "-f", "json"))["status"]
        != "available"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    openstack(state, "volume", "create", "--snapshot", "snap1", "vol2")
    vol2 = _until(state, "vol2", "available")
    openstack(state, "server", "add", "volume", "s1", "vol2")
    path = _mount_path(state, "s1", vol2["id"])
    assert _inside(state, "s1", f"cat {path}/data.txt").strip() == "written-on-s1"
    openstack(state, "server", "remove", "volume", "s1", "vol2")
    _until(state, "vol2", "available")
    openstack(state, "volume", "snapshot", "delete", "snap1")
    openstack(state, "volume", "delete", "vol1", "vol2")
    deadline = time.monotonic() + 60
    while (pool / f"volume-{vol['id']}.qcow2").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _server_active(state: Path, name: str) -> None:
    deadline = time.monotonic() + 90
    while True:
        status = json.loads(openstack(state, "server", "show", name, "-f", "json"))["status"]
        if status == "ACTIVE":
            return
        assert status != "ERROR" and time.monotonic() < deadline, status
        time.sleep(0.5)
