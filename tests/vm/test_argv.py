"""The QEMU command line, the saved spec, and the KVM probe's timeout."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kumo.vm import accel
from kumo.vm.argv import VmPaths, qemu_argv
from kumo.vm.images import BaseImage
from kumo.vm.spec import Nic, SpecError, VmSpec, tap_mac, tap_name

BASE = BaseImage(Path("/c/img"), Path("/c/img/vmlinuz"), Path("/c/img/initrd.img"),
                 Path("/c/img/disk.qcow2"), "console=ttyS0 quiet", 128,
                 Path("/c/img/boot-vmlinux"), Path("/c/img/boot-initrd.cpio"))  # fmt: skip
PORT = "6f1b2c3d-0000-4000-8000-000000000001"


def _spec(**kw: object) -> VmSpec:
    fields: dict[str, object] = dict(
        name="s1", vcpus=2, ram_mb=256, disk_gb=1, image=Path("/i/cirros.tar"),
        nics=(Nic(PORT, "fa:16:3e:00:00:01", tap_name(PORT)),), uuid="u-1",
    )  # fmt: skip
    fields.update(kw)
    return VmSpec(**fields)  # type: ignore[arg-type]


def _option(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_argv_tcg_flavor_disk_nic_sockets() -> None:
    argv = qemu_argv(_spec(), VmPaths(Path("/run/k/vms/s1")), BASE, accel.TCG, 16)
    assert _option(argv, "-accel") == ["tcg,tb-size=16"]
    assert _option(argv, "-cpu") == ["max"]
    assert _option(argv, "-smp") == ["2"] and _option(argv, "-m") == ["256"]
    assert _option(argv, "-kernel") == ["/c/img/boot-vmlinux"]
    assert "-no-shutdown" in argv and "-daemonize" in argv
    assert _option(argv, "-pidfile") == ["/run/k/vms/s1/qemu.pid"]
    assert _option(argv, "-netdev") == [
        "tap,id=net-" + PORT + ",ifname=tap6f1b2c3d-00,script=no,downscript=no"
    ]
    assert "virtio-net-pci,id=nic-" + PORT + ",netdev=net-" + PORT + ",mac=fa:16:3e:00:00:01" in (
        _option(argv, "-device")
    )
    assert any("file=/run/k/vms/s1/disk.qcow2" in d for d in _option(argv, "-drive"))
    assert any("path=/run/k/vms/s1/qmp.sock" in c for c in _option(argv, "-chardev"))
    assert _option(argv, "-mon") == ["chardev=qmp,mode=control"]


def test_argv_kvm_and_config_drive() -> None:
    spec = _spec(config_drive=Path("/run/k/cd.iso"), nics=())
    argv = qemu_argv(spec, VmPaths(Path("/run/k/vms/s1")), BASE, accel.KVM)
    assert _option(argv, "-accel") == ["kvm"] and _option(argv, "-cpu") == ["host"]
    assert any("file=/run/k/cd.iso" in d and "readonly=on" in d for d in _option(argv, "-drive"))
    assert "-netdev" not in argv


def test_socket_paths_must_fit() -> None:
    with pytest.raises(ValueError):
        qemu_argv(_spec(), VmPaths(Path("/" + "d" * 100)), BASE, accel.TCG)


def test_spec_round_trip_and_validation() -> None:
    spec = _spec(netns="kh1", config_drive=Path("/x.iso"))
    assert VmSpec.from_json(spec.to_json()) == spec
    for bad in (dict(name="../x"), dict(ram_mb=64), dict(vcpus=0)):
        with pytest.raises(SpecError):
            _spec(**bad)
    with pytest.raises(SpecError):
        Nic(PORT, "FA:16:3E:00:00:01", "tap1")
    assert tap_name(PORT) == "tap6f1b2c3d-00" and tap_mac("fa:16:3e:00:00:01")[:3] == "fe:"


def test_probe_gives_up_on_a_hung_guest_and_kills_it(tmp_path: Path) -> None:
    """A stand-in for QEMU that hangs (as a KVM guest does on a host without
    nested virtualisation): the probe says no within its timeout."""
    fake = tmp_path / "qemu"
    fake.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 60\n")
    fake.chmod(0o755)
    started = time.monotonic()
    assert accel.probe(BASE, accel.KVM, timeout=0.5, qemu=str(fake)) is False
    assert time.monotonic() - started < 3
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    ok = tmp_path / "ok"
    ok.write_text("#!/bin/sh\nexit 0\n")
    ok.chmod(0o755)
    assert accel.probe(BASE, accel.KVM, timeout=2, qemu=str(ok)) is True


def test_choice_is_cached_per_host(tmp_path: Path) -> None:
    import json

    machine = tmp_path / "machine" / "accel.json"
    (tmp_path / "accel.json").write_text(json.dumps({"key": accel.host_key(), "accel": "kvm"}))
    assert accel.choose(tmp_path, BASE, machine_cache=machine) is accel.KVM  # the cached answer
    (tmp_path / "accel.json").write_text(json.dumps({"key": "another host", "accel": "kvm"}))
    # Probed again: BASE's kernel does not exist, so no guest runs under KVM.
    assert accel.choose(tmp_path, BASE, timeout=5, machine_cache=machine) is accel.TCG
    assert json.loads((tmp_path / "accel.json").read_text())["accel"] == "tcg"
    # Another host on the same machine takes the machine's answer, unprobed.
    machine.write_text(json.dumps({"key": accel.host_key(), "accel": "kvm"}))
    other = tmp_path / "host2"
    assert accel.choose(other, BASE, machine_cache=machine) is accel.KVM
    assert json.loads((other / "accel.json").read_text())["accel"] == "kvm"
