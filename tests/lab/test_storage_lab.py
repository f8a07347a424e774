"""Block storage in the lab: ``kumo up`` runs a storage agent on the first
host (with that host's own agent credential); the openstack CLI makes a
volume in its pool, attaches it to a server and detaches it. Needs root;
its own prefix, state directory and port."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.labs import running_lab
from tests.lab.test_secgroups_lab import openstack

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


def test_volume_in_the_lab_pool_attached_and_detached(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    openstack(state, "volume", "create", "--size", "1", "vol1")
    vol = _until(state, "vol1", "available")
    host = vol["os-vol-host-attr:host"]
    assert host.startswith(f"{prefix}host1@file#pool1"), host
    pool = state / "storage" / f"{prefix}host1" / "pool1"
    assert (pool / f"volume-{vol['id']}.qcow2").exists()
    openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
              "--no-network", "--wait", "s1")  # fmt: skip
    openstack(state, "server", "add", "volume", "s1", "vol1")
    vol = _until(state, "vol1", "in-use")
    assert json.dumps(vol["attachments"]).count("/dev/vdb") == 1
    openstack(state, "server", "remove", "volume", "s1", "vol1")
    _until(state, "vol1", "available")
    openstack(state, "volume", "delete", "vol1")
    deadline = time.monotonic() + 60
    while (pool / f"volume-{vol['id']}.qcow2").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
