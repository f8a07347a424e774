"""The runner's lifecycle against a stand-in QEMU process (tests/vm/fakeqmp.py
run as ``qemu-system-x86_64``: detaches, writes its pid file, speaks QMP and
fails as QEMU does). No root, no guest; the real thing is test_vm_root.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.guestimage import bundle
from kumo.vm import accel
from kumo.vm.runner import QUIT_TIMEOUT, VmRunner, VmState
from kumo.vm.spec import VmSpec

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-utils")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Short: unix socket paths must fit in 107 bytes.
    path = Path(f"/tmp/kvr-{os.getpid()}-{time.monotonic_ns() % 100000}")
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def image(root: Path) -> Path:
    parts = root / "parts"
    parts.mkdir()
    (parts / "vmlinuz").write_bytes(b"kernel")
    (parts / "initrd.img").write_bytes(b"ramdisk")
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", str(parts / "disk.qcow2"), "1G"], check=True
    )
    descriptor = bundle.Descriptor("vmlinuz", "initrd.img", "disk.qcow2", "console=ttyS0", 128, {})
    path = root / "cirros.tar"
    bundle.write(path, descriptor, {p.name: p for p in parts.iterdir()}, 0)
    return path


def _runner(root: Path, fault: str = "") -> VmRunner:
    fake = root / f"qemu{fault}"
    fake.write_text(
        "#!/bin/sh\n"
        f"export PYTHONPATH={REPO} KUMO_FAKE_QMP_FAULT={fault}\n"
        f'exec {sys.executable} -m tests.vm.fakeqmp "$@"\n'
    )
    fake.chmod(0o755)
    return VmRunner(root / "run", root / "cache", accel=accel.TCG, qemu=str(fake))


def _spec(image: Path, name: str = "vm1") -> VmSpec:
    return VmSpec(name, vcpus=1, ram_mb=128, disk_gb=2, image=image)


def test_create_pause_powerdown_start_delete(root: Path, image: Path) -> None:
    runner = _runner(root)
    runner.create(_spec(image))
    try:
        pid = runner.pid("vm1")
        assert pid is not None and runner.state("vm1") is VmState.RUNNING
        info = subprocess.run(
            ["qemu-img", "info", "-U", str(runner.paths("vm1").disk)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert "virtual size: 2 GiB" in info and "backing file:" in info
        # An agent restarted: a new runner over the same directory finds it.
        assert VmRunner(root / "run", root / "cache").pid("vm1") == pid
        assert runner.names() == ["vm1"]

        runner.pause("vm1")
        assert runner.state("vm1") is VmState.PAUSED
        runner.unpause("vm1")
        assert runner.state("vm1") is VmState.RUNNING

        assert runner.powerdown("vm1", timeout=5) is True
        assert runner.pid("vm1") is None and runner.state("vm1") is VmState.SHUTOFF
        assert runner.powerdown("vm1") is True  # already off

        runner.start("vm1")
        assert runner.state("vm1") is VmState.RUNNING and runner.pid("vm1") != pid
    finally:
        runner.delete("vm1")
    assert not runner.paths("vm1").directory.exists()
    runner.delete("vm1")  # idempotent


def test_soft_reboot_resets_the_powered_off_guest_and_runs_it(root: Path, image: Path) -> None:
    runner = _runner(root)
    runner.create(_spec(image))
    try:
        pid = runner.pid("vm1")
        runner.reboot("vm1", hard=False, timeout=5)  # cont without a reset is refused
        assert runner.state("vm1") is VmState.RUNNING and runner.pid("vm1") == pid
        runner.reboot("vm1", hard=True)
        assert runner.state("vm1") is VmState.RUNNING
    finally:
        runner.delete("vm1")


def test_a_guest_that_ignores_the_button_is_stopped_after_the_timeout(
    root: Path, image: Path
) -> None:
    runner = _runner(root, "deaf")
    runner.create(_spec(image))
    try:
        started = time.monotonic()
        assert runner.powerdown("vm1", timeout=0.5) is False
        # bounded: the button's timeout, then quit (killed if it is not obeyed in time)
        assert time.monotonic() - started < 0.5 + 2 * QUIT_TIMEOUT + 1
        assert runner.pid("vm1") is None
    finally:
        runner.delete("vm1")


def test_a_qemu_that_ignores_quit_is_killed_on_delete(root: Path, image: Path) -> None:
    runner = _runner(root, "immortal")
    runner.create(_spec(image))
    pid = runner.pid("vm1")
    assert pid is not None
    runner.delete("vm1")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert not runner.paths("vm1").directory.exists()


def test_create_twice_is_refused_and_a_missing_vm_is_not_found(root: Path, image: Path) -> None:
    from kumo.vm.runner import VmError, VmNotFound

    runner = _runner(root)
    runner.create(_spec(image))
    try:
        with pytest.raises(VmError):
            runner.create(_spec(image))
        with pytest.raises(VmNotFound):
            runner.state("nope")
        with pytest.raises(VmNotFound):
            runner.pause("nope")
    finally:
        runner.delete("vm1")
