"""Volume types (extra specs, access), quotas and limits, groups and group
snapshots, and what a storage agent's credential may report."""

from __future__ import annotations

from tests.volume.conftest import VolumeCloud


def test_types_extra_specs_and_private_access(cloud: VolumeCloud) -> None:
    cloud.register("s1", [{"name": "p1", "total_gb": 100, "free_bytes": 100 << 30,
                           "capabilities": {"volume_backend_name": "gold"}}])  # fmt: skip
    alice, bob = cloud.member("alice"), cloud.member("bob")
    r = cloud.req("POST", "/types", alice, {"volume_type": {"name": "x"}})
    assert r.status_code == 403
    r = cloud.req("POST", "/types", cloud.admin, {"volume_type": {
        "name": "gold", "extra_specs": {"volume_backend_name": "gold"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    gold = r.json()["volume_type"]
    assert "qos_specs_id" not in gold  # Cinder's answer to a create has none
    r = cloud.req("POST", "/types", cloud.admin, {"volume_type": {
        "name": "silver", "os-volume-type-access:is_public": False}})  # fmt: skip
    silver = r.json()["volume_type"]
    r = cloud.req("POST", f"/types/{silver['id']}/extra_specs", cloud.admin,
                  {"extra_specs": {"volume_backend_name": "silver"}})  # fmt: skip
    assert r.json()["extra_specs"] == {"volume_backend_name": "silver"}
    names = [t["name"] for t in cloud.req("GET", "/types", alice).json()["volume_types"]]
    assert names == ["__DEFAULT__", "gold"]
    r = cloud.req("POST", f"/types/{silver['id']}/action", cloud.admin,
                  {"addProjectAccess": {"project": cloud.projects["alice"]}})  # fmt: skip
    assert r.status_code == 202
    assert "silver" in [t["name"] for t in cloud.req("GET", "/types", alice).json()["volume_types"]]
    assert cloud.req("GET", f"/types/{silver['id']}", bob).status_code == 404
    # the scheduler matches the type's specs against the pool's capabilities
    assert cloud.create(alice, volume_type="gold")["status"] == "creating"
    failed = cloud.create(alice, volume_type="silver")
    assert failed["status"] == "error"
    # retype in place: only to a type the pool satisfies
    v = cloud.available(alice, volume_type="gold")
    r = cloud.action(alice, v["id"], {"os-retype": {"new_type": "silver"}})
    assert r.status_code == 400 and "cannot be retyped" in r.text
    r = cloud.req("PUT", f"/types/{silver['id']}/extra_specs/volume_backend_name", cloud.admin,
                  {"volume_backend_name": "gold"})  # fmt: skip
    assert r.status_code == 200
    assert cloud.action(alice, v["id"], {"os-retype": {"new_type": "silver"}}).status_code == 202
    assert cloud.show(alice, v["id"])["volume_type"] == "silver"
    r = cloud.req("DELETE", f"/types/{gold['id']}", cloud.admin)
    assert r.status_code == 400  # a volume still has it
    r = cloud.req("GET", f"/types/{silver['id']}/os-volume-type-access", cloud.admin)
    assert r.json()["volume_type_access"] == [
        {"volume_type_id": silver["id"], "project_id": cloud.projects["alice"]}]  # fmt: skip


def test_quotas_limits_and_per_type_quota(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    project = cloud.projects["alice"]
    r = cloud.req("PUT", f"/os-quota-sets/{project}", h, {"quota_set": {"volumes": 1}})
    assert r.status_code == 403
    r = cloud.req("PUT", f"/os-quota-sets/{project}", cloud.admin,
                  {"quota_set": {"volumes": 2, "gigabytes": 4, "snapshots___DEFAULT__": 1}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["quota_set"]["volumes"] == 2
    r = cloud.req("PUT", f"/os-quota-sets/{project}", cloud.admin, {"quota_set": {"bogus": 1}})
    assert r.status_code == 400 and "bogus" in r.text
    v = cloud.available(h, size=2)
    r = cloud.req("POST", "/volumes", h, {"volume": {"size": 4}})
    assert r.status_code == 413
    assert "gigabytes" in r.json()["overLimit"]["message"]
    cloud.available(h, size=1)
    r = cloud.req("POST", "/volumes", h, {"volume": {"size": 1}})
    assert r.status_code == 413 and "volumes" in r.json()["overLimit"]["message"]
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"]}})
    assert r.status_code == 413  # 3 + 2 GiB > 4
    r = cloud.req("PUT", f"/os-quota-sets/{project}", cloud.admin, {"quota_set": {"gigabytes": 50}})
    assert (
        cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"]}}).status_code == 202
    )
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"]}})
    assert r.status_code == 413 and "snapshots___DEFAULT__" in r.text
    usage = cloud.req("GET", f"/os-quota-sets/{project}?usage=true", h).json()["quota_set"]
    assert usage["volumes"] == {"limit": 2, "in_use": 2, "reserved": 0, "allocated": 0}
    assert usage["gigabytes"]["in_use"] == 5 and usage["snapshots___DEFAULT__"]["in_use"] == 1
    absolute = cloud.req("GET", "/limits", h).json()["limits"]["absolute"]
    assert absolute["maxTotalVolumes"] == 2 and absolute["totalVolumesUsed"] == 2
    assert absolute["totalGigabytesUsed"] == 5 and absolute["totalSnapshotsUsed"] == 1
    bob = cloud.member("bob")
    assert cloud.req("GET", f"/os-quota-sets/{project}", bob).status_code == 403
    # defaults come from the quota class "default"
    r = cloud.req("PUT", "/os-quota-class-sets/default", cloud.admin,
                  {"quota_class_set": {"volumes": 7}})  # fmt: skip
    assert r.status_code == 200 and r.json()["quota_class_set"]["volumes"] == 7
    bobs = cloud.req("GET", f"/os-quota-sets/{cloud.projects['bob']}", bob).json()["quota_set"]
    assert bobs["volumes"] == 7
    assert cloud.req("DELETE", f"/os-quota-sets/{project}", cloud.admin).status_code == 200
    assert cloud.req("GET", f"/os-quota-sets/{project}", h).json()["quota_set"]["volumes"] == 7


def test_groups_and_group_snapshots(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    r = cloud.req("POST", "/group_types", cloud.admin, {"group_type": {
        "name": "cg", "group_specs": {"consistent_group_snapshot_enabled": "<is> True"}}},
        version="3.11")  # fmt: skip
    assert r.status_code == 202, r.text  # as Cinder answers
    gt = r.json()["group_type"]
    assert gt["group_specs"] == {"consistent_group_snapshot_enabled": "<is> True"}
    assert cloud.req("GET", "/groups", h).status_code == 404  # before 3.13
    r = cloud.req("POST", "/groups", h, {"group": {"name": "g", "group_type": gt["id"],
                  "volume_types": ["__DEFAULT__"]}}, version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    group = r.json()["group"]
    v1 = cloud.available(h, group_id=group["id"])
    v2 = cloud.available(h)
    r = cloud.req("PUT", f"/groups/{group['id']}", h, {"group": {"add_volumes": v2["id"]}},
                  version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    r = cloud.req("GET", f"/groups/{group['id']}?list_volume=true", h, version="3.25")
    assert sorted(r.json()["group"]["volumes"]) == sorted([v1["id"], v2["id"]])
    assert cloud.req("DELETE", f"/volumes/{v1['id']}", h).status_code == 400  # in a group
    r = cloud.req("POST", "/group_snapshots", h,
                  {"group_snapshot": {"group_id": group["id"], "name": "gs"}}, version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    gs = r.json()["group_snapshot"]
    r = cloud.req("GET", f"/group_snapshots/{gs['id']}", h, version="3.14")
    assert r.json()["group_snapshot"]["status"] == "creating"
    snaps = cloud.req("GET", f"/snapshots/detail?group_snapshot_id={gs['id']}", h,
                      version="3.14").json()["snapshots"]  # fmt: skip
    assert sorted(s["volume_id"] for s in snaps) == sorted([v1["id"], v2["id"]])
    cloud.report(snapshots=[(s["id"], "available") for s in snaps])
    r = cloud.req("GET", f"/group_snapshots/{gs['id']}", h, version="3.14")
    assert r.json()["group_snapshot"]["status"] == "available"
    # a member snapshot goes only with its group snapshot
    assert cloud.req("DELETE", f"/snapshots/{snaps[0]['id']}", h).status_code == 400
    r = cloud.req("POST", f"/groups/{group['id']}/action", h, {"delete": {}}, version="3.14")
    assert r.status_code == 400  # it has a group snapshot
    assert cloud.req("DELETE", f"/group_snapshots/{gs['id']}", h, version="3.14").status_code == 202
    cloud.report(snapshots=[(s["id"], "deleted") for s in snaps])
    r = cloud.req("POST", f"/groups/{group['id']}/action", h, {"delete": {}}, version="3.14")
    assert r.status_code == 400 and "delete-volumes" in r.text
    r = cloud.req("POST", f"/groups/{group['id']}/action", h,
                  {"delete": {"delete-volumes": True}}, version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    assert cloud.show(h, v1["id"])["status"] == "deleting"
    assert cloud.req("GET", f"/groups/{group['id']}", h, version="3.14").status_code == 404


def test_services_pools_and_zones(cloud: VolumeCloud) -> None:
    cloud.register("s1", zone="z1")
    h = cloud.member("alice")
    assert cloud.req("GET", "/os-services", h).status_code == 403
    services = cloud.req("GET", "/os-services", cloud.admin).json()["services"]
    volume = next(s for s in services if s["binary"] == "cinder-volume")
    assert volume["host"] == "s1@file" and volume["state"] == "up" and volume["zone"] == "z1"
    zones = cloud.req("GET", "/os-availability-zone", h).json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "z1", "zoneState": {"available": True}}]
    r = cloud.req("PUT", "/os-services/disable", cloud.admin,
                  {"host": "s1@file", "binary": "cinder-volume"})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    assert cloud.create(h)["status"] == "error"  # no enabled pool
    cloud.req("PUT", "/os-services/enable", cloud.admin, {"host": "s1@file"})
    assert cloud.create(h, availability_zone="z1")["status"] == "creating"
    assert cloud.create(h, availability_zone="elsewhere")["status"] == "error"
    pools = cloud.req("GET", "/scheduler-stats/get_pools?detail=true", cloud.admin).json()
    caps = pools["pools"][0]["capabilities"]
    assert pools["pools"][0]["name"] == "s1@file#p1" and caps["allocated_capacity_gb"] == 1


def test_a_storage_agent_reports_only_for_its_own_host(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.create(h)
    made = cloud.rt.identity.enroll_agent("s2")
    token = cloud._token(made.user_name, made.password, made.project_name)
    r = cloud.c.post("/internal/v1/storage-reports", headers=token,
                     json={"volumes": [{"id": v["id"], "status": "available"}]})  # fmt: skip
    assert r.status_code == 403 and "may not act for host s1" in r.text
    r = cloud.c.post("/internal/v1/storage-hosts", headers=token, json={"storage_host": {
        "host": "s1", "pools": [{"name": "p", "total_gb": 1}]}})  # fmt: skip
    assert r.status_code == 403
    r = cloud.c.get("/internal/v1/list?topics=storage:s1", headers=token)
    assert r.status_code == 403
    r = cloud.c.get("/internal/v1/list?topics=storage:s2", headers=token)
    assert r.status_code == 200 and r.json()["objects"] == []
    mine = cloud.rt.identity.enroll_agent("s1")
    token = cloud._token(mine.user_name, mine.password, mine.project_name)
    r = cloud.c.get("/internal/v1/list?topics=storage:s1", headers=token)
    assert [o["id"] for o in r.json()["objects"]] == [v["id"]]
    r = cloud.c.post("/internal/v1/storage-reports", headers=token,
                     json={"volumes": [{"id": v["id"], "status": "available"}]})  # fmt: skip
    assert r.status_code == 200 and r.json()["changed"] == [v["id"]]
