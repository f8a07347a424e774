"""Servers booted from volumes through the APIs: ``block_device_mapping_v2``
with an image made into a new volume (the server waits for its storage
host, then its host is told the root volume's NBD export), the view Nova
gives a volume-backed server, the root volume refused a detach, a rebuild
and a snapshot, and ``delete_on_termination`` honoured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kumo.api.app import create_app
from kumo.compiler.model import ServerView
from kumo.config import Settings
from kumo.image.guest import CIRROS_ID
from kumo.runtime import Runtime
from tests.compute.conftest import C, Cloud
from tests.compute.test_vm_servers import QEMU_HOST, report, watched, write_bundle

GiB = 1 << 30


@pytest.fixture
def cloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    bundle = write_bundle(tmp_path / "cirros.tar")
    settings = Settings(state_dir=tmp_path / "state", database_url=db_url, guest_image=bundle)
    runtime = Runtime.open(settings)
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    runtime.volume.bootstrap()
    with TestClient(create_app(runtime)) as client:
        made = Cloud(client, runtime, password)
        body = {"storage_host": {"host": "store1", "export_address": "192.0.2.5",
                                 "pools": [{"name": "p1", "total_gb": 100,
                                            "free_bytes": 100 * GiB}]}}  # fmt: skip
        r = client.post("/internal/v1/storage-hosts", headers=made.admin, json=body)
        assert r.status_code == 200, r.text
        yield made
    runtime.close()


def _volumes(cloud: Cloud, h: dict[str, str]) -> list[dict[str, Any]]:
    r = cloud.c.get("/volume/v3/volumes/detail", headers=h)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["volumes"]
    return found


def _storage_report(cloud: Cloud, volume_id: str, status: str) -> None:
    r = cloud.c.post("/internal/v1/storage-reports", headers=cloud.admin,
                     json={"volumes": [{"id": volume_id, "status": status}]})  # fmt: skip
    assert r.status_code == 200, r.text


def test_a_server_boots_from_a_volume_made_from_an_image(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    bdm = [{"uuid": CIRROS_ID, "source_type": "image", "destination_type": "volume",
            "boot_index": 0, "volume_size": 2, "delete_on_termination": True}]  # fmt: skip
    body = {"server": {"name": "bfv", "imageRef": "", "flavorRef": "1", "networks": "none",
                       "block_device_mapping_v2": bdm}}  # fmt: skip
    sid = cloud.post(alice, "/servers", body)["server"]["id"]
    (vol,) = _volumes(cloud, alice)
    assert (vol["status"], vol["size"], vol["bootable"]) == ("creating", 2, "true")
    assert vol["volume_image_metadata"]["image_id"] == CIRROS_ID
    told = watched(cloud, "kvm1", sid)
    assert told is not None and told["root_volume"]["ready"] is False
    assert told["image"]["id"] == CIRROS_ID  # the kernel and initramfs come from it
    assert ServerView.from_body(told).root_pending  # nothing to run yet
    # the storage host made it: attached, and the compute host told its export
    _storage_report(cloud, vol["id"], "available")
    (vol,) = _volumes(cloud, alice)
    assert vol["status"] == "in-use" and vol["attachments"][0]["device"] == "/dev/vda"
    told = watched(cloud, "kvm1", sid)
    assert told is not None and told["root_volume"]["ready"] is True
    view = ServerView.from_body(told)
    attachment = told["root_volume"]["attachment_id"]
    assert view.root_volume == f"nbd://192.0.2.5:10809/{attachment}" and not view.root_pending
    shown = cloud.get(alice, f"/servers/{sid}")
    assert shown["server"]["image"] == ""
    assert shown["server"]["os-extended-volumes:volumes_attached"] == [
        {"id": vol["id"], "delete_on_termination": True}
    ]
    atts = cloud.get(alice, f"/servers/{sid}/os-volume_attachments")
    assert atts["volumeAttachments"][0]["delete_on_termination"] is True
    assert report(cloud, cloud.admin, sid, "running").status_code == 200  # its host booted it
    # the root volume stays: no detach, no rebuild onto another image, no image snapshot
    r = cloud.c.delete(C + f"/servers/{sid}/os-volume_attachments/{vol['id']}", headers=alice)
    assert r.status_code == 400 and "root device" in r.text
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice,
                     json={"rebuild": {"imageRef": CIRROS_ID}})  # fmt: skip
    assert r.status_code == 400, r.text
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice,
                     json={"createImage": {"name": "x"}})  # fmt: skip
    assert r.status_code == 400, r.text
    # deleting the server deletes the volume (delete_on_termination)
    assert cloud.c.delete(C + f"/servers/{sid}", headers=alice).status_code == 204
    (vol,) = _volumes(cloud, alice)
    assert vol["status"] == "deleting"


def test_an_existing_volume_boots_a_server_and_outlives_it(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    blank = cloud.c.post("/volume/v3/volumes", headers=alice, json={"volume": {"size": 1}})
    bdm = [{"uuid": blank.json()["volume"]["id"], "source_type": "volume",
            "destination_type": "volume", "boot_index": 0}]  # fmt: skip
    body = {"server": {"name": "s", "flavorRef": "1", "networks": "none",
                       "block_device_mapping_v2": bdm}}  # fmt: skip
    r = cloud.c.post(C + "/servers", headers=alice, json=body)
    assert r.status_code == 400 and "available" in r.text  # still creating
    _storage_report(cloud, blank.json()["volume"]["id"], "available")
    r = cloud.c.post(C + "/servers", headers=alice, json=body)
    assert r.status_code == 400 and "not bootable" in r.text  # made from no image
    r = cloud.c.post("/volume/v3/volumes", headers=alice,
                     json={"volume": {"size": 1, "imageRef": CIRROS_ID, "name": "boot"}})  # fmt: skip
    assert r.status_code == 202, r.text
    vol = r.json()["volume"]
    _storage_report(cloud, vol["id"], "available")
    bdm[0]["uuid"] = vol["id"]
    sid = cloud.post(alice, "/servers", body)["server"]["id"]
    told = watched(cloud, "kvm1", sid)
    assert told is not None and told["root_volume"]["ready"] is True
    assert cloud.c.delete(C + f"/servers/{sid}", headers=alice).status_code == 204
    shown = cloud.c.get(f"/volume/v3/volumes/{vol['id']}", headers=alice).json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
