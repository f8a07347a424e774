"""OS::Cinder::Volume and OS::Cinder::VolumeAttachment over the real block
storage and compute services: a storage host stand-in (registered and
reporting through the volume service, as a storage agent does over the
internal API) makes and removes the volumes it is asked to; the server is
an ACTIVE server without ports on a registered compute host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from kumo.compute.microversion import parse
from kumo.context import admin_context
from kumo.db.uow import run_in_transaction
from kumo.db.volume_models import VolumeAttachment
from kumo.network import agent_reports
from kumo.volume.microversion import MIN
from tests.orchestration.conftest import Cloud
from tests.orchestration.test_engine import create

GiB = 1 << 30


@pytest.fixture
def storage(cloud: Cloud) -> Iterator[list[str]]:
    """A storage host with one pool that carries out every creating, extending
    and deleting volume, and the compute host that unplugs every detaching one (the ids it made are yielded); ``fail`` in a volume's
    name makes its creation fail, as a full disk would."""
    admin = admin_context()
    vol = cloud.rt.volume
    vol.bootstrap()  # the default volume type
    pool = {"name": "p1", "total_gb": 100, "free_bytes": 100 * GiB}
    vol.register_storage_host(admin, {"storage_host": {"host": "s1", "pools": [pool]}})
    made: list[str] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.wait(0.05):
            items = vol.list_volumes(admin, {"all_tenants": "1"}, "", MIN, detail=True)[0]
            report = []
            for v in items:
                if v["status"] in ("creating", "extending"):
                    failed = "fail" in (v["name"] or "")
                    report.append({"id": v["id"], "status": "error" if failed else "available"})
                    if v["status"] == "creating" and not failed:
                        made.append(v["id"])
                elif v["status"] == "deleting":
                    report.append({"id": v["id"], "status": "deleted"})
            # the compute host's side: every detaching attachment unplugged
            # (as its agent reports)
            with cloud.rt.db.read_session() as s:
                detaching = s.scalars(
                    select(VolumeAttachment.id).where(VolumeAttachment.attach_status == "detaching")
                ).all()
            if detaching:
                done = [{"id": a, "status": "detached"} for a in detaching]
                vol.attachment_report(admin, {"attachments": done})
            if report:
                vol.storage_report(admin, {"volumes": report})

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield made
    stop.set()
    thread.join()


def _server(cloud: Cloud) -> str:
    rt = cloud.rt
    agent = {"host": "host1", "binary": "kumo-agent"}
    run_in_transaction(rt.db, lambda uow: agent_reports.register(uow, rt.settings,
                                                                 admin_context(), agent))  # fmt: skip
    body = {"server": {"name": "s1", "imageRef": _image(cloud), "flavorRef": "1",
                       "networks": "none"}}  # fmt: skip
    base = "http://kumo.test/compute/v2.1"
    made = rt.compute.create_servers(cloud.ctx, body, base, parse("2.37"))
    sid = str(made["server"]["id"])
    assert rt.compute.show_server(cloud.ctx, sid, base, parse("2.37"))["status"] == "ACTIVE"
    return sid


def _image(cloud: Cloud) -> str:
    images = cloud.rt.image.list_images(cloud.ctx, {})
    return str(next(i["id"] for i in images if i["name"] == "busybox"))


def _volumes(cloud: Cloud) -> list[dict[str, Any]]:
    return cloud.rt.volume.list_volumes(cloud.ctx, {}, "", MIN, detail=True)[0]


TEMPLATE = """
heat_template_version: 2021-04-16
parameters:
  server: {type: string}
  size: {type: number, default: 1}
resources:
  data:
    type: OS::Cinder::Volume
    properties: {size: {get_param: size}, name: data, metadata: {tier: db}}
  attach:
    type: OS::Cinder::VolumeAttachment
    properties:
      instance_uuid: {get_param: server}
      volume_id: {get_resource: data}
      mountpoint: /dev/vdb
outputs:
  size: {value: {get_attr: [data, size]}}
  status: {value: {get_attr: [data, status]}}
  device: {value: {get_attr: [attach, device]}}
"""


def test_volume_created_attached_grown_and_removed(cloud: Cloud, storage: list[str]) -> None:
    server = _server(cloud)
    svc = cloud.rt.orchestration
    sid = create(cloud, "vols", TEMPLATE, parameters={"server": server})
    state, reason = cloud.wait(sid)
    assert state == "CREATE_COMPLETE", reason
    [vol] = _volumes(cloud)
    assert vol["id"] in storage and vol["name"] == "data" and vol["metadata"] == {"tier": "db"}
    assert vol["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in vol["attachments"]] == [(server, "/dev/vdb")]
    shown = svc.show_stack(cloud.ctx, cloud.project_id, "vols", sid, cloud.endpoint)
    outputs = {o["output_key"]: o["output_value"] for o in shown["outputs"]}
    assert outputs == {"size": 1, "status": "in-use", "device": "/dev/vdb"}

    # a bigger size grows the same volume in place
    body = {"template": TEMPLATE, "parameters": {"server": server, "size": 2}}
    svc.update_stack(cloud.ctx, cloud.project_id, sid, body, patch=False)
    assert cloud.wait(sid)[0] == "UPDATE_COMPLETE"
    [grown] = _volumes(cloud)
    assert (grown["id"], grown["size"], grown["status"]) == (vol["id"], 2, "in-use")

    svc.delete_stack(cloud.ctx, cloud.project_id, sid)
    state, reason = cloud.wait(sid)
    assert state == "DELETE_COMPLETE", reason
    assert _volumes(cloud) == []  # detached first (reverse order), then deleted


def test_a_volume_that_fails_rolls_back(cloud: Cloud, storage: list[str]) -> None:
    template = """
heat_template_version: 2021-04-16
resources:
  good: {type: OS::Cinder::Volume, properties: {size: 1, name: good}}
  bad: {type: OS::Cinder::Volume, depends_on: good, properties: {size: 1, name: fail}}
"""
    sid = create(cloud, "failing", template, disable_rollback=False)
    state, reason = cloud.wait(sid)
    assert state == "ROLLBACK_COMPLETE", reason
    assert _volumes(cloud) == []


def test_properties_are_checked_at_validation(cloud: Cloud) -> None:
    template = """
heat_template_version: 2021-04-16
resources:
  attach:
    type: OS::Cinder::VolumeAttachment
    properties: {instance_uuid: x}
"""
    with pytest.raises(Exception, match="volume_id"):
        create(cloud, "invalid", template)
