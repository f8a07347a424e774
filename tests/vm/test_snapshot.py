"""A VM's snapshot on its host (``QemuHost.snapshot`` over the runner and a
stand-in QEMU): the disk flattened into a standalone qcow2 holding what the
guest wrote, bundled with the image's kernel and initramfs, a running guest
paused for the copy and running again after, the snapshot recorded as done
once sent or refused for good, and not when the API could not be reached."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kumo.compiler.plan import VmPlan
from kumo.dataplane.vms import QemuHost, SnapshotRefused, VmFailure
from kumo.guestimage import bundle
from kumo.vm.runner import VmState
from tests.vm.test_runner import _runner, _spec, image, root

__all__ = ["image", "root"]


class Sink:
    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.got: dict[str, bytes] = {}
        self.abandoned: list[str] = []

    def upload_snapshot(self, image_id: str, path: Path) -> None:
        if self.fail is not None:
            raise self.fail
        self.got[image_id] = path.read_bytes()

    def abandon_snapshot(self, image_id: str) -> None:
        self.abandoned.append(image_id)


def _plan(snapshot: str) -> VmPlan:
    return VmPlan("vm1", "vm1", 1, 128, 2, "img", "", "running", snapshot=snapshot)


def _host(root: Path, sink: Sink) -> QemuHost:
    host = QemuHost(root / "run", root / "cache", lambda *a: None, snapshots=sink)
    host.runner = _runner(root)
    return host


def test_the_disk_is_flattened_bundled_and_sent(root: Path, image: Path) -> None:
    sink = Sink()
    host = _host(root, sink)
    host.runner.create(_spec(image))
    try:
        disk = host.runner.paths("vm1").disk
        subprocess.run(["qemu-io", "-c", "write -P 0x5a 1M 64k", str(disk)], check=True,
                       capture_output=True)  # fmt: skip
        host.snapshot(_plan("snap-1"))
        assert host.runner.state("vm1") is VmState.RUNNING  # paused for the copy only
        assert host.list()["vm1"].snapshot == "snap-1"
        out = root / "out"
        out.mkdir()
        (out / "b.tar").write_bytes(sink.got["snap-1"])
        made = bundle.unpack(out / "b.tar", out)
        assert (made.kernel, made.ramdisk, made.cmdline) == (
            "vmlinuz",
            "initrd.img",
            "console=ttyS0",
        )
        assert (out / "vmlinuz").read_bytes() == b"kernel"
        info = subprocess.run(["qemu-img", "info", str(out / made.disk)], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
        assert "backing file" not in info and "file format: qcow2" in info
        read = subprocess.run(["qemu-io", "-c", "read -P 0x5a 1M 64k", str(out / made.disk)],
                              capture_output=True, text=True)  # fmt: skip
        assert read.returncode == 0 and "Pattern verification failed" not in read.stdout
        assert not (root / "run" / "snapshots" / "snap-1").exists()  # nothing left behind
    finally:
        host.runner.delete("vm1")


def test_refused_is_done_unreachable_is_retried_broken_is_abandoned(
    root: Path, image: Path
) -> None:
    host = _host(root, Sink(SnapshotRefused("413 over quota")))
    host.runner.create(_spec(image))
    try:
        host.snapshot(_plan("snap-1"))
        assert host.list()["vm1"].snapshot == "snap-1"

        host.snapshots = Sink(VmFailure("connection refused"))
        with pytest.raises(VmFailure):
            host.snapshot(_plan("snap-2"))
        assert host.list()["vm1"].snapshot == "snap-1"  # the reconciler tries again

        sink = Sink()
        host.snapshots = sink
        host.runner.paths("vm1").disk.write_bytes(b"not a disk any more")
        host.snapshot(_plan("snap-3"))
        assert sink.abandoned == ["snap-3"] and sink.got == {}
        assert host.list()["vm1"].snapshot == "snap-3"
    finally:
        host.runner.delete("vm1")
