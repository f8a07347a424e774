"""Volumes hot-plugged into a running VM over QMP (the disks of attachments).

- ``plug``: ``blockdev-add`` of QEMU's own NBD client (the storage host's
  export; no kernel NBD module is needed) and ``device_add`` of a
  virtio-blk disk on it, with the volume's id as its serial (the guest
  finds it under ``/dev/disk/by-id/virtio-<serial>``). The guest sees the
  disk at once. A failed ``device_add`` takes the node away again.
- ``unplug``: ``device_del``, wait until the guest let go
  (``DEVICE_DELETED``), then ``blockdev-del``, which flushes what QEMU
  still holds and closes the NBD connection.
- ``plugged``: the attachments whose node the VM has; ``plugged_from``:
  and the NBD server each was opened from.
- ``root_drive``: the root disk on QEMU's command line, local or, for a
  server booted from a volume, the volume's NBD export.

Each attachment's node and device are named from its id (``node_name``,
``device_id``), so the state is read back from QEMU, never kept aside.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from kumo.vm.qmp import QmpClient, QmpCommandError, QmpTimeout
from kumo.volume import throttle


def root_drive(local: Path, volume: str | None) -> str:
    """The ``-drive`` option of a VM's root disk: the local qcow2 overlay,
    or the NBD export of the volume it boots from (QEMU's own NBD client;
    the export serves the volume's data raw)."""
    if volume:
        if "," in volume or not volume.startswith("nbd://"):
            raise ValueError(f"{volume!r} is not an NBD URL QEMU can take")
        return f"file={volume},if=none,id=root,format=raw,discard=unmap"
    return f"file={local},if=none,id=root,format=qcow2,discard=unmap"


PREFIX = "vol"
UNPLUG_TIMEOUT = 10.0
SERIAL_MAX = 20
"""virtio-blk serials are at most 20 bytes."""


class DiskError(RuntimeError):
    pass


def node_name(attachment_id: str) -> str:
    return PREFIX + attachment_id.replace("-", "")[:28]


def device_id(attachment_id: str) -> str:
    return "disk-" + node_name(attachment_id)


def plugged(q: QmpClient) -> set[str]:
    """Node names of the attachments' disks the VM has now."""
    nodes = q.execute("query-named-block-nodes", {"flat": True})
    return {str(n["node-name"]) for n in nodes if str(n.get("node-name", "")).startswith(PREFIX)}


def plugged_from(q: QmpClient) -> dict[str, tuple[str, int] | None]:
    """The attachments' disk nodes the VM has → the NBD server each was
    opened from (QEMU shows an NBD node's ``file`` as ``nbd://HOST:PORT/EXPORT``;
    None when it does not), so an agent that restarted still sees where
    each disk comes from."""
    out: dict[str, tuple[str, int] | None] = {}
    for n in q.execute("query-named-block-nodes", {"flat": True}):
        name = str(n.get("node-name", ""))
        if not name.startswith(PREFIX):
            continue
        url = urlsplit(str(n.get("file", "")))
        try:
            port = url.port
        except ValueError:
            port = None
        out[name] = (url.hostname, port) if url.scheme == "nbd" and url.hostname and port else None
    return out


def plug(
    q: QmpClient,
    attachment_id: str,
    *,
    address: str,
    port: int,
    export: str,
    serial: str,
    read_only: bool = False,
    qos: Mapping[str, int] | None = None,
) -> None:
    """The export as a virtio disk; ``qos`` (``kumo.volume.throttle``): the
    disk's I/O throttled to those limits (``block_set_io_throttle``)."""
    node = node_name(attachment_id)
    if node not in plugged(q):
        q.execute("blockdev-add", {
            "driver": "nbd", "node-name": node, "read-only": read_only,
            "server": {"type": "inet", "host": address, "port": str(port)},
            "export": export,
        })  # fmt: skip
    try:
        q.execute("device_add", {"driver": "virtio-blk-pci", "id": device_id(attachment_id),
                                 "drive": node, "serial": serial[:SERIAL_MAX]})  # fmt: skip
    except QmpCommandError as exc:
        if "duplicate" not in exc.desc.lower() and "already" not in exc.desc.lower():
            _quiet(q, "blockdev-del", {"node-name": node})
            raise
        # plugged by an earlier pass: its limits set again below
    if qos:
        backend = f"/machine/peripheral/{device_id(attachment_id)}/virtio-backend"
        q.execute("block_set_io_throttle", throttle.qmp_arguments(backend, qos))


def unplug(q: QmpClient, attachment_id: str, timeout: float = UNPLUG_TIMEOUT) -> None:
    device = device_id(attachment_id)
    try:
        q.execute("device_del", {"id": device})
        q.wait_event("DEVICE_DELETED", timeout, {"device": device})
    except QmpCommandError as exc:
        if exc.cls != "DeviceNotFound":
            raise
    except QmpTimeout as exc:
        raise DiskError(f"the guest did not release {device} in {timeout:.0f} s") from exc
    _quiet(q, "blockdev-del", {"node-name": node_name(attachment_id)})


def _quiet(q: QmpClient, command: str, args: dict[str, object]) -> None:
    try:
        q.execute(command, args)
    except QmpCommandError:
        pass
