"""The QEMU compute driver through the APIs: ``cirros`` registered from the
built bundle at start (once, checked against its record), servers booted
from it scheduled only to hosts that run QEMU and sent to their host on
the watch feed, actions recorded as tasks that the host's reports end
(SHUTOFF only once the host says the VM is off), and the agents' image
download limited to the images of their own host's servers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.image.guest import CIRROS_ID
from kumo.image.images import BUSYBOX_ID
from kumo.runtime import Runtime
from tests.agent.test_agent_credentials import enroll
from tests.compute.conftest import C, Cloud

BUNDLE = b"kumo-image.json\0" + bytes(range(256)) * 64
QEMU_HOST = {"drivers": ["namespace", "qemu"], "hypervisor_type": "QEMU"}


def write_bundle(path: Path, *, good: bool = True) -> Path:
    path.write_bytes(BUNDLE)
    record = {
        "name": "cirros", "container_format": "ova", "disk_format": "qcow2", "min_disk": 1,
        "min_ram": 128, "checksum": hashlib.md5(BUNDLE).hexdigest(),
        "os_hash_value": hashlib.sha512(BUNDLE if good else b"other").hexdigest(),
        "properties": {"os_distro": "cirros"},
    }  # fmt: skip
    path.with_suffix(".json").write_text(json.dumps(record))
    return path


@pytest.fixture
def vmcloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    bundle = write_bundle(tmp_path / "cirros.tar")
    settings = Settings(
        state_dir=tmp_path / "state", database_url=db_url, guest_image=bundle, agent_down_time=3600
    )
    runtime = Runtime.open(settings)
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    runtime.image.bootstrap()  # a second start (or API server) changes nothing
    with TestClient(create_app(runtime)) as client:
        yield Cloud(client, runtime, password)
    runtime.close()


def boot(cloud: Cloud, h: dict[str, str], name: str, image: str = CIRROS_ID) -> str:
    body = {"server": {"name": name, "imageRef": image, "flavorRef": "1", "networks": "auto"}}
    server_id: str = cloud.post(h, "/servers", body)["server"]["id"]
    return server_id


def server(cloud: Cloud, h: dict[str, str], sid: str) -> dict[str, Any]:
    found: dict[str, Any] = cloud.get(h, f"/servers/{sid}")["server"]
    return found


def watched(cloud: Cloud, host: str, sid: str) -> dict[str, Any] | None:
    r = cloud.c.get("/internal/v1/list", params={"topics": f"host:{host}"}, headers=cloud.admin)
    assert r.status_code == 200, r.text
    return next((o for o in r.json()["objects"] if o["kind"] == "server" and o["id"] == sid), None)


def report(cloud: Cloud, h: dict[str, str], sid: str, power: str, **kw: Any) -> Any:
    body = {"servers": [{"id": sid, "power": power, **kw}]}
    return cloud.c.post("/internal/v1/servers/power-states", headers=h, json=body)


def test_cirros_is_registered_once_with_its_data(vmcloud: Cloud) -> None:
    images = vmcloud.c.get("/image/v2/images?name=cirros", headers=vmcloud.admin).json()["images"]
    (cirros,) = images
    assert cirros["id"] == CIRROS_ID and cirros["status"] == "active"
    assert cirros["hypervisor_type"] == "qemu" and cirros["visibility"] == "public"
    assert cirros["checksum"] == hashlib.md5(BUNDLE).hexdigest()
    data = vmcloud.c.get(f"/image/v2/images/{CIRROS_ID}/file", headers=vmcloud.admin)
    assert data.content == BUNDLE


def test_a_bundle_that_does_not_match_its_record_is_not_registered(
    db_url: str, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "cirros.tar", good=False)
    settings = Settings(
        state_dir=tmp_path / "state", database_url=db_url, guest_image=bundle, agent_down_time=3600
    )
    runtime = Runtime.open(settings)
    try:
        runtime.image.bootstrap()
        with runtime.db.read_session() as s:
            from kumo.db.compute_models import Image

            image = s.get(Image, CIRROS_ID)
            assert image is not None and image.status == "killed"
        assert not runtime.image.store.has(CIRROS_ID)
    finally:
        runtime.close()


def test_vms_go_to_qemu_hosts_and_their_lifecycle_waits_for_the_host(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    cloud.net(alice, "net", "10.5.0.0/24")
    cloud.host("ns-only", vcpus=64, memory_mb=1 << 20)
    r = cloud.c.post(C + "/servers", headers=alice, json={"server": {
        "name": "x", "imageRef": CIRROS_ID, "flavorRef": "1", "networks": "auto"}})  # fmt: skip
    sid = r.json()["server"]["id"]
    assert "No valid host was found" in server(cloud, alice, sid)["fault"]["message"]

    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    sid = boot(cloud, alice, "vm1")
    body = watched(cloud, "kvm1", sid)
    assert body is not None and body["driver"] == "qemu" and body["power"] == "running"
    assert body["image"]["os_hash_value"] == hashlib.sha512(BUNDLE).hexdigest()
    assert len(body["ports"]) == 1
    cloud.activate(sid)  # ports wired: still BUILD until the host reports the VM running
    assert server(cloud, alice, sid)["status"] == "BUILD"
    assert report(cloud, cloud.admin, sid, "running").status_code == 200
    assert server(cloud, alice, sid)["status"] == "ACTIVE"

    cloud.post(alice, f"/servers/{sid}/action", {"os-stop": None})
    shown = server(cloud, alice, sid)
    assert (shown["status"], shown["OS-EXT-STS:task_state"]) == ("ACTIVE", "powering-off")
    assert watched(cloud, "kvm1", sid)["power"] == "stopped"  # type: ignore[index]
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice, json={"os-start": None})
    assert r.status_code == 409  # a task is under way
    report(cloud, cloud.admin, sid, "shutoff")
    shown = server(cloud, alice, sid)
    assert (shown["status"], shown["OS-EXT-STS:power_state"]) == ("SHUTOFF", 4)

    cloud.post(alice, f"/servers/{sid}/action", {"os-start": None})
    report(cloud, cloud.admin, sid, "running")
    cloud.post(alice, f"/servers/{sid}/action", {"reboot": {"type": "HARD"}})
    assert server(cloud, alice, sid)["status"] == "HARD_REBOOT"
    assert watched(cloud, "kvm1", sid)["reboots"] == 1  # type: ignore[index]
    report(cloud, cloud.admin, sid, "running", reboots=0)
    assert server(cloud, alice, sid)["status"] == "HARD_REBOOT"  # not yet
    report(cloud, cloud.admin, sid, "running", reboots=1)
    assert server(cloud, alice, sid)["status"] == "ACTIVE"

    cloud.post(alice, f"/servers/{sid}/action", {"suspend": None})
    report(cloud, cloud.admin, sid, "paused")
    assert server(cloud, alice, sid)["status"] == "SUSPENDED"
    cloud.post(alice, f"/servers/{sid}/action", {"resume": None})
    report(cloud, cloud.admin, sid, "running")
    assert server(cloud, alice, sid)["status"] == "ACTIVE"
    # the guest powered itself off: recorded as stopped
    report(cloud, cloud.admin, sid, "shutoff")
    assert server(cloud, alice, sid)["status"] == "SHUTOFF"

    hyper = cloud.get(cloud.admin, "/os-hypervisors/detail")["hypervisors"]
    kvm1 = next(h for h in hyper if h["hypervisor_hostname"] == "kvm1")
    assert (kvm1["hypervisor_type"], kvm1["vcpus_used"], kvm1["memory_mb_used"]) == (
        "QEMU", 1, 512,
    )  # fmt: skip
    # what `openstack hypervisor show` asks for besides the hypervisor
    assert cloud.get(cloud.admin, "/os-aggregates") == {"aggregates": []}
    r = cloud.c.get(C + f"/os-hypervisors/{kvm1['id']}/uptime", headers=cloud.admin)
    assert r.status_code == 200 and r.json()["hypervisor"]["uptime"]
    assert cloud.c.get(C + "/os-aggregates", headers=alice).status_code == 403
    cloud.call("DELETE", alice, f"/servers/{sid}", status=204)
    assert watched(cloud, "kvm1", sid) is None


def test_a_full_host_is_skipped(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    cloud.net(alice, "net", "10.5.0.0/24")
    cloud.host("small", vcpus=1, memory_mb=600, **QEMU_HOST)  # 1.5 x 600 MB: room for one
    cloud.host("big", vcpus=1, memory_mb=1000, **QEMU_HOST)
    hosts = []
    for i in range(3):
        sid = boot(cloud, alice, f"vm{i}")
        hosts.append(server(cloud, cloud.admin, sid).get("OS-EXT-SRV-ATTR:host"))
    assert sorted(h for h in hosts if h) == ["big", "big", "small"]
    sid = boot(cloud, alice, "one-too-many")
    assert "No valid host was found" in server(cloud, alice, sid)["fault"]["message"]


def test_agents_download_only_their_own_servers_images(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    cloud.net(alice, "net", "10.5.0.0/24")
    h1, _ = enroll(cloud, "kvm1")
    h2, _ = enroll(cloud, "kvm2")
    cloud.c.post("/internal/v1/agents", headers=h1,
                 json={"agent": {"host": "kvm1", "configurations": QEMU_HOST}})  # fmt: skip
    sid = boot(cloud, alice, "vm1")
    url = f"/internal/v1/images/{CIRROS_ID}/file"
    assert cloud.c.get(url, headers=h1).content == BUNDLE
    assert cloud.c.get(url, headers=h2).status_code == 403
    assert cloud.c.get(url, headers=alice).status_code == 403
    # an agent reports only its own host's VMs
    assert report(cloud, h2, sid, "running").status_code == 403
    assert report(cloud, h1, sid, "running").status_code == 200


def test_rebuild_gives_a_vm_a_new_image_and_waits_for_its_host(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    cloud.net(alice, "net", "10.5.0.0/24")
    cloud.host("kvm1", vcpus=2, memory_mb=4096, **QEMU_HOST)
    sid = boot(cloud, alice, "vm1")
    cloud.activate(sid)
    report(cloud, cloud.admin, sid, "running")
    made = cloud.c.post("/image/v2/images", headers=alice, json={
        "name": "mine", "disk_format": "qcow2", "container_format": "ova"}).json()  # fmt: skip
    data = b"another bundle"
    r = cloud.c.put(f"/image/v2/images/{made['id']}/file", headers=alice, content=data)
    assert r.status_code == 204, r.text
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=alice,
                     json={"rebuild": {"imageRef": made["id"], "name": "vm1b"}})  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json()["server"]["status"] == "REBUILD"
    body = watched(cloud, "kvm1", sid)
    assert body is not None and body["image"]["id"] == made["id"] and body["name"] == "vm1b"
    assert body["rebuilds"] == 1
    report(cloud, cloud.admin, sid, "running", rebuilds=0)  # still the old disk
    assert server(cloud, alice, sid)["status"] == "REBUILD"
    report(cloud, cloud.admin, sid, "running", rebuilds=1, image=hashlib.sha512(data).hexdigest())
    shown = server(cloud, alice, sid)
    assert (shown["status"], shown["image"]["id"]) == ("ACTIVE", made["id"])
    # a namespace image cannot rebuild a VM
    r = cloud.c.post(
        C + f"/servers/{sid}/action", headers=alice, json={"rebuild": {"imageRef": BUSYBOX_ID}}
    )
    assert r.status_code == 400, r.text


def test_resize_on_the_same_host_then_confirm_or_revert(vmcloud: Cloud) -> None:
    cloud = vmcloud
    alice = cloud.member("alice")
    cloud.net(alice, "net", "10.5.0.0/24")
    cloud.host("kvm1", vcpus=2, memory_mb=2000, **QEMU_HOST)  # 3000 MB with the ratio
    sid = boot(cloud, alice, "vm1")
    cloud.activate(sid)
    report(cloud, cloud.admin, sid, "running")
    r = cloud.c.post(
        C + f"/servers/{sid}/action", headers=alice, json={"resize": {"flavorRef": "3"}}
    )  # m1.medium: 4096 MB, no room
    assert r.status_code == 400 and "No valid host" in r.text
    cloud.post(alice, f"/servers/{sid}/action", {"resize": {"flavorRef": "2"}})  # m1.small
    assert server(cloud, alice, sid)["status"] == "RESIZE"
    body = watched(cloud, "kvm1", sid)
    assert body is not None and (body["memory_mb"], body["disk_gb"]) == (2048, 20)
    report(cloud, cloud.admin, sid, "running", size="1/512/1")  # not yet
    assert server(cloud, alice, sid)["status"] == "RESIZE"
    report(cloud, cloud.admin, sid, "running", size="1/2048/20")
    assert server(cloud, alice, sid)["status"] == "VERIFY_RESIZE"
    cloud.post(alice, f"/servers/{sid}/action", {"revertResize": None})
    assert server(cloud, alice, sid)["status"] == "REVERT_RESIZE"
    report(cloud, cloud.admin, sid, "running", size="1/512/1")
    shown = server(cloud, alice, sid)
    assert (shown["status"], shown["flavor"]["original_name"]) == ("ACTIVE", "m1.tiny")
    cloud.post(alice, f"/servers/{sid}/action", {"resize": {"flavorRef": "2"}})
    report(cloud, cloud.admin, sid, "running", size="1/2048/20")
    cloud.post(alice, f"/servers/{sid}/action", {"confirmResize": None}, status=204)
    shown = server(cloud, alice, sid)
    assert (shown["status"], shown["flavor"]["original_name"]) == ("ACTIVE", "m1.small")
