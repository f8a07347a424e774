"""``os-volume_upload_image`` through the API with real tokens: the image
made at once as the requester, the volume ``uploading`` and back, Cinder's
errors, and the storage host's upload written as the requester (the
internal route, called here with the admin's token as the tests' agent)."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.volume.conftest import VolumeCloud

G = "/image/v2"
UPLOAD = "os-volume_upload_image"


def _in_use(cloud: VolumeCloud, h: dict[str, str]) -> dict[str, Any]:
    v = cloud.available(h)
    body = {"attachment": {"volume_uuid": v["id"], "instance_uuid": "i-1",
                           "connector": {"host": "host1", "mountpoint": "/dev/vdb"}}}  # fmt: skip
    r = cloud.req("POST", "/attachments", h, body, version="3.44")
    assert r.status_code == 200, r.text
    a = r.json()["attachment"]
    r = cloud.req("POST", f"/attachments/{a['id']}/action", h, {"os-complete": None},
                  version="3.44")  # fmt: skip
    assert r.status_code == 204, r.text
    return cloud.show(h, v["id"])


def _image(cloud: VolumeCloud, h: dict[str, str], image_id: str) -> dict[str, Any]:
    r = cloud.c.get(f"{G}/images/{image_id}", headers=h)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_upload_makes_a_queued_image_and_the_volume_uploading(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    v = cloud.available(h, size=2)
    r = cloud.action(h, v["id"], {UPLOAD: {"image_name": "from-vol", "disk_format": "qcow2",
                                           "container_format": "bare", "force": False,
                                           "visibility": "shared", "protected": True}},
                     version="3.1")  # fmt: skip
    assert r.status_code == 202, r.text
    out = r.json()[UPLOAD]
    assert out["id"] == v["id"] and out["status"] == "uploading" and out["size"] == 2
    assert out["image_name"] == "from-vol" and out["disk_format"] == "qcow2"
    assert out["container_format"] == "bare" and out["volume_type"]["name"] == "__DEFAULT__"
    assert {"updated_at", "display_description"} <= set(out)
    image = _image(cloud, h, out["image_id"])
    assert image["status"] == "queued" and image["name"] == "from-vol"
    assert image["visibility"] == "shared" and image["protected"] is True
    assert image["min_disk"] == 2 and image["owner"] == cloud.show(h, v["id"])[
        "os-vol-tenant-attr:tenant_id"]  # fmt: skip
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "uploading"
    # the storage host sees the work: the image, its format, where to go back to
    r = cloud.c.get("/internal/v1/list?topics=storage:s1", headers=cloud.admin)
    (body,) = [o for o in r.json()["objects"] if o.get("id") == v["id"]]
    assert body["status"] == "uploading"
    assert body["task"] == {"op": "upload", "image_id": out["image_id"], "disk_format": "qcow2",
                            "previous_status": "available"}  # fmt: skip
    # an uploading volume is busy: a second upload, an extend or a delete is refused
    again = cloud.action(h, v["id"], {UPLOAD: {"image_name": "x"}})
    assert again.status_code == 400 and again.json()["badRequest"]["message"].startswith(
        "Invalid volume")  # fmt: skip
    assert cloud.req("DELETE", f"/volumes/{v['id']}", h).status_code == 400
    # before 3.1, visibility and protected are not read: the image is private
    other = cloud.available(h)
    r = cloud.action(h, other["id"], {UPLOAD: {"image_name": "old", "visibility": "shared"}})
    assert r.status_code == 202, r.text
    assert r.json()[UPLOAD]["disk_format"] == "raw"  # Cinder's default
    assert _image(cloud, h, r.json()[UPLOAD]["image_id"])["visibility"] == "private"


def test_upload_errors_are_cinders(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    v = cloud.available(h)
    for body, why in [
        ({"disk_format": "qcow2"}, "image_name"),
        ({"image_name": "i", "disk_format": "iso"}, "Invalid disk-format"),
        ({"image_name": "i", "container_format": "ova"}, "Invalid container-format"),
        ({"image_name": "i", "force": "perhaps"}, "force"),
    ]:
        r = cloud.action(h, v["id"], {UPLOAD: body}, version="3.1")
        assert r.status_code == 400 and why in r.text, (body, r.text)
    # a public image: admins only (upload_public)
    r = cloud.action(h, v["id"], {UPLOAD: {"image_name": "i", "visibility": "public"}},
                     version="3.1")  # fmt: skip
    assert r.status_code == 403, r.text
    # another project's volume: not found
    r = cloud.action(cloud.member("bob"), v["id"], {UPLOAD: {"image_name": "i"}})
    assert r.status_code == 404, r.text
    assert cloud.show(h, v["id"])["status"] == "available"
    # in-use: only with force (Cinder's InvalidVolume, 400)
    used = _in_use(cloud, h)
    r = cloud.action(h, used["id"], {UPLOAD: {"image_name": "i"}})
    assert r.status_code == 400 and "in-use" in r.json()["badRequest"]["message"], r.text
    r = cloud.action(h, used["id"], {UPLOAD: {"image_name": "i", "force": True}})
    assert r.status_code == 202, r.text
    assert cloud.show(h, used["id"])["status"] == "uploading"
    # nothing of the refused requests was made
    names = [i["name"] for i in cloud.c.get(f"{G}/images", headers=h).json()["images"]]
    assert names.count("i") == 1


def test_the_storage_hosts_upload_is_the_requesters_and_ends_the_work(
    cloud: VolumeCloud,
) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    used = _in_use(cloud, h)
    r = cloud.action(h, used["id"], {UPLOAD: {"image_name": "live", "force": True}})
    image_id = r.json()[UPLOAD]["image_id"]
    data = bytes(range(256)) * 4096
    r = cloud.c.put(f"/internal/v1/volume-uploads/{image_id}/file", content=data,
                    headers={**cloud.admin, "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status_code == 204, r.text
    image = _image(cloud, h, image_id)
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    r = cloud.c.get(f"{G}/images/{image_id}/file", headers=h)
    assert r.status_code == 200 and r.content == data
    # the volume is back in use; the upload record is gone
    assert cloud.show(h, used["id"])["status"] == "in-use"
    again = cloud.c.put(f"/internal/v1/volume-uploads/{image_id}/file", content=b"x",
                        headers=cloud.admin)  # fmt: skip
    assert again.status_code == 404, again.text


def test_a_failed_upload_kills_the_image_and_tells_the_user(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    v = cloud.available(h)
    r = cloud.action(h, v["id"], {UPLOAD: {"image_name": "broken"}})
    image_id = r.json()[UPLOAD]["image_id"]
    r = cloud.c.delete(f"/internal/v1/volume-uploads/{image_id}?error=disk+unreadable",
                       headers=cloud.admin)  # fmt: skip
    assert r.status_code == 204, r.text
    assert _image(cloud, h, image_id)["status"] == "killed"
    assert cloud.show(h, v["id"])["status"] == "available"
    r = cloud.req("GET", f"/messages?resource_uuid={v['id']}", h, version="3.3")
    (m,) = r.json()["messages"]
    assert m["event_id"] == "VOLUME_VOLUME_004_001" and "disk unreadable" in m["user_message"]
    # a second report finds no upload under way
    r = cloud.c.delete(f"/internal/v1/volume-uploads/{image_id}", headers=cloud.admin)
    assert r.status_code == 404, r.text
