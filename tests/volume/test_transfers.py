"""Volume transfers: offer, list, show, accept with the key (quotas move), withdraw."""

from __future__ import annotations

from tests.volume.conftest import VolumeCloud


def test_transfer_accept_moves_the_volume_and_its_snapshots(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    alice, bob = cloud.member("alice"), cloud.member("bob")
    v = cloud.available(alice, size=2)
    r = cloud.req("POST", "/snapshots", alice, {"snapshot": {"volume_id": v["id"]}})
    snap = r.json()["snapshot"]
    cloud.report(snapshots=[(snap["id"], "available")])
    r = cloud.req(
        "POST", "/os-volume-transfer", alice, {"transfer": {"volume_id": v["id"], "name": "t"}}
    )
    assert r.status_code == 202, r.text
    t = r.json()["transfer"]
    assert set(t) == {"id", "name", "volume_id", "created_at", "links", "auth_key"}  # 3.0
    assert cloud.show(alice, v["id"])["status"] == "awaiting-transfer"
    # a second offer of the same volume is refused; bob cannot see alice's transfer
    again = cloud.req("POST", "/os-volume-transfer", alice, {"transfer": {"volume_id": v["id"]}})
    assert again.status_code == 400
    assert cloud.req("GET", f"/os-volume-transfer/{t['id']}", bob).status_code == 404
    assert cloud.req("GET", "/os-volume-transfer", bob).json()["transfers"] == []
    listed = cloud.req("GET", "/os-volume-transfer", alice).json()["transfers"]
    assert [x["id"] for x in listed] == [t["id"]] and "created_at" not in listed[0]
    shown = cloud.req("GET", f"/volume-transfers/{t['id']}", alice, version="3.57").json()
    assert shown["transfer"]["source_project_id"] == cloud.projects["alice"]
    assert shown["transfer"]["no_snapshots"] is False and shown["transfer"]["accepted"] is False
    assert cloud.req("GET", "/volume-transfers", alice, version="3.54").status_code == 404
    # the wrong key is a 400; the right one moves volume and snapshot to bob's project
    url = f"/os-volume-transfer/{t['id']}/accept"
    assert cloud.req("POST", url, bob, {"accept": {"auth_key": "wrong"}}).status_code == 400
    r = cloud.req("POST", url, bob, {"accept": {"auth_key": t["auth_key"]}})
    assert r.status_code == 202, r.text
    assert r.json()["transfer"]["volume_id"] == v["id"]
    moved = cloud.show(bob, v["id"])
    assert moved["status"] == "available"
    assert moved["os-vol-tenant-attr:tenant_id"] == cloud.projects["bob"]
    assert cloud.req("GET", f"/volumes/{v['id']}", alice).status_code == 404
    assert cloud.req("GET", f"/snapshots/{snap['id']}", bob).status_code == 200
    assert cloud.req("GET", f"/os-volume-transfer/{t['id']}", alice).status_code == 404
    usage = cloud.req("GET", f"/os-quota-sets/{cloud.projects['bob']}?usage=true", cloud.admin)
    assert usage.json()["quota_set"]["gigabytes"]["in_use"] == 4


def test_withdrawn_transfer_and_quota_of_the_receiver(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    alice, bob = cloud.member("alice"), cloud.member("bob")
    v = cloud.available(alice)
    body = {"transfer": {"volume_id": v["id"], "no_snapshots": True}}
    t = cloud.req("POST", "/volume-transfers", alice, body, version="3.55").json()["transfer"]
    assert t["no_snapshots"] is True
    assert (
        cloud.req("DELETE", f"/volume-transfers/{t['id']}", alice, version="3.55").status_code
        == 202
    )
    assert cloud.show(alice, v["id"])["status"] == "available"
    # bob has no room: the accept is refused and the volume stays alice's
    t = cloud.req("POST", "/os-volume-transfer", alice, {"transfer": {"volume_id": v["id"]}}).json()
    r = cloud.req("PUT", f"/os-quota-sets/{cloud.projects['bob']}", cloud.admin,
                  {"quota_set": {"volumes": 0}})  # fmt: skip
    assert r.status_code == 200, r.text
    url = f"/os-volume-transfer/{t['transfer']['id']}/accept"
    r = cloud.req("POST", url, bob, {"accept": {"auth_key": t["transfer"]["auth_key"]}})
    assert r.status_code == 413, r.text
    assert cloud.show(alice, v["id"])["status"] == "awaiting-transfer"
