"""Attachments: the v3 attachments API's status machine, Nova's
os-volume_attachments moving a volume to in-use and back (the detach
waiting for the compute host's report), what both hosts are told, and
force-detach."""

from __future__ import annotations

from typing import Any

from tests.volume.conftest import VolumeCloud

C = "/compute/v2.1"


def _server(cloud: VolumeCloud, h: dict[str, str], name: str = "s1") -> str:
    """An ACTIVE server (no ports to wait for) on compute host ``host1``."""
    r = cloud.c.post("/internal/v1/agents", headers=cloud.admin,
                     json={"agent": {"host": "host1", "binary": "kumo-agent"}})  # fmt: skip
    assert r.status_code == 201, r.text
    images = cloud.c.get("/image/v2/images", headers=cloud.admin).json()["images"]
    image = next(i["id"] for i in images if i["name"] == "busybox")
    r = cloud.c.post(f"{C}/servers", headers=h, json={"server": {
        "name": name, "imageRef": image, "flavorRef": "1", "networks": "none"}})  # fmt: skip
    assert r.status_code == 202, r.text
    ident: str = r.json()["server"]["id"]
    r = cloud.c.get(f"{C}/servers/{ident}", headers=h)
    assert r.json()["server"]["status"] == "ACTIVE"  # no ports to wait for
    return ident


def _attachments_of(cloud: VolumeCloud, host: str) -> list[dict[str, Any]]:
    r = cloud.c.get("/internal/v1/list", params={"topics": f"storage:{host}"},
                    headers=cloud.admin)  # fmt: skip
    assert r.status_code == 200, r.text
    return [o for o in r.json()["objects"] if o["kind"] == "volume_attachment"]


def _host_report(cloud: VolumeCloud, items: list[dict[str, Any]]) -> list[str]:
    r = cloud.c.post("/internal/v1/volume-attachment-reports", headers=cloud.admin,
                     json={"attachments": items})  # fmt: skip
    assert r.status_code == 200, r.text
    changed: list[str] = r.json()["changed"]
    return changed


def test_attachment_reserve_connect_complete_delete(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    v = cloud.available(h)
    body: dict[str, Any] = {"attachment": {"volume_uuid": v["id"], "instance_uuid": "i-1"}}
    assert cloud.req("POST", "/attachments", h, body).status_code == 404  # before 3.27
    r = cloud.req("POST", "/attachments", h, body, version="3.44")
    assert r.status_code == 200, r.text
    a = r.json()["attachment"]
    assert a["status"] == "reserved" and a["connection_info"] == {}
    assert cloud.show(h, v["id"])["status"] == "reserved"
    # a reserved volume takes no second attachment and cannot be deleted
    assert cloud.req("POST", "/attachments", h, body, version="3.44").status_code == 400
    assert cloud.req("DELETE", f"/volumes/{v['id']}", h).status_code == 400
    r = cloud.req("PUT", f"/attachments/{a['id']}", h,
                  {"attachment": {"connector": {"host": "host1", "mountpoint": "/dev/vdb"}}},
                  version="3.44")  # fmt: skip
    assert r.status_code == 200, r.text
    info = r.json()["attachment"]["connection_info"]
    assert info["driver_volume_type"] == "nbd" and info["data"]["storage_host"] == "s1"
    assert info["data"]["host"] == "192.0.2.5" and info["data"]["port"] == 10809
    assert info["data"]["export"] == a["id"]
    assert cloud.show(h, v["id"])["status"] == "attaching"
    r = cloud.req("POST", f"/attachments/{a['id']}/action", h, {"os-complete": None},
                  version="3.44")  # fmt: skip
    assert r.status_code == 204, r.text
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "in-use"
    assert shown["attachments"][0]["server_id"] == "i-1"
    assert shown["attachments"][0]["attachment_id"] == a["id"]
    r = cloud.req("GET", "/attachments", h, version="3.44")
    assert [x["id"] for x in r.json()["attachments"]] == [a["id"]]
    bob = cloud.member("bob")
    assert cloud.req("GET", f"/attachments/{a['id']}", bob, version="3.44").status_code == 404
    r = cloud.req("DELETE", f"/attachments/{a['id']}", h, version="3.44")
    assert r.status_code == 200 and r.json()["attachments"] == []
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "available" and shown["attachments"] == []


def test_nova_attach_and_detach_move_the_volume(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    server = _server(cloud, h)
    v = cloud.available(h)
    r = cloud.c.post(f"{C}/servers/{server}/os-volume_attachments", headers=h,
                     json={"volumeAttachment": {"volumeId": v["id"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    att = r.json()["volumeAttachment"]
    assert att == {"id": v["id"], "serverId": server, "volumeId": v["id"], "device": "/dev/vdb"}
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "in-use" and shown["attachments"][0]["device"] == "/dev/vdb"
    r = cloud.c.get(f"{C}/servers/{server}/os-volume_attachments", headers=h)
    assert [a["volumeId"] for a in r.json()["volumeAttachments"]] == [v["id"]]
    # a second volume gets the next device; an in-use one is refused
    w = cloud.available(h)
    r = cloud.c.post(f"{C}/servers/{server}/os-volume_attachments", headers=h,
                     json={"volumeAttachment": {"volumeId": w["id"]}})  # fmt: skip
    assert r.json()["volumeAttachment"]["device"] == "/dev/vdc"
    other = _server(cloud, h, "s2")
    r = cloud.c.post(f"{C}/servers/{other}/os-volume_attachments", headers=h,
                     json={"volumeAttachment": {"volumeId": v["id"]}})  # fmt: skip
    assert r.status_code == 400 and "badRequest" in r.json()
    # another project can neither see the server nor use the volume
    bob = cloud.member("bob")
    bobs = _server(cloud, bob, "b")
    r = cloud.c.post(f"{C}/servers/{bobs}/os-volume_attachments", headers=bob,
                     json={"volumeAttachment": {"volumeId": w["id"]}})  # fmt: skip
    assert r.status_code == 404
    # both hosts are told: the storage host exports, the compute host plugs
    told = _attachments_of(cloud, "host1")
    assert sorted(o["volume_id"] for o in told) == sorted([v["id"], w["id"]])
    assert {o["id"] for o in _attachments_of(cloud, "s1")} == {o["id"] for o in told}
    mine = next(o for o in told if o["volume_id"] == v["id"])
    assert mine["host"] == "host1" and mine["export"]["name"] == mine["id"]
    assert mine["server_id"] == server and mine["status"] == "attached"
    # detaching waits for the compute host to let go
    r = cloud.c.delete(f"{C}/servers/{server}/os-volume_attachments/{v['id']}", headers=h)
    assert r.status_code == 202
    assert cloud.show(h, v["id"])["status"] == "detaching"
    assert next(o for o in _attachments_of(cloud, "s1") if o["id"] == mine["id"])["status"] == (
        "detaching"
    )
    assert _host_report(cloud, [{"id": mine["id"], "status": "attached"}]) == []
    assert _host_report(cloud, [{"id": mine["id"], "status": "detached"}]) == [mine["id"]]
    assert cloud.show(h, v["id"])["status"] == "available"
    assert _host_report(cloud, [{"id": mine["id"], "status": "detached"}]) == []
    assert all(o["volume_id"] != v["id"] for o in _attachments_of(cloud, "host1"))
    r = cloud.c.delete(f"{C}/servers/{server}/os-volume_attachments/{v['id']}", headers=h)
    assert r.status_code == 404
    # a namespace instance's mount path is published in its server's metadata
    other_att = next(o for o in told if o["volume_id"] == w["id"])
    path = "/var/lib/kumo/volumes/x"
    assert _host_report(cloud, [{"id": other_att["id"], "status": "attached",
                                 "mount_path": path}]) == [other_att["id"]]  # fmt: skip
    meta = cloud.c.get(f"{C}/servers/{server}", headers=h).json()["server"]["metadata"]
    assert meta == {f"volume:{w['id']}": path}
    # deleting the server detaches what is left
    assert cloud.c.delete(f"{C}/servers/{server}", headers=h).status_code == 204
    assert cloud.show(h, w["id"])["status"] == "available"


def test_force_detach_frees_a_volume_whose_host_died(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    server = _server(cloud, h)
    v = cloud.available(h)
    r = cloud.c.post(f"{C}/servers/{server}/os-volume_attachments", headers=h,
                     json={"volumeAttachment": {"volumeId": v["id"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    r = cloud.c.delete(f"{C}/servers/{server}/os-volume_attachments/{v['id']}", headers=h)
    assert cloud.show(h, v["id"])["status"] == "detaching"  # its host never answers
    assert cloud.action(h, v["id"], {"os-force_detach": {}}).status_code == 403
    r = cloud.action(cloud.admin, v["id"], {"os-force_detach": {}})
    assert r.status_code == 202, r.text
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "available" and shown["attachments"] == []
    assert _attachments_of(cloud, "host1") == [] and _attachments_of(cloud, "s1") == []
