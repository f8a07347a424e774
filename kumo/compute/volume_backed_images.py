"""``createImage`` of a server booted from a volume: snapshots of its
volumes and an image that names them.

Each volume attached to the server gets a volume snapshot (``snapshot for
<image name>``, made by its storage host while the volume stays attached,
as Cinder's forced snapshot of an ``in-use`` volume). The image is made at
once, as the requester, ``active`` with no data (size 0): what it holds is
its ``block_device_mapping`` property, one ``source_type=snapshot,
destination_type=volume`` mapping per volume (``boot_index`` 0 for the
root, ``volume_size``, ``device_name``, ``delete_on_termination``),
``bdm_v2=True`` and ``root_device_name``, the way Nova records the image of
a volume-backed server. Booting from the image makes new volumes from those
snapshots (``kumo.compute.block_devices.from_image``); the snapshots must
be ``available`` by then.
"""

from __future__ import annotations

import json
from typing import Any

from kumo.compute import block_devices, snapshots, volume_attachments
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Volume
from kumo.errors import Conflict
from kumo.image import images
from kumo.policy import authorize


def request(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server: Server, current: str, arg: Any
) -> str:
    """Snapshot the volumes of ``server``; the new image's id."""
    from kumo.volume import snapshots as volume_snapshots
    from kumo.volume import volumes

    authorize(ctx, snapshots.RULE, {"project_id": server.project_id})
    authorize(ctx, "image:add_image", {"project_id": server.project_id})
    name, metadata = snapshots.fields(arg)
    if current not in snapshots.STATES:
        raise Conflict(
            f"Cannot 'createImage' instance {server.id} while it is in vm_state {current}",
            kind="InstanceInvalidState",
        )
    s = uow.session
    mappings: list[dict[str, Any]] = []
    for a in volume_attachments.of_server(s, server.id):
        v = s.get(Volume, a.volume_id, with_for_update=True)
        if v is None:
            continue
        if v.status != "in-use" or v.storage_host is None:
            raise Conflict(
                f"Cannot 'createImage' instance {server.id}: its volume {v.id} is {v.status}.",
                kind="InstanceInvalidState",
            )
        authorize(ctx, "volume:create_snapshot", volumes.target(v))
        snap = volume_snapshots.make(
            uow, settings, ctx, v, name=f"snapshot for {name}", description=None, meta={}
        )
        mappings.append(
            {"source_type": "snapshot", "destination_type": "volume", "snapshot_id": snap.id,
             "volume_size": v.size, "boot_index": 0 if a.boot_index == 0 else None,
             "device_name": a.mountpoint, "delete_on_termination": bool(a.delete_on_termination),
             "device_type": "disk", "disk_bus": None, "guest_format": None, "volume_type": None,
             "tag": None, "no_device": None, "image_id": None, "volume_id": None}
        )  # fmt: skip
    mappings.sort(key=lambda m: (m["boot_index"] != 0, m["device_name"] or ""))
    base = block_devices.image_of(s, server)
    props = {
        k: v
        for k, v in ((base.properties or {}) if base else {}).items()
        if k in snapshots.INHERITED
    }
    props.update(metadata)
    props.update(
        {"image_type": "snapshot", "instance_uuid": server.id, "base_image_ref": "",
         "user_id": ctx.user_id, "bdm_v2": "True", "root_device_name": block_devices.ROOT_DEVICE,
         "block_device_mapping": json.dumps(mappings)}
    )  # fmt: skip
    root_volume = block_devices.root_of(s, server.id)
    image = images.create(
        uow,
        ctx,
        {
            **props,
            "name": name,
            "visibility": "private",
            "container_format": base.container_format if base else "bare",
            "disk_format": base.disk_format if base else "qcow2",
            "min_disk": root_volume[1].size if root_volume else 0,
            "min_ram": base.min_ram if base else 0,
        },
    )
    images.make_empty(image)
    return image.id
