"""What a VM is made of, as the compute driver asks for it: a server's id,
its flavor's vCPUs, RAM and disk, the image bundle, its NICs (a port's id,
MAC and tap device) and the namespace its taps and QEMU live in. Saved as
``spec.json`` in the VM's run directory so a restarted agent (or a
``start`` after a power-off) relaunches the same machine."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_TAP = re.compile(r"^[A-Za-z0-9_-]{1,15}$")


class SpecError(ValueError):
    pass


def tap_name(port_id: str) -> str:
    """The tap device of a port, named as Nova names it (``tap`` + 11 characters of the id)."""
    return ("tap" + port_id)[:14]


def tap_mac(mac: str) -> str:
    """The host side's MAC: the port's with the first octet ``fe``, so a
    bridge never takes the guest's address as its own."""
    return "fe" + mac[2:]


@dataclass(frozen=True)
class Nic:
    port_id: str
    mac: str
    tap: str

    def __post_init__(self) -> None:
        if not _MAC.match(self.mac):
            raise SpecError(f"bad MAC {self.mac!r}")
        if not _TAP.match(self.tap):
            raise SpecError(f"bad tap name {self.tap!r}")
        if not _NAME.match(self.port_id):
            raise SpecError(f"bad port id {self.port_id!r}")

    @property
    def device_id(self) -> str:
        """QEMU's id of the NIC (``net-`` + the netdev's)."""
        return f"nic-{self.port_id}"

    @property
    def netdev_id(self) -> str:
        return f"net-{self.port_id}"


@dataclass(frozen=True)
class VmSpec:
    name: str
    """The server's id: the run directory's name and QEMU's ``-name`` and ``-uuid``."""
    vcpus: int
    ram_mb: int
    disk_gb: int
    image: Path
    """The image bundle (``kumo.guestimage.bundle``)."""
    nics: tuple[Nic, ...] = ()
    netns: str | None = None
    """Where the taps are made and QEMU runs (None: the caller's namespace)."""
    config_drive: Path | None = None
    """An ISO 9660 image labelled config-2, attached read-only."""
    uuid: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    root_volume: str | None = None
    """The NBD URL of a volume to boot from (``kumo.vm.disks.root_drive``);
    None: a local root disk, a qcow2 overlay of the image's base disk."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise SpecError(f"bad VM name {self.name!r}")
        if not 1 <= self.vcpus <= 64:
            raise SpecError(f"vcpus {self.vcpus} out of range")
        if self.ram_mb < 96:
            raise SpecError(f"ram_mb {self.ram_mb} below 96 (the guest kernel does not boot)")
        if self.disk_gb < 0:
            raise SpecError("disk_gb < 0")
        ids = [nic.port_id for nic in self.nics]
        if len(set(ids)) != len(ids):
            raise SpecError("a port appears twice")

    def with_nics(self, nics: tuple[Nic, ...]) -> VmSpec:
        return replace(self, nics=nics)

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "name": self.name,
            "vcpus": self.vcpus,
            "ram_mb": self.ram_mb,
            "disk_gb": self.disk_gb,
            "image": str(self.image),
            "nics": [{"port_id": n.port_id, "mac": n.mac, "tap": n.tap} for n in self.nics],
            "netns": self.netns,
            "config_drive": str(self.config_drive) if self.config_drive else None,
            "uuid": self.uuid,
            "extra": self.extra,
        }
        if self.root_volume:
            doc["root_volume"] = self.root_volume
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> VmSpec:
        doc = json.loads(text)
        return cls(
            name=doc["name"],
            vcpus=int(doc["vcpus"]),
            ram_mb=int(doc["ram_mb"]),
            disk_gb=int(doc["disk_gb"]),
            image=Path(doc["image"]),
            nics=tuple(Nic(**n) for n in doc.get("nics", ())),
            netns=doc.get("netns"),
            config_drive=Path(doc["config_drive"]) if doc.get("config_drive") else None,
            uuid=doc.get("uuid"),
            extra=dict(doc.get("extra") or {}),
            root_volume=doc.get("root_volume") or None,
        )
