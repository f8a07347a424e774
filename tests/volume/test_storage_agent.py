"""A real storage agent (``kumo storage-agent``) against a real ``kumo serve``:
qcow2 volumes made, snapshotted, cloned, grown and removed with qemu-img,
the data checked with qemu-io (written to one file, read back from the
copies)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.storage.daemon import StorageDaemon
from tests.live import LiveServer

KUMO = str(Path(sys.executable).parent / "kumo")
V = "/volume/v3"
NBD_PORT = 20000 + os.getpid() % 20000
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("qemu-img") is None or shutil.which("qemu-io") is None,
        reason="qemu-utils not installed",
    ),  # fmt: skip
]


@pytest.fixture(scope="module")
def agent(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pool = tmp_path_factory.mktemp("pool")
    run = tmp_path_factory.mktemp("run")
    log = open(live_server.state_dir / "storage-agent.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [KUMO, "storage-agent", "--host", "store1", "--api", live_server.base,
         "--pool", f"fast:{pool}:20", "--heartbeat-interval", "1",
         "--clouds-yaml", str(live_server.clouds_yaml), "--cloud", "kumo",
         "--export-address", "127.0.0.1", "--export-port", str(NBD_PORT), "--run-dir", str(run),
         "--no-export-firewall"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield pool
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        StorageDaemon(run, "127.0.0.1").stop()  # it outlives its agent, as on a storage host


def _api(server: LiveServer) -> Callable[..., httpx.Response]:
    token = server.token()

    def call(method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, server.base + V + path, json=body, timeout=30,
                             headers={"X-Auth-Token": token,
                                      "OpenStack-API-Version": "volume 3.60"})  # fmt: skip

    return call


def _until(call: Callable[..., httpx.Response], path: str, key: str, status: str | None) -> Any:
    deadline = time.monotonic() + 60
    while True:
        r = call("GET", path)
        if status is None and r.status_code == 404:
            return None
        if r.status_code == 200 and r.json()[key]["status"] == status:
            return r.json()[key]
        assert r.status_code in (200, 404), r.text
        if r.status_code == 200:
            assert not r.json()[key]["status"].startswith("error"), r.text
        assert time.monotonic() < deadline, f"{path}: {r.text}"
        time.sleep(0.2)


def _io(path: Path, command: str) -> str:
    out = subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, str(path)],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and "fail" not in out.stdout.lower(), out.stdout + out.stderr
    return out.stdout


def _info(path: Path) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    info: dict[str, Any] = json.loads(out.stdout)
    return info


def test_volume_snapshot_clone_with_data(live_server: LiveServer, agent: Path) -> None:
    call = _api(live_server)
    deadline = time.monotonic() + 30
    while not call("GET", "/scheduler-stats/get_pools").json()["pools"]:
        assert time.monotonic() < deadline, "the storage agent did not register"
        time.sleep(0.2)
    r = call("POST", "/volumes", {"volume": {"size": 1, "name": "data"}})
    assert r.status_code == 202, r.text
    vol = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    vfile = agent / f"volume-{vol['id']}.qcow2"
    info = _info(vfile)
    assert info["format"] == "qcow2" and info["virtual-size"] == 1 << 30
    # data in the volume: a pattern at 1 MiB
    _io(vfile, "write -P 0xab 1M 64k")

    r = call("POST", "/snapshots", {"snapshot": {"volume_id": vol["id"], "name": "s1"}})
    assert r.status_code == 202, r.text
    snap = _until(call, f"/snapshots/{r.json()['snapshot']['id']}", "snapshot", "available")
    sfile = agent / f"snapshot-{snap['id']}.qcow2"
    _io(sfile, "read -P 0xab 1M 64k")
    # the volume changes after the snapshot; the snapshot keeps the old data
    _io(vfile, "write -P 0xcd 1M 64k")
    _io(sfile, "read -P 0xab 1M 64k")

    r = call("POST", "/volumes", {"volume": {"snapshot_id": snap["id"], "size": 2}})
    assert r.status_code == 202, r.text
    restored = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    rfile = agent / f"volume-{restored['id']}.qcow2"
    assert _info(rfile)["virtual-size"] == 2 << 30
    _io(rfile, "read -P 0xab 1M 64k")

    r = call("POST", "/volumes", {"volume": {"source_volid": vol["id"]}})
    assert r.status_code == 202, r.text
    clone = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    cfile = agent / f"volume-{clone['id']}.qcow2"
    _io(cfile, "read -P 0xcd 1M 64k")
    _io(cfile, "read -P 0 0 64k")  # never written: zeros

    r = call("POST", f"/volumes/{clone['id']}/action", {"os-extend": {"new_size": 3}})
    assert r.status_code == 202, r.text
    grown = _until(call, f"/volumes/{clone['id']}", "volume", "available")
    assert grown["size"] == 3 and _info(cfile)["virtual-size"] == 3 << 30
    _io(cfile, "read -P 0xcd 1M 64k")

    # the pool reports what its files take; the provisioned capacity counts sizes
    pools = call("GET", "/scheduler-stats/get_pools?detail=true").json()["pools"]
    caps = pools[0]["capabilities"]
    assert pools[0]["name"] == "store1@file#fast"
    assert caps["allocated_capacity_gb"] == 1 + 1 + 2 + 3
    assert caps["total_capacity_gb"] == 20

    for ident in (restored["id"], clone["id"]):
        assert call("DELETE", f"/volumes/{ident}").status_code == 202
    assert call("DELETE", f"/volumes/{vol['id']}?cascade=true").status_code == 202
    for ident in (restored["id"], clone["id"], vol["id"]):
        _until(call, f"/volumes/{ident}", "volume", None)
    _until(call, f"/snapshots/{snap['id']}", "snapshot", None)
    assert sorted(p.name for p in agent.iterdir()) == []


def _nbd(export: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-f", "raw", "-c", command,
                           f"nbd://127.0.0.1:{NBD_PORT}/{export}"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.skipif(shutil.which("qemu-storage-daemon") is None, reason="no qemu-storage-daemon")
def test_attached_volume_is_exported_snapshotted_live_and_unexported(
    live_server: LiveServer, agent: Path
) -> None:
    """An attachment (v3 API, a connector naming a compute host) makes the
    agent's storage daemon export the volume, named by the attachment id;
    a snapshot while attached is taken by the daemon (qemu-img could not
    open the file); deleting the attachment removes the export, and the
    data written through it is in the volume's file."""
    call = _api(live_server)
    deadline = time.monotonic() + 30
    while not call("GET", "/scheduler-stats/get_pools").json()["pools"]:
        assert time.monotonic() < deadline, "the storage agent did not register"
        time.sleep(0.2)
    r = call("POST", "/volumes", {"volume": {"size": 1, "name": "attached"}})
    vol = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    r = call("POST", "/attachments", {"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": "0b7d3c1e-0000-4000-8000-000000000001",
        "connector": {"host": "compute1", "mountpoint": "/dev/vdb"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    info = att["connection_info"]["data"]
    assert (info["host"], info["port"], info["export"]) == ("127.0.0.1", NBD_PORT, att["id"])
    deadline = time.monotonic() + 30
    while (done := _nbd(att["id"], "write -P 0x7e 0 64k")).returncode != 0:
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.2)
    r = call("POST", f"/attachments/{att['id']}/action", {"os-complete": None})
    assert r.status_code == 204, r.text  # in-use
    r = call("POST", "/snapshots", {"snapshot": {"volume_id": vol["id"], "force": True}})
    assert r.status_code == 202, r.text
    snap = _until(call, f"/snapshots/{r.json()['snapshot']['id']}", "snapshot", "available")
    assert _nbd(att["id"], "write -P 0x11 0 64k").returncode == 0  # after the cut
    _io(agent / f"snapshot-{snap['id']}.qcow2", "read -P 0x7e 0 64k")
    assert call("DELETE", f"/attachments/{att['id']}").status_code == 200
    deadline = time.monotonic() + 30
    while _nbd(att["id"], "read 0 4k").returncode == 0:
        assert time.monotonic() < deadline, "the export outlived its attachment"
        time.sleep(0.2)
    _io(agent / f"volume-{vol['id']}.qcow2", "read -P 0x11 0 64k")


def _image_until(server: LiveServer, image_id: str, status: str) -> dict[str, Any]:
    headers = {"X-Auth-Token": server.token()}
    deadline = time.monotonic() + 120
    while True:
        r = httpx.get(f"{server.base}/image/v2/images/{image_id}", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        image: dict[str, Any] = r.json()
        if image["status"] == status:
            return image
        assert image["status"] in ("queued", "saving"), image
        assert time.monotonic() < deadline, image
        time.sleep(0.3)


def test_volume_uploaded_to_an_image_and_back(live_server: LiveServer, agent: Path) -> None:
    """Known bytes written into a volume come back byte for byte in a new
    volume made from the image the volume was uploaded into; the image's
    data matches its checksum; the volume is available again."""
    call = _api(live_server)
    deadline = time.monotonic() + 30
    while not call("GET", "/scheduler-stats/get_pools").json()["pools"]:
        assert time.monotonic() < deadline, "the storage agent did not register"
        time.sleep(0.2)
    r = call("POST", "/volumes", {"volume": {"size": 1, "name": "source"}})
    vol = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    vfile = agent / f"volume-{vol['id']}.qcow2"
    _io(vfile, "write -P 0x5a 0 1M")
    _io(vfile, "write -P 0xc3 700M 64k")
    r = call("POST", f"/volumes/{vol['id']}/action",
             {"os-volume_upload_image": {"image_name": "round-trip", "disk_format": "qcow2"}})  # fmt: skip
    assert r.status_code == 202, r.text
    image = _image_until(live_server, r.json()["os-volume_upload_image"]["image_id"], "active")
    assert image["disk_format"] == "qcow2" and image["min_disk"] == 1
    _until(call, f"/volumes/{vol['id']}", "volume", "available")
    md5 = hashlib.md5(usedforsecurity=False)
    with httpx.stream("GET", f"{live_server.base}/image/v2/images/{image['id']}/file",
                      headers={"X-Auth-Token": live_server.token()}, timeout=60) as data:  # fmt: skip
        for piece in data.iter_bytes():
            md5.update(piece)
    assert md5.hexdigest() == image["checksum"]

    r = call("POST", "/volumes", {"volume": {"size": 1, "imageRef": image["id"]}})
    assert r.status_code == 202, r.text
    copy = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    cfile = agent / f"volume-{copy['id']}.qcow2"
    _io(cfile, "read -P 0x5a 0 1M")
    _io(cfile, "read -P 0xc3 700M 64k")
    same = subprocess.run(["qemu-img", "compare", "-U", str(vfile), str(cfile)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert same.returncode == 0, same.stdout + same.stderr
    assert sorted(p.name for p in agent.iterdir() if p.name.startswith(".upload")) == []
    for ident in (copy["id"], vol["id"]):
        assert call("DELETE", f"/volumes/{ident}").status_code == 202
    for ident in (copy["id"], vol["id"]):
        _until(call, f"/volumes/{ident}", "volume", None)


@pytest.mark.skipif(shutil.which("qemu-storage-daemon") is None, reason="no qemu-storage-daemon")
def test_in_use_volume_uploaded_with_force_from_a_point_in_time_copy(
    live_server: LiveServer, agent: Path
) -> None:
    """An attached volume its storage daemon has open: refused without
    force; with force, uploaded from a copy the daemon takes while the
    export stays writable (the data comes back in a volume made from the
    image); the volume is in-use again after."""
    call = _api(live_server)
    deadline = time.monotonic() + 30
    while not call("GET", "/scheduler-stats/get_pools").json()["pools"]:
        assert time.monotonic() < deadline, "the storage agent did not register"
        time.sleep(0.2)
    r = call("POST", "/volumes", {"volume": {"size": 1, "name": "busy"}})
    vol = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    r = call("POST", "/attachments", {"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": "0b7d3c1e-0000-4000-8000-000000000002",
        "connector": {"host": "compute1", "mountpoint": "/dev/vdb"}}})  # fmt: skip
    att = r.json()["attachment"]
    deadline = time.monotonic() + 30
    while (done := _nbd(att["id"], "write -P 0x6b 0 64k")).returncode != 0:
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.2)
    assert (
        call("POST", f"/attachments/{att['id']}/action", {"os-complete": None}).status_code == 204
    )
    upload = {"os-volume_upload_image": {"image_name": "live", "disk_format": "qcow2"}}
    r = call("POST", f"/volumes/{vol['id']}/action", upload)
    assert r.status_code == 400 and "in-use" in r.text, r.text
    upload["os-volume_upload_image"]["force"] = True
    r = call("POST", f"/volumes/{vol['id']}/action", upload)
    assert r.status_code == 202, r.text
    image = _image_until(live_server, r.json()["os-volume_upload_image"]["image_id"], "active")
    _until(call, f"/volumes/{vol['id']}", "volume", "in-use")
    r = call("POST", "/volumes", {"volume": {"size": 1, "imageRef": image["id"]}})
    copy = _until(call, f"/volumes/{r.json()['volume']['id']}", "volume", "available")
    _io(agent / f"volume-{copy['id']}.qcow2", "read -P 0x6b 0 64k")
    assert _nbd(att["id"], "write -P 0x12 0 64k").returncode == 0  # still exported, writable
    assert sorted(p.name for p in agent.iterdir() if p.name.startswith(".upload")) == []
    assert call("DELETE", f"/attachments/{att['id']}").status_code == 200
    _until(call, f"/volumes/{vol['id']}", "volume", "available")
    for ident in (copy["id"], vol["id"]):
        assert call("DELETE", f"/volumes/{ident}").status_code == 202
    for ident in (copy["id"], vol["id"]):
        _until(call, f"/volumes/{ident}", "volume", None)
