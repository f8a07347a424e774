"""OS::Nova::Server's ``block_device_mapping`` and ``block_device_mapping_v2``
properties turned into the compute API's request fields, as Heat builds them.

The compute API decides what it can boot: these only translate (a volume,
snapshot or image source becomes a volume destination, swap and ephemeral
sizes become blank local disks) and pass the result through.
"""

from __future__ import annotations

from typing import Any

from kumo.orchestration.resources.base import Prop

V1 = {
    "device_name": Prop("string", required=True),
    "volume_id": Prop("string"),
    "snapshot_id": Prop("string"),
    "volume_size": Prop("integer"),
    "delete_on_termination": Prop("boolean"),
}
V2 = {
    "device_name": Prop("string"),
    "volume_id": Prop("string"),
    "image": Prop("string"),
    "image_id": Prop("string"),
    "snapshot_id": Prop("string"),
    "swap_size": Prop("integer"),
    "ephemeral_size": Prop("integer"),
    "ephemeral_format": Prop("string"),
    "delete_on_termination": Prop("boolean"),
    "disk_bus": Prop("string"),
    "device_type": Prop("string", allowed=("cdrom", "disk")),
    "volume_size": Prop("integer"),
    "boot_index": Prop("integer"),
}
PASSED_ON = ("device_type", "disk_bus", "boot_index", "volume_size", "delete_on_termination")


def v1(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The legacy mapping: one volume (or a volume from a snapshot) per device name."""
    out = []
    for item in items:
        entry: dict[str, Any] = {"device_name": item["device_name"]}
        for key in ("volume_id", "snapshot_id", "volume_size", "delete_on_termination"):
            if item.get(key) is not None:
                entry[key] = item[key]
        out.append(entry)
    return out


def _source(item: dict[str, Any]) -> dict[str, Any]:
    """Where the device's data comes from, with Heat's defaults for that source."""
    image = item.get("image") or item.get("image_id")
    for kind, uuid in (("volume", item.get("volume_id")),
                       ("snapshot", item.get("snapshot_id")), ("image", image)):  # fmt: skip
        if uuid:
            return {"uuid": uuid, "source_type": kind, "destination_type": "volume",
                    "boot_index": 0, "delete_on_termination": False}  # fmt: skip
    blank = {"source_type": "blank", "destination_type": "local", "boot_index": -1,
             "delete_on_termination": True}  # fmt: skip
    if item.get("swap_size"):
        return {**blank, "guest_format": "swap", "volume_size": item["swap_size"]}
    if item.get("ephemeral_size") or item.get("ephemeral_format"):
        out = dict(blank)
        if item.get("ephemeral_size"):
            out["volume_size"] = item["ephemeral_size"]
        if item.get("ephemeral_format"):
            out["guest_format"] = item["ephemeral_format"]
        return out
    return {}


def v2(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        entry = _source(item)
        if item.get("device_name"):
            entry["device_name"] = item["device_name"]
        for key in PASSED_ON:
            if item.get(key) is not None:
                entry[key] = item[key]
        out.append(entry)
    return out


def bootable(props: dict[str, Any]) -> bool:
    """Whether a mapping gives the server a disk to boot from (then ``image`` may be left out)."""
    legacy = props.get("block_device_mapping") or []
    if any(i.get("volume_id") or i.get("snapshot_id") for i in legacy):
        return True
    return any(e.get("boot_index") == 0 and e.get("source_type") in ("volume", "snapshot", "image")
               for e in v2(props.get("block_device_mapping_v2") or []))  # fmt: skip
