"""Volumes through the API with real tokens: the status machine from
creating to deleted, what each status allows, and the agent's reports."""

from __future__ import annotations

from tests.volume.conftest import VolumeCloud


def test_create_schedules_to_a_pool_and_the_agent_report_makes_it_available(
    cloud: VolumeCloud,
) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.create(h, size=2, name="data")
    assert v["status"] == "creating" and v["size"] == 2 and v["volume_type"] == "__DEFAULT__"
    assert "os-vol-host-attr:host" not in v  # admins only
    # the answer to a create carries no extension attributes (as Cinder's)
    assert not [k for k in cloud.create(cloud.admin, size=1) if k.startswith("os-vol-")]
    assert "os-vol-tenant-attr:tenant_id" in cloud.show(h, v["id"])
    admin_view = cloud.show(cloud.admin, v["id"])
    assert admin_view["os-vol-host-attr:host"] == "s1@file#p1"
    assert cloud.report(volumes=[(v["id"], "available")]) == [v["id"]]
    assert cloud.show(h, v["id"])["status"] == "available"
    # a repeated report changes nothing (level: the status is settled)
    assert cloud.report(volumes=[(v["id"], "available")]) == []


def test_no_pool_puts_the_volume_in_error_with_a_message(cloud: VolumeCloud) -> None:
    h = cloud.member("alice")
    v = cloud.create(h, size=1)
    assert v["status"] == "error"
    r = cloud.req("GET", f"/messages?resource_uuid={v['id']}", h, version="3.3")
    assert r.status_code == 200, r.text
    (m,) = r.json()["messages"]
    assert "No storage could be allocated" in m["user_message"]
    # an unplaced volume goes at once
    r = cloud.req("DELETE", f"/volumes/{v['id']}", h)
    assert r.status_code == 202
    assert cloud.req("GET", f"/volumes/{v['id']}", h).status_code == 404


def test_too_big_for_every_pool_names_the_reason(cloud: VolumeCloud) -> None:
    cloud.register("s1", [{"name": "small", "total_gb": 10, "free_bytes": 10 << 30,
                           "max_over_subscription_ratio": 1.0}])  # fmt: skip
    h = cloud.member("alice")
    v = cloud.create(h, size=20)
    assert v["status"] == "error"
    r = cloud.req("GET", "/messages", h, version="3.3")
    assert "s1@file#small" in r.json()["messages"][0]["user_message"]


def test_extend_and_delete_go_through_the_agent(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h, size=1)
    r = cloud.action(h, v["id"], {"os-extend": {"new_size": 3}})
    assert r.status_code == 202, r.text
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "extending" and shown["size"] == 1
    r = cloud.action(h, v["id"], {"os-extend": {"new_size": 4}})
    assert r.status_code == 400 and "badRequest" in r.json()
    cloud.report(volumes=[(v["id"], "available")])
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "available" and shown["size"] == 3
    r = cloud.action(h, v["id"], {"os-extend": {"new_size": 2}})
    assert r.status_code == 400
    assert "must be greater than current size" in r.json()["badRequest"]["message"]
    assert cloud.req("DELETE", f"/volumes/{v['id']}", h).status_code == 202
    assert cloud.show(h, v["id"])["status"] == "deleting"
    assert cloud.req("DELETE", f"/volumes/{v['id']}", h).status_code == 400
    cloud.report(volumes=[(v["id"], "deleted")])
    r = cloud.req("GET", f"/volumes/{v['id']}", h)
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404


def test_failed_extend_is_error_extending_and_deletable(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    cloud.action(h, v["id"], {"os-extend": {"new_size": 2}})
    cloud.report(volumes=[(v["id"], "error")])
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "error_extending" and shown["size"] == 1
    assert cloud.req("DELETE", f"/volumes/{v['id']}", h).status_code == 202


def test_reset_status_is_for_admins(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    r = cloud.action(h, v["id"], {"os-reset_status": {"status": "error"}})
    assert r.status_code == 403
    assert r.json()["forbidden"]["message"].startswith("Policy doesn't allow")
    r = cloud.action(cloud.admin, v["id"], {"os-reset_status": {"status": "error"}})
    assert r.status_code == 202
    assert cloud.show(h, v["id"])["status"] == "error"
    r = cloud.action(cloud.admin, v["id"], {"os-reset_status": {"status": "nonsense"}})
    assert r.status_code == 400


def test_other_projects_do_not_see_a_volume(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    alice, bob = cloud.member("alice"), cloud.member("bob")
    v = cloud.available(alice, name="mine")
    assert cloud.req("GET", f"/volumes/{v['id']}", bob).status_code == 404
    assert cloud.req("DELETE", f"/volumes/{v['id']}", bob).status_code == 404
    assert cloud.req("GET", "/volumes", bob).json()["volumes"] == []
    every = cloud.req("GET", "/volumes/detail?all_tenants=1", cloud.admin).json()["volumes"]
    assert [x["id"] for x in every] == [v["id"]]


def test_list_filters_sorting_and_paging(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    ids = [cloud.available(h, name=f"v{i}", size=i + 1, metadata={"k": str(i % 2)})["id"]
           for i in range(5)]  # fmt: skip
    r = cloud.req("GET", "/volumes/detail?sort=size:asc&limit=2", h)
    body = r.json()
    assert [x["size"] for x in body["volumes"]] == [1, 2]
    assert "marker=" + ids[1] in body["volumes_links"][0]["href"]
    r = cloud.req("GET", f"/volumes/detail?sort=size:asc&limit=2&marker={ids[1]}", h)
    assert [x["size"] for x in r.json()["volumes"]] == [3, 4]
    r = cloud.req("GET", "/volumes?name=v3", h)
    assert [x["id"] for x in r.json()["volumes"]] == [ids[3]]
    assert set(r.json()["volumes"][0]) == {"id", "name", "links"}
    r = cloud.req("GET", '/volumes/detail?metadata={"k": "1"}', h)
    assert sorted(x["id"] for x in r.json()["volumes"]) == sorted([ids[1], ids[3]])
    r = cloud.req("GET", "/volumes/detail?with_count=true&limit=1", h, version="3.45")
    assert r.json()["count"] == 5
    # a full page links to the next even when nothing follows (as Cinder's)
    r = cloud.req("GET", "/volumes?limit=5", h)
    assert len(r.json()["volumes"]) == 5 and r.json()["volumes_links"][0]["rel"] == "next"
    r = cloud.req("GET", "/volumes?limit=6", h)
    assert "volumes_links" not in r.json()
    r = cloud.req("GET", "/volumes?sort=display_name:desc&limit=1", h)
    assert r.json()["volumes"][0]["id"] == ids[4]
    assert cloud.req("GET", "/volumes?sort=bogus:asc", h).status_code == 400
    assert cloud.req("GET", "/volumes?marker=nope", h).status_code == 404


def test_update_and_metadata(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h, name="a")
    r = cloud.req("PUT", f"/volumes/{v['id']}", h, {"volume": {"name": "b", "description": "d"}})
    assert r.status_code == 200 and r.json()["volume"]["name"] == "b"
    assert not [k for k in r.json()["volume"] if k.startswith("os-vol-")]  # as Cinder's update
    r = cloud.req("POST", f"/volumes/{v['id']}/metadata", h, {"metadata": {"x": "1"}})
    assert r.json()["metadata"] == {"x": "1"}
    r = cloud.req("PUT", f"/volumes/{v['id']}/metadata/x", h, {"meta": {"x": "2"}})
    assert r.status_code == 200 and r.json() == {"meta": {"x": "2"}}
    r = cloud.req("PUT", f"/volumes/{v['id']}/metadata/x", h, {"meta": {"y": "2"}})
    assert r.status_code == 400 and "mismatch" in r.text
    assert cloud.req("GET", f"/volumes/{v['id']}/metadata/x", h).json() == {"meta": {"x": "2"}}
    assert cloud.req("GET", f"/volumes/{v['id']}/metadata/zz", h).status_code == 404
    assert cloud.req("DELETE", f"/volumes/{v['id']}/metadata/x", h).status_code == 200
    assert cloud.req("DELETE", f"/volumes/{v['id']}/metadata/x", h).status_code == 404


def test_microversion_header_and_version_documents(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    r = cloud.req("GET", f"/volumes/{v['id']}", h, version="3.64")
    assert r.headers["OpenStack-API-Version"] == "volume 3.64"
    assert "volume_type_id" in r.json()["volume"] and "consumes_quota" not in r.json()["volume"]
    r = cloud.req("GET", f"/volumes/{v['id']}", h)
    assert r.headers["OpenStack-API-Version"] == "volume 3.0"
    assert "group_id" not in r.json()["volume"]
    r = cloud.req("GET", "/volumes", h, version="3.99")
    assert r.status_code == 406
    r = cloud.req("GET", "/volumes", h, version="three")
    assert r.status_code == 400 and "badRequest" in r.json()
    doc = cloud.c.get("/volume/v3/").json()["versions"][0]
    assert doc["id"] == "v3.0" and doc["version"] == "3.70" and doc["min_version"] == "3.0"
    assert cloud.c.get("/volume/").status_code == 300


def test_create_from_snapshot_and_clone_stay_in_the_source_pool(cloud: VolumeCloud) -> None:
    cloud.register("s1", [{"name": "p1", "total_gb": 100, "free_bytes": 100 << 30}])
    cloud.register("s2", [{"name": "p2", "total_gb": 1000, "free_bytes": 1000 << 30}])
    h = cloud.member("alice")
    v = cloud.available(h, size=2)
    pool = cloud.show(cloud.admin, v["id"])["os-vol-host-attr:host"]
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"], "name": "s"}})
    assert r.status_code == 202, r.text
    snap = r.json()["snapshot"]
    assert snap["status"] == "creating"
    assert not [k for k in snap if k.startswith("os-extended-snapshot-attributes:")]
    r = cloud.req("POST", "/volumes", h, {"volume": {"snapshot_id": snap["id"]}})
    assert r.status_code == 400  # the snapshot is not available yet
    cloud.report(snapshots=[(snap["id"], "available")])
    small = cloud.req("POST", "/volumes", h, {"volume": {"snapshot_id": snap["id"], "size": 1}})
    assert small.status_code == 400 and "cannot be smaller" in small.text
    from_snap = cloud.create(h, snapshot_id=snap["id"], size=None)
    assert from_snap["size"] == 2 and from_snap["snapshot_id"] == snap["id"]
    clone = cloud.create(h, source_volid=v["id"], size=3)
    for made in (from_snap, clone):
        assert cloud.show(cloud.admin, made["id"])["os-vol-host-attr:host"] == pool
    # the volume has a snapshot: no plain delete, cascade takes both
    r = cloud.req("DELETE", f"/volumes/{v['id']}", h)
    assert r.status_code == 400 and "snapshots" in r.text
    assert cloud.req("DELETE", f"/volumes/{v['id']}?cascade=true", h).status_code == 202
    r = cloud.req("GET", f"/snapshots/{snap['id']}", h)
    assert r.json()["snapshot"]["status"] == "deleting"
    cloud.report(volumes=[(v["id"], "deleted")], snapshots=[(snap["id"], "deleted")])
    assert cloud.req("GET", f"/snapshots/{snap['id']}", h).status_code == 404


def test_snapshot_metadata_and_actions(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"]}})
    snap = r.json()["snapshot"]
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"name": "no volume"}})
    assert r.status_code == 404  # Cinder looks up a volume None
    path = f"/snapshots/{snap['id']}"
    r = cloud.req("POST", path + "/metadata", h, {"metadata": {"a": "1", "b": "2"}})
    assert r.status_code == 200 and r.json()["metadata"] == {"a": "1", "b": "2"}
    r = cloud.req("PUT", path + "/metadata", h, {"metadata": {"c": "3"}})
    assert r.json()["metadata"] == {"c": "3"}
    r = cloud.req("PUT", path + "/metadata/c", h, {"meta": {"c": "4"}})
    assert r.json() == {"meta": {"c": "4"}}
    assert cloud.req("GET", path + "/metadata/c", h).json() == {"meta": {"c": "4"}}
    assert cloud.req("GET", path + "/metadata", h).json() == {"metadata": {"c": "4"}}
    assert cloud.req("DELETE", path + "/metadata/c", h).status_code == 200
    assert cloud.req("DELETE", path + "/metadata/c", h).status_code == 404
    other = cloud.member("bob")
    assert cloud.req("GET", path + "/metadata", other).status_code == 404
    # os-update_snapshot_status: from creating only, with the progress shown
    body = {"os-update_snapshot_status": {"status": "error", "progress": "80%"}}
    assert cloud.req("POST", path + "/action", h, body).status_code == 202
    shown = cloud.req("GET", path, h).json()["snapshot"]
    assert (shown["status"], shown["os-extended-snapshot-attributes:progress"]) == ("error", "80%")
    r = cloud.req("POST", path + "/action", h, body)
    assert r.status_code == 400 and "not allowed" in r.text
    # os-force_delete: for admins, whatever the status
    assert cloud.req("POST", path + "/action", h, {"os-force_delete": {}}).status_code == 403
    r = cloud.req("POST", path + "/action", cloud.admin, {"os-force_delete": {}})
    assert r.status_code == 202
    assert cloud.req("GET", path, h).json()["snapshot"]["status"] == "deleting"
    assert cloud.req("POST", path + "/action", h, {"os-bogus": {}}).status_code == 400


def test_services_show_cluster_from_3_7_and_replication_for_volume_hosts(
    cloud: VolumeCloud,
) -> None:
    cloud.register("s1")
    r = cloud.req("GET", "/os-services", cloud.admin)
    found = {s["binary"]: s for s in r.json()["services"]}
    assert "cluster" not in found["cinder-volume"]
    assert "replication_status" not in found["cinder-scheduler"]
    assert found["cinder-volume"]["replication_status"] == "disabled"
    r = cloud.req("GET", "/os-services", cloud.admin, version="3.7")
    assert all("cluster" in s for s in r.json()["services"])


def test_image_metadata_actions_and_set_bootable(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    r = cloud.action(h, v["id"], {"os-set_image_metadata": {"metadata": {"a": "1", "b": "2"}}})
    assert r.status_code == 200 and r.json() == {"metadata": {"a": "1", "b": "2"}}
    r = cloud.action(h, v["id"], {"os-unset_image_metadata": {"key": "a"}})
    assert r.status_code == 200
    r = cloud.action(h, v["id"], {"os-unset_image_metadata": {"key": "a"}})
    assert r.status_code == 404
    r = cloud.action(h, v["id"], {"os-show_image_metadata": {}})
    assert r.status_code == 200 and r.json() == {"metadata": {"b": "2"}}
    assert cloud.show(h, v["id"])["volume_image_metadata"] == {"b": "2"}
    r = cloud.req("PUT", f"/volumes/{v['id']}", h, {"volume": {"name": "n"}})
    assert "volume_image_metadata" not in r.json()["volume"]  # not in Cinder's update answer
    r = cloud.action(cloud.member("bob"), v["id"], {"os-show_image_metadata": {}})
    assert r.status_code == 404
    r = cloud.action(h, v["id"], {"os-set_bootable": {"bootable": True}})
    assert r.status_code == 200 and cloud.show(h, v["id"])["bootable"] == "true"
