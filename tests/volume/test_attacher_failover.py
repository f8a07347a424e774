"""A compute host's attacher when a replicated volume fails over: the
attachment's export moves to the new primary's storage host, and a VM's
disk plugged from the old export is unplugged and plugged from the new one
(a fake VM; the decision is the attacher's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kumo.agent.volumes import VolumeAttacher
from kumo.vm import disks


class FakeVms:
    """A VM's hot-plugged disks, as ``VmDisks`` reads them back from QMP."""

    def __init__(self) -> None:
        self.nodes: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def plugged(self, server_id: str) -> set[str]:
        return set(self.nodes)

    def plug(self, a: dict[str, Any]) -> None:
        self.calls.append(("plug", str(a["export"]["address"])))
        self.nodes.add(disks.node_name(a["id"]))

    def unplug(self, server_id: str, attachment_id: str) -> None:
        self.calls.append(("unplug", attachment_id))
        self.nodes.discard(disks.node_name(attachment_id))


def _attachment(address: str) -> dict[str, Any]:
    return {"id": "a1b2c3d4-0000-4000-8000-0000000000a1", "volume_id": "v1", "server_id": "vm1",
            "status": "attached", "driver": "qemu", "host": "c1",
            "export": {"address": address, "port": 10809,
                       "name": "a1b2c3d4-0000-4000-8000-0000000000a1"}}  # fmt: skip


def test_a_vm_disk_is_replugged_from_the_export_it_moved_to(tmp_path: Path) -> None:
    attacher = VolumeAttacher("c1", None, tmp_path)  # type: ignore[arg-type]
    vms = FakeVms()
    attacher.vms = vms  # type: ignore[assignment]
    attacher._attach(_attachment("192.0.2.11"))
    attacher._attach(_attachment("192.0.2.11"))  # a second pass changes nothing
    assert vms.calls == [("plug", "192.0.2.11")]
    attacher._attach(_attachment("192.0.2.12"))  # failed over to another storage host
    assert vms.calls[1:] == [("unplug", "a1b2c3d4-0000-4000-8000-0000000000a1"),
                             ("plug", "192.0.2.12")]  # fmt: skip
    attacher._attach(_attachment("192.0.2.12"))
    assert len(vms.calls) == 3
