"""OS::Cinder::* resources, made through ``VolumeService`` (and the compute
service's volume attachments) with the creator's context.

A volume is created once a storage host has made it (``available``) and
deleted once it is gone; an attachment is Nova's ``os-volume_attachments``
record (the volume ``in-use`` on the server), whatever the state of its
data path.
"""

from __future__ import annotations

import json
from typing import Any

from kumo.db.uow import run_in_transaction
from kumo.errors import NotFound
from kumo.orchestration.errors import ResourceFailure
from kumo.orchestration.resources.base import Env, Plugin, Prop, gone_ok
from kumo.volume.microversion import MIN
from kumo.volume.volumes import V_EXTEND_IN_USE

FAILED = ("error", "error_deleting", "error_extending", "error_restoring")


def _base(env: Env) -> str:
    return f"{env.base_url}/volume"


def _show(env: Env, volume_id: str) -> dict[str, Any]:
    return env.rt.volume.show_volume(env.ctx, volume_id, _base(env), MIN)


def _settled(env: Env, volume_id: str, wanted: str, what: str) -> bool:
    status = _show(env, volume_id)["status"]
    if status in FAILED:
        raise ResourceFailure(f"Went to status {status} while waiting for {what}")
    return bool(status == wanted)


class Volume(Plugin):
    type_name = "OS::Cinder::Volume"
    description = "A block storage volume; created when it is available."
    props = {
        "size": Prop("integer", update=True, description="GiB (grows in place; never shrinks)"),
        "name": Prop("string", update=True),
        "description": Prop("string", update=True),
        "volume_type": Prop("string"),
        "availability_zone": Prop("string"),
        "metadata": Prop("map", update=True),
        "snapshot_id": Prop("string"),
        "source_volid": Prop("string"),
        "multiattach": Prop("boolean"),
    }
    attrs = {
        "size": "The size of the volume in GiB",
        "status": "The current status of the volume",
        "display_name": "Name of the volume",
        "display_description": "Description of the volume",
        "availability_zone": "The availability zone in which the volume is located",
        "volume_type": "The type of the volume",
        "snapshot_id": "The snapshot the volume was created from",
        "source_volid": "The volume the volume was created from",
        "metadata": "Key/value pairs associated with the volume (JSON)",
        "metadata_values": "Key/value pairs associated with the volume",
        "created_at": "When the volume was created",
        "bootable": "Whether the volume is bootable",
        "encrypted": "Whether the volume is encrypted",
        "multiattach": "Whether the volume can be attached to several servers",
        "attachments": "The volume's attachments (JSON)",
        "attachments_list": "The volume's attachments",
    }

    def create(self, env: Env, props: dict[str, Any]) -> None:
        if "size" not in props and not ({"snapshot_id", "source_volid"} & set(props)):
            raise ResourceFailure("Property size not assigned (nor snapshot_id, source_volid)")
        body: dict[str, Any] = {"name": props.get("name") or env.physical_name()}
        for key in ("size", "description", "volume_type", "availability_zone", "snapshot_id",
                    "source_volid", "multiattach"):  # fmt: skip
            if key in props:
                body[key] = props[key]
        if props.get("metadata"):
            body["metadata"] = {str(k): str(v) for k, v in props["metadata"].items()}
        made = env.rt.volume.create_volume(env.ctx, {"volume": body}, _base(env), MIN)
        env.physical_id = str(made["id"])
        env.save()
        vid = env.physical_id
        env.wait(lambda: _settled(env, vid, "available", "creation"), f"volume {vid} to be made")

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        vid = str(env.physical_id)
        body = {k: new.get(k) for k in ("name", "description") if old.get(k) != new.get(k)}
        if "name" in body and not body["name"]:
            body["name"] = env.physical_name()
        if old.get("metadata") != new.get("metadata"):
            body["metadata"] = {str(k): str(v) for k, v in (new.get("metadata") or {}).items()}
        if body:
            env.rt.volume.update_volume(env.ctx, vid, {"volume": body}, _base(env), MIN)
        if old.get("size") != new.get("size") and new.get("size") is not None:
            was = _show(env, vid)
            if new["size"] < was["size"]:
                raise ResourceFailure(f"The size of volume {vid} cannot shrink")
            if new["size"] > was["size"]:
                back = was["status"]
                extend = {"os-extend": {"new_size": new["size"]}}
                env.rt.volume.volume_action(env.ctx, vid, extend, V_EXTEND_IN_USE)
                env.wait(lambda: _settled(env, vid, back, "extension"), f"volume {vid} to grow")

    def delete(self, env: Env) -> None:
        if not env.physical_id:
            return
        vid = str(env.physical_id)
        gone_ok(lambda: env.rt.volume.delete_volume(env.ctx, vid, cascade=False))

        def gone() -> bool:
            try:
                status = _show(env, vid)["status"]
            except NotFound:
                return True
            if status in FAILED:
                raise ResourceFailure(f"Volume {vid} went to status {status} being deleted")
            return False

        env.wait(gone, f"volume {vid} to be deleted")

    def check(self, env: Env) -> None:
        status = _show(env, str(env.physical_id))["status"]
        if status in FAILED:
            raise ResourceFailure(f"Volume {env.physical_id} is in status {status}")

    def show(self, env: Env) -> dict[str, Any]:
        return _show(env, str(env.physical_id))

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if not env.physical_id:
            return None
        try:
            v = _show(env, str(env.physical_id))
        except NotFound:
            return None
        if name == "show":
            return v
        if name == "display_name":
            return v["name"]
        if name == "display_description":
            return v["description"]
        if name == "metadata_values":
            return v["metadata"]
        if name == "metadata":
            return json.dumps(v["metadata"])
        if name == "attachments_list":
            return v["attachments"]
        if name == "attachments":
            return json.dumps(v["attachments"])
        return v.get(name)


class VolumeAttachment(Plugin):
    type_name = "OS::Cinder::VolumeAttachment"
    description = "A volume attached to a server (Nova's os-volume_attachments)."
    props = {
        "instance_uuid": Prop("string", required=True),
        "volume_id": Prop("string", required=True),
        "mountpoint": Prop("string", description="The device, e.g. /dev/vdb (default: next)"),
    }
    attrs = {"device": "The device the volume is attached as"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        from kumo.compute import volume_attachments as va

        server, volume = props["instance_uuid"], props["volume_id"]
        wanted: dict[str, Any] = {"volumeId": volume}
        if props.get("mountpoint"):
            wanted["device"] = props["mountpoint"]
        settings = env.rt.settings

        def work(uow: Any) -> tuple[str, str | None]:
            a = va.attach(uow, settings, env.ctx, server, {"volumeAttachment": wanted})
            return a.id, a.mountpoint

        attachment, device = run_in_transaction(env.rt.db, work)
        env.physical_id = attachment
        env.data.update(server=server, volume=volume, device=device)

    def delete(self, env: Env) -> None:
        if not env.physical_id:
            return
        from kumo.compute import volume_attachments as va

        server, volume = env.data.get("server"), env.data.get("volume")
        if not server or not volume:
            return
        gone_ok(lambda: run_in_transaction(env.rt.db,
                                           lambda uow: va.detach(uow, env.ctx, server, volume)))  # fmt: skip

        def detached() -> bool:
            """The compute host has unplugged it (a detach is a handshake with
            the host: the volume is ``detaching`` until the host reports)."""
            try:
                shown = _show(env, str(volume))
            except NotFound:
                return True
            if shown["status"] in FAILED:
                raise ResourceFailure(f"Volume {volume} went to status {shown['status']}")
            return shown["status"] != "detaching" and all(
                a.get("server_id") != server for a in shown.get("attachments") or []
            )

        env.wait(detached, f"volume {volume} to be detached")

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if name == "device":
            return env.data.get("device")
        return self.show(env) if name == "show" and env.physical_id else None

    def check(self, env: Env) -> None:
        from kumo.compute import volume_attachments as va

        server, volume = str(env.data.get("server")), str(env.data.get("volume"))
        with env.rt.db.read_session() as s:
            try:
                va.show(s, env.ctx, server, volume)
            except NotFound as exc:
                raise ResourceFailure(f"Volume {volume} is not attached to {server}") from exc

    def show(self, env: Env) -> dict[str, Any]:
        from kumo.compute import volume_attachments as va
        from kumo.compute.microversion import parse

        server, volume = str(env.data.get("server")), str(env.data.get("volume"))
        with env.rt.db.read_session() as s:
            return va.view(va.show(s, env.ctx, server, volume), parse("2.1"))


PLUGINS: list[type[Plugin]] = [Volume, VolumeAttachment]
