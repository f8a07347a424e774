"""The data path with the real programs, on the loopback address: a
storage daemon exports a qcow2 volume over NBD; a QEMU (no guest: ``-S``)
hot-plugs it as a virtio disk and writes through it; a namespace-instance
plug (daemon, FUSE, loop device, ext4 mount; root) writes a file; once
unplugged and unexported the data is in the volume's file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.agent.volumes import NamespaceDisks
from kumo.storage.daemon import StorageDaemon, node_name
from kumo.vm import disks
from kumo.vm.qmp import QmpClient

pytestmark = [
    pytest.mark.skipif(
        not all(shutil.which(p) for p in ("qemu-storage-daemon", "qemu-img", "qemu-io")),
        reason="needs qemu-utils and qemu-storage-daemon",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[StorageDaemon]:
    d = StorageDaemon(tmp_path / "run", "127.0.0.1", _free_port(), firewall=False)
    try:
        yield d
    finally:
        d.stop()


def _volume(tmp_path: Path, name: str = "volume-1.qcow2") -> Path:
    path = tmp_path / name
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


def _read_back(path: Path, pattern: str, offset: int = 0, length: str = "64k") -> bool:
    done = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"read -P {pattern} {offset} {length}", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout


def test_daemon_is_started_again_and_exports_are_level_triggered(
    tmp_path: Path, daemon: StorageDaemon
) -> None:
    assert daemon.ensure() is True
    assert daemon.ensure() is False  # running: left alone
    vol = _volume(tmp_path)
    daemon.export("0f1e2d3c-0000-4000-8000-000000000001", vol)
    assert daemon.exports() == {"0f1e2d3c-0000-4000-8000-000000000001"}
    pid = daemon.pid()
    assert pid is not None
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while daemon.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert daemon.ensure() is True  # dead: a new one, with no exports until the agent adds them
    assert daemon.exports() == set()
    daemon.export("0f1e2d3c-0000-4000-8000-000000000001", vol)
    daemon.unexport("0f1e2d3c-0000-4000-8000-000000000001")
    daemon.unexport("0f1e2d3c-0000-4000-8000-000000000001")  # gone already: nothing to do
    assert daemon.exports() == set() and not any(n.startswith("v") for n in daemon.nodes())


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="needs QEMU")
def test_a_vm_writes_through_a_hot_plugged_nbd_disk(tmp_path: Path, daemon: StorageDaemon) -> None:
    daemon.ensure()
    vol = _volume(tmp_path)
    daemon.export("a1b2c3d4-0000-4000-8000-000000000001", vol)
    qmp = tmp_path / "vm.sock"
    vm = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc", "-S", "-nodefaults", "-monitor", "none",
                           "-display", "none", "-qmp", f"unix:{qmp},server=on,wait=off"])  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not qmp.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        att = "a1b2c3d4-0000-4000-8000-000000000001"
        with QmpClient(qmp) as q:
            disks.plug(q, att, address="127.0.0.1", port=daemon.port, export=att,
                       serial="vol-serial")  # fmt: skip
            disks.plug(
                q, att, address="127.0.0.1", port=daemon.port, export=att, serial="vol-serial"
            )  # fmt: skip  (a second pass changes nothing)
            assert disks.plugged(q) == {disks.node_name(att)}
            devices = [b["qdev"] for b in q.execute("query-block") if b.get("qdev")]
            assert any(disks.device_id(att) in d for d in devices), devices
            out = q.execute("human-monitor-command", {
                "command-line": f"qemu-io -d /machine/peripheral/{disks.device_id(att)}/virtio-backend \"write -P 0x5a 0 64k\""})  # fmt: skip
            assert "rror" not in str(out) and "conflict" not in str(out), out
            q.execute("quit")
        vm.wait(10)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
    daemon.unexport(att)  # flushed and closed: the file holds the write
    assert _read_back(vol, "0x5a")


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (FUSE, loop devices, mount)")
def test_a_namespace_instance_gets_a_mounted_filesystem(
    tmp_path: Path, daemon: StorageDaemon
) -> None:
    daemon.ensure()
    vol = _volume(tmp_path)
    att = {"id": "b1b2c3d4-0000-4000-8000-000000000002", "volume_id": "vol-2",
           "server_id": "srv-1", "mode": "rw",
           "export": {"address": "127.0.0.1", "port": daemon.port,
                      "name": "b1b2c3d4-0000-4000-8000-000000000002"}}  # fmt: skip
    daemon.export(att["id"], vol)
    plugs = NamespaceDisks(tmp_path / "plugs", None)
    try:
        path = plugs.plug(att)
        assert plugs.healthy(att) and path == tmp_path / "plugs" / "mnt" / "srv-1" / "vol-2"
        (path / "hello.txt").write_text("kept\n")
    finally:
        plugs.unplug(att["id"])
    assert plugs.plugged() == set() and not path.exists()
    # a second plug (another instance, after the first let go) finds the file
    att2 = {**att, "server_id": "srv-2"}
    try:
        path2 = plugs.plug(att2)
        assert (path2 / "hello.txt").read_text() == "kept\n"
    finally:
        plugs.unplug(att2["id"])
    daemon.unexport(att["id"])


def test_a_group_snapshot_is_one_cut_of_exported_volumes(
    tmp_path: Path, daemon: StorageDaemon
) -> None:
    """Two exported volumes (their files held open by the daemon: qemu-img
    could not copy them); the snapshots, taken in one transaction, hold
    what was written before the cut and nothing written after it."""
    daemon.ensure()
    a, b = _volume(tmp_path, "volume-a.qcow2"), _volume(tmp_path, "volume-b.qcow2")
    daemon.export("ea", a)
    daemon.export("eb", b)

    def write(export: str, pattern: str) -> None:
        url = f"nbd://127.0.0.1:{daemon.port}/{export}"
        subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P {pattern} 0 1M", url],
                       check=True, capture_output=True)  # fmt: skip

    write("ea", "0x11")
    write("eb", "0x11")
    write("ea", "0x33")
    snap_a, snap_b = tmp_path / "snapshot-a.qcow2", tmp_path / "snapshot-b.qcow2"
    daemon.backup([(node_name("ea"), snap_a), (node_name("eb"), snap_b)])
    write("eb", "0x44")
    write("ea", "0x55")
    daemon.unexport("ea")
    daemon.unexport("eb")
    assert not (tmp_path / "snapshot-a.qcow2.part").exists()
    assert _read_back(snap_a, "0x33", length="1M") and _read_back(snap_b, "0x11", length="1M")
    assert _read_back(a, "0x55", length="1M") and _read_back(b, "0x44", length="1M")


def test_a_deep_run_directory_gets_a_short_qmp_socket(tmp_path: Path) -> None:
    """A unix socket path holds 107 bytes: a storage daemon whose run
    directory is deeper than that listens on a short stand-in, the same one
    every time (the agent finds its daemon again after a restart)."""
    from kumo.storage.daemon import SOCKET_PATH_MAX, StorageDaemon

    shallow = StorageDaemon(tmp_path / "run", "127.0.0.1")
    assert shallow.qmp_path == tmp_path / "run" / "qsd.sock"
    deep = StorageDaemon(tmp_path / ("d" * 120) / "run", "127.0.0.1")
    assert len(str(deep.qmp_path)) <= SOCKET_PATH_MAX
    assert deep.qmp_path == StorageDaemon(tmp_path / ("d" * 120) / "run", "127.0.0.1").qmp_path
    assert deep.qmp_path != StorageDaemon(tmp_path / ("e" * 120) / "run", "127.0.0.1").qmp_path
