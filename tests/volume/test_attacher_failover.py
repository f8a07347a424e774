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
        self.nodes: dict[str, tuple[str, int] | None] = {}
        self.calls: list[tuple[str, str]] = []

    def plugged(self, server_id: str) -> dict[str, tuple[str, int] | None]:
        return dict(self.nodes)

    def plug(self, a: dict[str, Any]) -> None:
        self.calls.append(("plug", str(a["export"]["address"])))
        self.nodes[disks.node_name(a["id"])] = (a["export"]["address"], a["export"]["port"])

    def unplug(self, server_id: str, attachment_id: str) -> None:
        self.calls.append(("unplug", attachment_id))
        self.nodes.pop(disks.node_name(attachment_id), None)


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


def test_an_agent_that_restarted_finds_the_disks_and_where_they_come_from(
    tmp_path: Path,
) -> None:
    """A new agent (nothing in memory) leaves a VM's disk alone when it comes
    from the attachment's export, and replugs it when the volume failed over
    while the agent was down (QEMU says which server the disk was opened from)."""
    vms = FakeVms()
    first = VolumeAttacher("c1", None, tmp_path)  # type: ignore[arg-type]
    first.vms = vms  # type: ignore[assignment]
    first._attach(_attachment("192.0.2.11"))
    restarted = VolumeAttacher("c1", None, tmp_path)  # type: ignore[arg-type]
    restarted.vms = vms  # type: ignore[assignment]
    restarted._attach(_attachment("192.0.2.11"))
    assert vms.calls == [("plug", "192.0.2.11")]  # found, not plugged again
    again = VolumeAttacher("c1", None, tmp_path)  # type: ignore[arg-type]
    again.vms = vms  # type: ignore[assignment]
    again._attach(_attachment("192.0.2.12"))  # failed over while no agent ran
    assert vms.calls[1:] == [("unplug", "a1b2c3d4-0000-4000-8000-0000000000a1"),
                             ("plug", "192.0.2.12")]  # fmt: skip


def test_qemu_says_where_an_nbd_disk_comes_from() -> None:
    class Q:
        def execute(self, command: str, args: Any = None) -> Any:
            return [
                {"node-name": "vola1", "drv": "nbd", "file": "nbd://192.0.2.11:10809/a1"},
                {"node-name": "vola2", "drv": "nbd", "file": "nbd://[2001:db8::5]:10810/a2"},
                {"node-name": "vola3", "drv": "nbd", "file": "json:{...}"},
                {"node-name": "root", "drv": "qcow2", "file": "/var/lib/x.qcow2"},
            ]

    assert disks.plugged_from(Q()) == {  # type: ignore[arg-type]
        "vola1": ("192.0.2.11", 10809), "vola2": ("2001:db8::5", 10810), "vola3": None}  # fmt: skip
