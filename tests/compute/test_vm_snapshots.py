"""``createImage`` through the APIs: the image record made at once as the
requester (queued, private, ``image_type=snapshot``, ``instance_uuid``,
``base_image_ref``), the server's task ``image_snapshot`` and the image id
on its host's watch body; only that host's agent uploads the data, which
is written with the requester's rights (the owner's quota applies, the
agent's own credential could not write the image); the upload ends the
task, a failure kills the image; namespace servers and busy VMs refused."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from kumo.image.guest import CIRROS_ID
from kumo.image.images import BUSYBOX_ID
from tests.agent.test_agent_credentials import enroll
from tests.compute.conftest import C, Cloud
from tests.compute.test_vm_servers import QEMU_HOST, boot, report, server, vmcloud, watched

__all__ = ["vmcloud"]
DATA = b"kumo-image.json\0" + b"a flattened disk, bundled" * 100  # starts as a bundle does


def _vm(cloud: Cloud, alice: dict[str, str]) -> tuple[str, dict[str, str]]:
    cloud.net(alice, "net", "10.5.0.0/24")
    h1, _ = enroll(cloud, "kvm1")
    r = cloud.c.post("/internal/v1/agents", headers=h1,
                     json={"agent": {"host": "kvm1", "configurations": QEMU_HOST}})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    sid = boot(cloud, alice, "vm1")
    cloud.activate(sid)
    assert report(cloud, h1, sid, "running").status_code == 200
    return sid, h1


def test_create_image_then_the_host_uploads_as_the_requester(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    sid, h1 = _vm(cloud, alice)
    h2, _ = enroll(cloud, "kvm2")
    action = {"createImage": {"name": "snap1", "metadata": {"purpose": "test"}}}

    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice, json=action)
    assert r.status_code == 202, r.text
    image_id = r.headers["Location"].rsplit("/", 1)[1]  # before 2.45: the Location header
    shown = server(cloud, alice, sid)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", "image_snapshot")
    image = cloud.c.get(f"/image/v2/images/{image_id}", headers=alice).json()
    assert (image["status"], image["name"], image["visibility"]) == ("queued", "snap1", "private")
    assert image["image_type"] == "snapshot" and image["instance_uuid"] == sid
    assert image["base_image_ref"] == CIRROS_ID and image["purpose"] == "test"
    assert image["hypervisor_type"] == "qemu" and image["container_format"] == "ova"
    assert watched(cloud, "kvm1", sid)["snapshot"] == image_id  # type: ignore[index]
    # another action waits for the snapshot
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice, json={"os-stop": None})
    assert r.status_code == 409, r.text

    url = f"/internal/v1/snapshots/{image_id}/file"
    assert cloud.c.put(url, headers=h2, content=DATA).status_code == 403  # not its host
    assert cloud.c.put(url, headers=alice, content=DATA).status_code == 403  # not an agent
    # the agent's own credential cannot write the image: only the delegated upload can
    direct = cloud.c.put(f"/image/v2/images/{image_id}/file", headers=h1, content=DATA)
    assert direct.status_code in (403, 404), direct.text
    r = cloud.c.put(url, headers=h1, content=DATA)
    assert r.status_code == 204, r.text
    image = cloud.c.get(f"/image/v2/images/{image_id}", headers=alice).json()
    assert (image["status"], image["size"]) == ("active", len(DATA))
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert image["owner"] == server(cloud, alice, sid)["tenant_id"]
    assert server(cloud, alice, sid)["OS-EXT-STS:task_state"] is None
    assert watched(cloud, "kvm1", sid)["snapshot"] == ""  # type: ignore[index]
    assert cloud.c.put(url, headers=h1, content=DATA).status_code == 404  # once

    # a new server boots from the snapshot
    again = boot(cloud, alice, "vm2", image=image_id)
    body = watched(cloud, "kvm1", again)
    assert body is not None and body["driver"] == "qemu"
    assert body["image"]["os_hash_value"] == hashlib.sha512(DATA).hexdigest()


def test_at_245_the_body_names_the_image_and_failures_kill_it(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    sid, h1 = _vm(cloud, alice)
    h = {**alice, "OpenStack-API-Version": "compute 2.45"}
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=h, json={"createImage": {"name": "s"}})
    assert r.status_code == 202, r.text
    image_id = r.json()["image_id"]
    assert "Location" not in r.headers
    # the agent could not make the data: the image is killed, the task over
    assert cloud.c.delete(f"/internal/v1/snapshots/{image_id}", headers=h1).status_code == 204
    image = cloud.c.get(f"/image/v2/images/{image_id}", headers=alice).json()
    assert image["status"] == "killed"
    assert server(cloud, alice, sid)["OS-EXT-STS:task_state"] is None

    # over the project's image quota: refused as the owner's upload would be, image killed
    image_service = cloud.rt.image
    image_service.settings = replace(image_service.settings, image_quota_bytes=10)
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=h, json={"createImage": {"name": "q"}})
    image_id = r.json()["image_id"]
    r = cloud.c.put(f"/internal/v1/snapshots/{image_id}/file", headers=h1, content=DATA)
    assert r.status_code == 413, r.text
    image = cloud.c.get(f"/image/v2/images/{image_id}", headers=alice).json()
    assert image["status"] == "killed"
    assert server(cloud, alice, sid)["OS-EXT-STS:task_state"] is None


def test_refused_for_namespace_servers_readers_and_bad_bodies(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    bob = cloud.member("bob")
    sid, _ = _vm(cloud, alice)
    url = C + f"/servers/{sid}/action"
    for bad in ({}, {"name": ""}, {"name": "x", "metadata": {"status": "active"}},
                {"name": "x", "metadata": {"a": 1}}):  # fmt: skip
        r = cloud.c.post(url, headers=alice, json={"createImage": bad})
        assert r.status_code == 400, (bad, r.text)
    r = cloud.c.post(url, headers=bob, json={"createImage": {"name": "x"}})
    assert r.status_code == 404, r.text
    ns_id = boot(cloud, alice, "ns1", image=BUSYBOX_ID)
    r = cloud.c.post(C + f"/servers/{ns_id}/action", headers=alice,
                     json={"createImage": {"name": "x"}})  # fmt: skip
    assert r.status_code == 409, r.text
    assert cloud.c.get("/image/v2/images?name=x", headers=alice).json()["images"] == []
