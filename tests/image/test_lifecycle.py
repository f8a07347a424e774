"""Protected images, deactivate/reactivate, tags, properties, formats, visibility."""

from __future__ import annotations

from tests.image.conftest import G, ImageCloud


def test_a_protected_image_cannot_be_deleted(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="keep", protected=True)
    assert cloud.upload(alice, image["id"], b"precious").status_code == 204
    r = cloud.c.delete(f"{G}/images/{image['id']}", headers=alice)
    assert r.status_code == 403 and "protected" in r.text
    r = cloud.c.delete(f"{G}/images/{image['id']}", headers=cloud.admin)
    assert r.status_code == 403
    assert cloud.files() == [image["id"]]
    r = cloud.patch(alice, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert r.status_code == 200 and r.json()["protected"] is False
    assert cloud.c.delete(f"{G}/images/{image['id']}", headers=alice).status_code == 204
    assert cloud.files() == []


def test_deactivate_and_reactivate(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="pause", visibility="community")
    actions = f"{G}/images/{image['id']}/actions"
    file = f"{G}/images/{image['id']}/file"
    r = cloud.c.post(f"{actions}/deactivate", headers=alice)
    assert r.status_code == 403 and "queued" in r.text
    assert cloud.upload(alice, image["id"], b"bits").status_code == 204

    bob = cloud.member("bob")
    assert cloud.c.post(f"{actions}/deactivate", headers=bob).status_code == 403
    assert cloud.c.post(f"{actions}/deactivate", headers=alice).status_code == 204
    assert cloud.c.post(f"{actions}/deactivate", headers=alice).status_code == 204
    assert cloud.show(alice, image["id"])["status"] == "deactivated"
    # Only admins download a deactivated image, its owner included.
    assert cloud.c.get(file, headers=alice).status_code == 403
    assert cloud.c.get(file, headers=bob).status_code == 403
    assert cloud.c.get(file, headers=cloud.admin).content == b"bits"
    # Nor does compute boot it.
    server = {
        "server": {"name": "s", "imageRef": image["id"], "flavorRef": "1", "networks": "none"}
    }
    r = cloud.c.post(
        "/compute/v2.1/servers",
        headers={**alice, "OpenStack-API-Version": "compute 2.79"},
        json=server,
    )
    assert r.status_code == 400 and "not active" in r.text

    assert cloud.c.post(f"{actions}/reactivate", headers=bob).status_code == 403
    assert cloud.c.post(f"{actions}/reactivate", headers=alice).status_code == 204
    assert cloud.show(alice, image["id"])["status"] == "active"
    assert cloud.c.get(file, headers=bob).content == b"bits"


def test_tags(cloud: ImageCloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    image = cloud.create(alice, name="tagged", tags=["a"], visibility="community")
    tags = f"{G}/images/{image['id']}/tags"
    assert cloud.c.put(f"{tags}/linux", headers=alice).status_code == 204
    assert cloud.c.put(f"{tags}/linux", headers=alice).status_code == 204
    assert cloud.show(alice, image["id"])["tags"] == ["a", "linux"]
    assert cloud.names(alice, "?tag=linux") == ["tagged"]
    assert cloud.c.put(f"{tags}/x", headers=bob).status_code == 403
    assert cloud.c.delete(f"{tags}/a", headers=alice).status_code == 204
    assert cloud.c.delete(f"{tags}/a", headers=alice).status_code == 404
    assert cloud.show(alice, image["id"])["tags"] == ["linux"]


def test_properties_by_json_patch(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="props", hw_disk_bus="virtio", os_distro="debian")
    assert (image["hw_disk_bus"], image["os_distro"]) == ("virtio", "debian")
    ops = [
        {"op": "add", "path": "/hypervisor_type", "value": "qemu"},
        {"op": "add", "path": "/hw_qemu_guest_agent", "value": "yes"},
        {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
        {"op": "remove", "path": "/hw_disk_bus"},
        {"op": "replace", "path": "/min_ram", "value": 128},
        {"op": "add", "path": "/min_disk", "value": 2},
    ]
    r = cloud.patch(alice, image["id"], ops)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["hypervisor_type"] == "qemu" and got["hw_qemu_guest_agent"] == "yes"
    assert got["os_distro"] == "ubuntu" and "hw_disk_bus" not in got
    assert (got["min_ram"], got["min_disk"]) == (128, 2)

    def status(*ops: dict[str, object]) -> int:
        return cloud.patch(alice, image["id"], list(ops)).status_code

    assert status({"op": "replace", "path": "/nothing", "value": "x"}) == 409
    assert status({"op": "remove", "path": "/nothing"}) == 409
    assert status({"op": "add", "path": "/checksum", "value": "x"}) == 403
    assert status({"op": "add", "path": "/os_glance_import", "value": "x"}) == 403
    assert status({"op": "add", "path": "/prop", "value": 5}) == 400
    assert status({"op": "replace", "path": "/min_ram", "value": -1}) == 400
    assert status({"op": "replace", "path": "/protected", "value": "yes"}) == 400
    assert status({"op": "move", "path": "/name", "from": "/x"}) == 400
    # Nothing of a refused patch is applied.
    assert cloud.show(alice, image["id"])["os_distro"] == "ubuntu"


def test_formats(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    r = cloud.c.post(f"{G}/images", headers=alice, json={"name": "x", "disk_format": "exe"})
    assert r.status_code == 400
    r = cloud.c.post(f"{G}/images", headers=alice, json={"name": "x", "container_format": "zip"})
    assert r.status_code == 400
    for disk in ("qcow2", "raw", "vmdk", "vdi", "iso", "vhd", "vhdx", "ploop", "ami"):
        cloud.create(alice, name=disk, disk_format=disk)
    image = cloud.create(alice, name="fmt", disk_format="raw")
    op = [{"op": "replace", "path": "/disk_format", "value": "qcow2"}]
    assert cloud.patch(alice, image["id"], op).status_code == 200
    assert cloud.upload(alice, image["id"], b"q").status_code == 204
    op = [{"op": "replace", "path": "/disk_format", "value": "raw"}]
    assert cloud.patch(alice, image["id"], op).status_code == 403


def test_only_admins_publicize(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    r = cloud.c.post(f"{G}/images", headers=alice, json={"name": "p", "visibility": "public"})
    assert r.status_code == 403
    image = cloud.create(alice, name="p")
    op = [{"op": "replace", "path": "/visibility", "value": "public"}]
    assert cloud.patch(alice, image["id"], op).status_code == 403
    assert cloud.patch(cloud.admin, image["id"], op).status_code == 200
    bob = cloud.member("bob")
    assert "p" in cloud.names(bob)
    op = [{"op": "replace", "path": "/visibility", "value": "community"}]
    assert cloud.patch(alice, image["id"], op).status_code == 200
    assert "p" not in cloud.names(bob)
    assert "p" in cloud.names(bob, "?visibility=community")
