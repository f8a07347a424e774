"""End to end: the ``openstack`` CLI against a real ``kumo serve`` and a real
storage agent: volume create, list, snapshot create, limits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-utils not installed"),
]
OPENSTACK = str(Path(sys.executable).parent / "openstack")
KUMO = str(Path(sys.executable).parent / "kumo")


def _cli(server: LiveServer, *args: str) -> Any:
    out = subprocess.run([OPENSTACK, *args, "-f", "json"], env=server.env(),
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


@pytest.fixture(scope="module")
def pool(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    where = tmp_path_factory.mktemp("pool")
    log = open(live_server.state_dir / "storage-agent.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [KUMO, "storage-agent", "--host", "store1", "--api", live_server.base,
         "--pool", f"p1:{where}:50", "--clouds-yaml", str(live_server.clouds_yaml),
         "--cloud", "kumo"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield where
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _until(server: LiveServer, kind: str, name: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        shown: dict[str, Any] = _cli(server, *kind.split(), "show", name)
        if shown["status"] == status:
            return shown
        assert not shown["status"].startswith("error"), shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)


def test_cli_volume_snapshot_and_limits(live_server: LiveServer, pool: Path) -> None:
    made = _cli(live_server, "volume", "create", "--size", "1", "data")
    assert made["name"] == "data" and made["size"] == 1
    vol = _until(live_server, "volume", "data", "available")
    assert (pool / f"volume-{vol['id']}.qcow2").exists()
    listed = _cli(live_server, "volume", "list")
    assert [(v["Name"], v["Status"], v["Size"]) for v in listed] == [("data", "available", 1)]
    snap = _cli(live_server, "volume", "snapshot", "create", "--volume", "data", "snap1")
    assert snap["name"] == "snap1"
    _until(live_server, "volume snapshot", "snap1", "available")
    assert (pool / f"snapshot-{snap['id']}.qcow2").exists()
    limits = _cli(live_server, "limits", "show", "--absolute")
    found = {row["Name"]: row["Value"] for row in limits}
    # openstacksdk names the volume limits by their attributes
    assert found.get("total_volumes_used") == 1, found
    assert found["max_total_volumes"] == 10 and found["max_total_volume_gigabytes"] == 1000
    assert found["total_gigabytes_used"] == 2  # the volume and its snapshot
    assert found["max_total_instances"] == 10  # compute's, beside them
    types = _cli(live_server, "volume", "type", "list")
    assert "__DEFAULT__" in [t["Name"] for t in types]
