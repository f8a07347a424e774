"""The ``qemu-system-x86_64`` command line of a VM (pure).

- ``pc`` machine (ACPI PCI hot-plug on the root bus: NICs plug in without
  pre-made root ports), direct kernel boot of the image's kernel and
  initramfs, ``-no-shutdown`` so a guest that powers off leaves QEMU
  running in state ``shutdown`` (a soft reboot resets it from there; a
  power-off then sends ``quit``);
- the root disk (qcow2 overlay) and the config drive as virtio-blk, a
  virtio-rng so the guest's SSH server has entropy at once, each NIC as
  virtio-net on its tap (``script=no``: the caller plugs the tap);
- QMP and the serial console on unix sockets, the serial output also
  appended to ``console.log``; QEMU detaches itself (``-daemonize``) and
  writes ``qemu.pid``, so it outlives the agent that started it;
- a translation cache of ``tb_size_mb`` under TCG (QEMU's default is far
  larger; measured RSS per VM is in docs/PERFORMANCE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kumo.vm.accel import QEMU, Accel
from kumo.vm.disks import root_drive
from kumo.vm.images import BaseImage
from kumo.vm.spec import Nic, VmSpec

TB_SIZE_MB = 16
SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class VmPaths:
    directory: Path

    @property
    def disk(self) -> Path:
        return self.directory / "disk.qcow2"

    @property
    def qmp(self) -> Path:
        return self.directory / "qmp.sock"

    @property
    def console(self) -> Path:
        return self.directory / "console.sock"

    @property
    def console_log(self) -> Path:
        return self.directory / "console.log"

    @property
    def pidfile(self) -> Path:
        return self.directory / "qemu.pid"

    @property
    def qemu_log(self) -> Path:
        return self.directory / "qemu.log"

    @property
    def spec(self) -> Path:
        return self.directory / "spec.json"


def netdev_args(nic: Nic) -> dict[str, str]:
    """``netdev_add`` arguments (and, joined, the ``-netdev`` option)."""
    return {"type": "tap", "id": nic.netdev_id, "ifname": nic.tap, "script": "no",
            "downscript": "no"}  # fmt: skip


def nic_device_args(nic: Nic) -> dict[str, str]:
    """``device_add`` arguments (and, joined, the ``-device`` option)."""
    return {"driver": "virtio-net-pci", "id": nic.device_id, "netdev": nic.netdev_id,
            "mac": nic.mac}  # fmt: skip


def _opts(args: dict[str, str], first: str) -> str:
    head = args[first]
    return ",".join([head, *(f"{k}={v}" for k, v in args.items() if k != first)])


def qemu_argv(
    spec: VmSpec,
    paths: VmPaths,
    base: BaseImage,
    accel: Accel,
    tb_size_mb: int = TB_SIZE_MB,
    qemu: str = QEMU,
) -> list[str]:
    for sock in (paths.qmp, paths.console):
        if len(str(sock)) > SOCKET_PATH_MAX:
            raise ValueError(f"{sock}: longer than a unix socket path may be")
    cmdline = " ".join(filter(None, [base.cmdline, spec.extra.get("cmdline", "")]))
    for path in (paths.directory, base.directory, spec.config_drive):
        if path is not None and "," in str(path):
            raise ValueError(f"{path}: QEMU options cannot carry a comma in a path")
    argv = [
        qemu,
        "-name", f"guest={spec.name},debug-threads=on",
        "-machine", "pc",
        *accel.args(tb_size_mb),
        "-smp", str(spec.vcpus),
        "-m", str(spec.ram_mb),
        "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
        "-no-shutdown",
        "-kernel", str(base.boot_kernel), "-initrd", str(base.boot_ramdisk), "-append", cmdline,
        "-drive", root_drive(paths.disk, spec.root_volume),
        "-device", "virtio-blk-pci,drive=root,id=root-disk",
        "-object", "rng-random,id=rng0,filename=/dev/urandom",
        "-device", "virtio-rng-pci,rng=rng0",
    ]  # fmt: skip
    if spec.uuid:
        argv += ["-uuid", spec.uuid]
    if spec.config_drive:
        argv += [
            "-drive", f"file={spec.config_drive},if=none,id=config,format=raw,readonly=on",
            "-device", "virtio-blk-pci,drive=config,id=config-drive",
        ]  # fmt: skip
    for nic in spec.nics:
        argv += ["-netdev", _opts(netdev_args(nic), "type")]
        argv += ["-device", _opts(nic_device_args(nic), "driver")]
    argv += [
        "-chardev", f"socket,id=serial0,path={paths.console},server=on,wait=off,"
                    f"logfile={paths.console_log},logappend=on",
        "-serial", "chardev:serial0",
        "-chardev", f"socket,id=qmp,path={paths.qmp},server=on,wait=off",
        "-mon", "chardev=qmp,mode=control",
        "-D", str(paths.qemu_log),
        "-pidfile", str(paths.pidfile),
        "-daemonize",
    ]  # fmt: skip
    return argv
