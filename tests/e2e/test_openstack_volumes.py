"""End to end: the ``openstack`` CLI against a real ``kumo serve`` and a real
storage agent: volume create, list, snapshot create, limits."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.guestimage import bundle
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


def test_cli_image_create_from_volume(live_server: LiveServer, pool: Path) -> None:
    """``openstack image create --volume``: the volume's data in a new image
    (queued, then active once its storage host uploaded it), and a volume
    made from that image holds the same data."""
    _cli(live_server, "volume", "create", "--size", "1", "tocopy")
    vol = _until(live_server, "volume", "tocopy", "available")
    vfile = pool / f"volume-{vol['id']}.qcow2"
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x3c 4M 1M", str(vfile)],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    made = _cli(live_server, "image", "create", "--volume", "tocopy", "--disk-format", "qcow2",
                "from-volume")  # fmt: skip
    assert made["status"] == "uploading" and made["image_name"] == "from-volume", made
    assert made["volume_type"] == "__DEFAULT__" and made["disk_format"] == "qcow2", made
    image = _until(live_server, "image", "from-volume", "active")
    assert image["disk_format"] == "qcow2" and image["container_format"] == "bare"
    _until(live_server, "volume", "tocopy", "available")
    _cli(live_server, "volume", "create", "--size", "1", "--image", "from-volume", "copied")
    copied = _until(live_server, "volume", "copied", "available")
    read = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0x3c 4M 1M",
                           str(pool / f"volume-{copied['id']}.qcow2")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert read.returncode == 0 and "fail" not in read.stdout.lower(), read.stdout
    for name in ("copied", "tocopy"):
        _plain(live_server, "volume", "delete", name)


@pytest.fixture
def compute_host(live_server: LiveServer) -> Iterator[None]:
    """Host ``cmp1`` (QEMU driver) registered and kept alive by heartbeats."""
    headers = {"X-Auth-Token": live_server.token()}
    body = {"agent": {"host": "cmp1", "configurations": {
        "vcpus": 4, "memory_mb": 4096, "drivers": ["namespace", "qemu"]}}}  # fmt: skip
    r = httpx.post(f"{live_server.base}/internal/v1/agents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    agent_id = r.json()["agent"]["id"]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(2):
            httpx.post(f"{live_server.base}/internal/v1/agents/{agent_id}/heartbeat",
                       json={}, headers=headers)  # fmt: skip

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def _plain(server: LiveServer, *args: str) -> None:
    out = subprocess.run([OPENSTACK, *args], env=server.env(), capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr


def _fails(server: LiveServer, *args: str) -> str:
    out = subprocess.run([OPENSTACK, *args], env=server.env(), capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode != 0, out.stdout
    return out.stderr


@pytest.mark.timeout(900)
def test_cli_bootable_volume_and_servers_booted_from_volumes(
    live_server: LiveServer, pool: Path, compute_host: None, tmp_path: Path
) -> None:
    """``volume create --image`` writes the image's data into the volume
    (bootable, volume_image_metadata); ``server create --volume`` boots
    from it (image "", the volume attached as /dev/vda, which cannot be
    detached, and left available when the server goes);
    ``--boot-from-volume --delete-on-termination`` makes the volume from the
    image and deletes it with the server."""
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"kumo-image-data\n".ljust(1 << 20, b"\0"))
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(disk)],
                   check=True)  # fmt: skip
    # a guest bundle (what a VM here boots from) whose disk is that qcow2
    (tmp_path / "vmlinuz").write_bytes(b"kernel")
    (tmp_path / "initrd.img").write_bytes(b"ramdisk")
    guest = tmp_path / "guest.tar"
    descriptor = bundle.Descriptor(kernel="vmlinuz", ramdisk="initrd.img", disk="disk.qcow2",
                                   cmdline="console=ttyS0", min_ram_mb=64, extra={})  # fmt: skip
    files = {n: tmp_path / n for n in ("vmlinuz", "initrd.img", "disk.qcow2")}
    bundle.write(guest, descriptor, files, 1704067200)
    _cli(live_server, "image", "create", "--disk-format", "qcow2", "--container-format", "ova",
         "--file", str(guest), "img1")  # fmt: skip
    image = _cli(live_server, "image", "show", "img1")
    made = _cli(live_server, "volume", "create", "--image", "img1", "--size", "1", "bootvol")
    assert made["bootable"] in ("true", True), made
    vol = _until(live_server, "volume", "bootvol", "available")
    meta = vol["volume_image_metadata"]
    assert meta["image_id"] == image["id"] and meta["image_name"] == "img1", meta
    assert meta["disk_format"] == "qcow2" and meta["checksum"] == image["checksum"], meta
    back = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "raw",
                    str(pool / f"volume-{vol['id']}.qcow2"), str(back)], check=True)  # fmt: skip
    assert back.read_bytes()[:16] == b"kumo-image-data\n"
    assert back.stat().st_size == 1 << 30  # grown to the size asked for
    too_small = _fails(live_server, "volume", "create", "--image", "img1", "--size", "0", "x")
    assert "size" in too_small.lower(), too_small

    server = _cli(live_server, "server", "create", "--volume", "bootvol", "--flavor", "m1.tiny",
                  "--no-network", "--os-compute-api-version", "2.79", "bfv1")  # fmt: skip
    shown = _cli(live_server, "server", "show", "bfv1", "--os-compute-api-version", "2.79")
    assert shown["image"] == "N/A (booted from volume)", shown["image"]
    assert vol["id"] in json.dumps(shown["volumes_attached"]), shown
    vol = _cli(live_server, "volume", "show", "bootvol")
    assert vol["status"] == "in-use", vol
    assert "/dev/vda" in json.dumps(vol["attachments"]) and server["id"] in json.dumps(vol)
    refused = _fails(live_server, "server", "remove", "volume", "bfv1", "bootvol")
    assert "root device" in refused, refused
    _plain(live_server, "server", "delete", "--wait", "bfv1")
    _until(live_server, "volume", "bootvol", "available")

    _cli(live_server, "server", "create", "--image", "img1", "--boot-from-volume", "1",
         "--delete-on-termination", "--flavor", "m1.tiny", "--no-network",
         "--os-compute-api-version", "2.79", "bfv2")  # fmt: skip
    deadline = time.monotonic() + 60
    while True:  # the volume made for it, written by the storage agent, attached
        attached = _cli(live_server, "server", "volume", "list", "bfv2")
        root = [a for a in attached if a["Device"] == "/dev/vda"]
        if root and _cli(live_server, "volume", "show", root[0]["Volume ID"])["status"] == "in-use":
            break
        assert time.monotonic() < deadline, attached
        time.sleep(0.5)
    assert root[0].get("Delete On Termination?") is True, root
    root_id = root[0]["Volume ID"]
    assert _cli(live_server, "volume", "show", root_id)["bootable"] in ("true", True)
    _plain(live_server, "server", "delete", "--wait", "bfv2")
    deadline = time.monotonic() + 60
    while root_id in [v["ID"] for v in _cli(live_server, "volume", "list")]:
        assert time.monotonic() < deadline, "the root volume outlived its server"
        time.sleep(0.5)
    assert not (pool / f"volume-{root_id}.qcow2").exists()
