"""Servers booted from volumes through the APIs: ``block_device_mapping_v2``
with an image made into a new volume (the server waits for its storage
host, then its host is told the root volume's NBD export), the view Nova
gives a volume-backed server, the root volume refused a detach, a rebuild
and a snapshot, and ``delete_on_termination`` honoured."""

from __future__ import annotations

import json
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
from tests.compute.test_vm_servers import BUNDLE, QEMU_HOST, report, watched, write_bundle

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
    # the root volume stays: no detach, no rebuild onto another image (the
    # same image restarts it on the same volume)
    r = cloud.c.delete(C + f"/servers/{sid}/os-volume_attachments/{vol['id']}", headers=alice)
    assert r.status_code == 400 and "root device" in r.text
    other = cloud.c.post("/image/v2/images", headers=cloud.admin, json={
        "name": "other", "disk_format": "qcow2", "container_format": "ova",
        "visibility": "public"}).json()["id"]  # fmt: skip
    r = cloud.c.put(f"/image/v2/images/{other}/file", headers=cloud.admin, content=BUNDLE)
    assert r.status_code == 204, r.text
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice,
                     json={"rebuild": {"imageRef": other}})  # fmt: skip
    assert r.status_code == 400 and "different image" in r.text
    rebuilds = watched(cloud, "kvm1", sid)["rebuilds"]  # type: ignore[index]
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice,
                     json={"rebuild": {"imageRef": CIRROS_ID}})  # fmt: skip
    assert r.status_code == 202, r.text
    told = watched(cloud, "kvm1", sid)
    assert told is not None and told["rebuilds"] == rebuilds + 1
    assert told["root_volume"]["volume_id"] == vol["id"]
    assert cloud.get(alice, f"/servers/{sid}")["server"]["image"] == ""
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


def _boot(cloud: Cloud, h: dict[str, str], bdm: list[dict[str, Any]], **kw: Any) -> Any:
    body = {"server": {"name": "s", "flavorRef": "1", "networks": "none",
                       "block_device_mapping_v2": bdm, **kw}}  # fmt: skip
    return cloud.c.post(C + "/servers", headers=h, json=body)


def test_create_image_of_a_volume_backed_server_and_boot_from_it(cloud: Cloud) -> None:
    """createImage snapshots the server's volumes into an empty image whose
    block_device_mapping names the snapshots; booting from the image makes
    new volumes from them, a blank data volume beside the root one."""
    alice = cloud.member("alice")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    bdm = [{"uuid": CIRROS_ID, "source_type": "image", "destination_type": "volume",
            "boot_index": 0, "volume_size": 2, "delete_on_termination": True},
           {"source_type": "blank", "destination_type": "volume", "volume_size": 1}]  # fmt: skip
    r = _boot(cloud, alice, bdm)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    vols = {v["size"]: v for v in _volumes(cloud, alice)}
    assert sorted(vols) == [1, 2] and vols[1]["bootable"] == "false"
    for v in vols.values():
        _storage_report(cloud, v["id"], "available")
    atts = cloud.get(alice, f"/servers/{sid}/os-volume_attachments")["volumeAttachments"]
    assert {(a["volumeId"], a["device"]) for a in atts} == {
        (vols[2]["id"], "/dev/vda"),
        (vols[1]["id"], "/dev/vdb"),
    }
    assert all(v["status"] == "in-use" for v in _volumes(cloud, alice))
    assert report(cloud, cloud.admin, sid, "running").status_code == 200
    r = cloud.c.post(C + f"/servers/{sid}/action", headers={**alice, "X-OpenStack-Nova-API-Version": "2.45"},
                     json={"createImage": {"name": "img", "metadata": {"k": "v"}}})  # fmt: skip
    assert r.status_code == 202, r.text
    image_id = r.json()["image_id"]
    image = cloud.c.get(f"/image/v2/images/{image_id}", headers=alice).json()
    assert (image["status"], image["size"], image["k"]) == ("active", 0, "v")
    assert image["bdm_v2"] == "True" and image["root_device_name"] == "/dev/vda"
    mapped = json.loads(image["block_device_mapping"])
    assert [(m["source_type"], m["boot_index"], m["volume_size"]) for m in mapped] == [
        ("snapshot", 0, 2),
        ("snapshot", None, 1),
    ]
    snaps = cloud.c.get("/volume/v3/snapshots/detail", headers=alice).json()["snapshots"]
    assert {s["id"] for s in snaps} == {m["snapshot_id"] for m in mapped}
    assert {s["volume_id"] for s in snaps} == {vols[1]["id"], vols[2]["id"]}
    assert all(s["name"] == "snapshot for img" for s in snaps)
    # not before the snapshots are there
    body = {"server": {"name": "t", "flavorRef": "1", "networks": "none", "imageRef": image_id}}
    r = cloud.c.post(C + "/servers", headers=alice, json=body)
    assert r.status_code == 400 and "must be available" in r.text
    r = cloud.c.post("/internal/v1/storage-reports", headers=cloud.admin, json={
        "snapshots": [{"id": s["id"], "status": "available"} for s in snaps]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = cloud.c.post(C + "/servers", headers=alice, json=body)
    assert r.status_code == 202, r.text
    tid = r.json()["server"]["id"]
    made = [v for v in _volumes(cloud, alice) if v["snapshot_id"]]
    assert {v["snapshot_id"] for v in made} == {s["id"] for s in snaps}
    root = next(v for v in made if v["size"] == 2)
    assert root["volume_image_metadata"]["image_id"] == CIRROS_ID  # boots cirros' kernel
    told = watched(cloud, "kvm1", tid)
    assert told is not None and told["image"]["id"] == CIRROS_ID
    assert cloud.get(alice, f"/servers/{tid}")["server"]["image"] == ""
    for v in made:
        _storage_report(cloud, v["id"], "available")
    atts = cloud.get(alice, f"/servers/{tid}/os-volume_attachments")["volumeAttachments"]
    assert {(a["volumeId"], a["device"]) for a in atts} == {
        (root["id"], "/dev/vda"),
        (next(v["id"] for v in made if v["size"] == 1), "/dev/vdb"),
    }
    # delete_on_termination goes with the mapping: the root volume goes, the data one stays
    assert cloud.c.delete(C + f"/servers/{tid}", headers=alice).status_code == 204
    after = {v["id"]: v["status"] for v in _volumes(cloud, alice)}
    assert after[root["id"]] == "deleting"
    assert after[next(v["id"] for v in made if v["size"] == 1)] == "available"


def test_snapshot_and_blank_mappings_and_their_errors(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    r = cloud.c.post("/volume/v3/volumes", headers=alice,
                     json={"volume": {"size": 1, "imageRef": CIRROS_ID}})  # fmt: skip
    vol = r.json()["volume"]
    _storage_report(cloud, vol["id"], "available")
    r = cloud.c.post("/volume/v3/snapshots", headers=alice,
                     json={"snapshot": {"volume_id": vol["id"]}})  # fmt: skip
    snap = r.json()["snapshot"]
    r = cloud.c.post("/internal/v1/storage-reports", headers=cloud.admin,
                     json={"snapshots": [{"id": snap["id"], "status": "available"}]})  # fmt: skip
    assert r.status_code == 200, r.text
    boot = {"uuid": snap["id"], "source_type": "snapshot", "destination_type": "volume",
            "boot_index": 0}  # fmt: skip
    for bad, words in (
        ([{**boot, "uuid": "nope"}], "could not be found"),
        ([{**boot, "volume_size": 0, "uuid": None}], "block_device_mapping_v2"),
        ([boot, {**boot, "boot_index": "0"}], "Boot sequence"),
        ([{"source_type": "blank", "destination_type": "volume", "boot_index": 0,
           "volume_size": 1}], "Boot sequence"),
        ([boot, {"source_type": "blank", "destination_type": "volume"}], "non-zero size"),
        ([boot, {"source_type": "blank", "destination_type": "local", "volume_size": 1}],
         "ephemeral"),
        ([{**boot, "source_type": "floppy"}], "block_device_mapping_v2"),
        ([boot, {"source_type": "blank", "destination_type": "volume", "volume_size": 1,
                 "device_name": "/dev/vda"}], "in use"),
    ):  # fmt: skip
        r = _boot(cloud, alice, bad)
        assert r.status_code == 400 and words in r.text, (bad, r.text)
    assert len(_volumes(cloud, alice)) == 1  # nothing was made
    r = _boot(cloud, alice, [{**boot, "volume_size": 3}])
    assert r.status_code == 202, r.text
    new = next(v for v in _volumes(cloud, alice) if v["id"] != vol["id"])
    assert (new["snapshot_id"], new["size"], new["bootable"]) == (snap["id"], 3, "true")


def test_an_image_qemu_cannot_boot_is_refused_at_create(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    made = cloud.c.post("/image/v2/images", headers=alice, json={
        "name": "plain", "disk_format": "qcow2", "container_format": "bare"}).json()  # fmt: skip
    r = cloud.c.put(f"/image/v2/images/{made['id']}/file", headers=alice,
                    content=b"QFI\xfb" + bytes(1020))  # fmt: skip
    assert r.status_code == 204, r.text
    body = {"server": {"name": "s", "flavorRef": "1", "networks": "none", "imageRef": made["id"]}}
    r = cloud.c.post(C + "/servers", headers=alice, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"].startswith(f"Image {made['id']} is unacceptable")
    # a volume made from it boots nothing either
    r = cloud.c.post("/volume/v3/volumes", headers=alice,
                     json={"volume": {"size": 1, "imageRef": made["id"]}})  # fmt: skip
    vol = r.json()["volume"]
    _storage_report(cloud, vol["id"], "available")
    r = _boot(cloud, alice, [{"uuid": vol["id"], "source_type": "volume",
                              "destination_type": "volume", "boot_index": 0}])  # fmt: skip
    assert r.status_code == 400 and "unacceptable" in r.text


def test_image_metadata_set_by_hand_lends_no_private_image(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    mine = cloud.c.post("/image/v2/images", headers=alice, json={
        "name": "mine", "disk_format": "qcow2", "container_format": "ova"}).json()  # fmt: skip
    assert cloud.c.put(f"/image/v2/images/{mine['id']}/file", headers=alice,
                       content=BUNDLE).status_code == 204  # fmt: skip
    r = cloud.c.post("/volume/v3/volumes", headers=bob, json={"volume": {"size": 1}})
    vol = r.json()["volume"]
    _storage_report(cloud, vol["id"], "available")
    r = cloud.c.post(f"/volume/v3/volumes/{vol['id']}/action", headers=bob,
                     json={"os-set_image_metadata": {"metadata": {"image_id": mine["id"]}}})  # fmt: skip
    assert r.status_code == 200, r.text
    r = _boot(cloud, bob, [{"uuid": vol["id"], "source_type": "volume",
                            "destination_type": "volume", "boot_index": 0}])  # fmt: skip
    assert r.status_code == 400 and "not bootable" in r.text
