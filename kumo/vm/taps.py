"""Tap devices for VM NICs, made persistent (owned by no process) in the
VM's namespace so QEMU attaches to them by name and a QEMU restart finds
them again. Plugging a tap into its port's bridge is the caller's job.
Both operations are idempotent."""

from __future__ import annotations

import subprocess

from kumo.vm.spec import Nic, tap_mac


class TapError(RuntimeError):
    pass


def _ip(netns: str | None, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if check and result.returncode != 0:
        raise TapError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result


def exists(name: str, netns: str | None) -> bool:
    return _ip(netns, "link", "show", "dev", name, check=False).returncode == 0


def create(nic: Nic, netns: str | None) -> None:
    if not exists(nic.tap, netns):
        _ip(netns, "tuntap", "add", "dev", nic.tap, "mode", "tap", "vnet_hdr")
    _ip(netns, "link", "set", "dev", nic.tap, "address", tap_mac(nic.mac), "up")


def delete(name: str, netns: str | None) -> None:
    result = _ip(netns, "link", "del", "dev", name, check=False)
    if result.returncode != 0 and exists(name, netns):
        raise TapError(f"ip link del {name}: {result.stderr.strip()}")
