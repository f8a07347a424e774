"""Group and group snapshot views: ``project_id`` only from microversion 3.58."""

from __future__ import annotations

from tests.volume.conftest import VolumeCloud


def test_group_views_carry_project_id_only_from_3_58(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    r = cloud.req("POST", "/group_types", cloud.admin, {"group_type": {"name": "gt"}},
                  version="3.11")  # fmt: skip
    gt = r.json()["group_type"]
    r = cloud.req("POST", "/groups", h, {"group": {"name": "g", "group_type": gt["id"],
                  "volume_types": ["__DEFAULT__"]}}, version="3.14")  # fmt: skip
    group = r.json()["group"]
    cloud.available(h, group_id=group["id"])
    r = cloud.req("POST", "/group_snapshots", h,
                  {"group_snapshot": {"group_id": group["id"], "name": "gs"}}, version="3.14")  # fmt: skip
    gs = r.json()["group_snapshot"]
    for path, key in ((f"/groups/{group['id']}", "group"),
                      (f"/group_snapshots/{gs['id']}", "group_snapshot")):  # fmt: skip
        assert "project_id" not in cloud.req("GET", path, h, version="3.14").json()[key]
        shown = cloud.req("GET", path, h, version="3.58").json()[key]
        assert shown["project_id"] == cloud.projects["alice"]
    for path, key in (("/groups/detail", "groups"), ("/group_snapshots/detail", "group_snapshots")):
        assert all(
            "project_id" not in x for x in cloud.req("GET", path, h, version="3.20").json()[key]
        )
        assert [x["project_id"] for x in cloud.req("GET", path, h, version="3.58").json()[key]] == [
            cloud.projects["alice"]
        ]


def test_admins_reset_a_groups_status_from_3_20(cloud: VolumeCloud) -> None:
    h = cloud.member("alice")
    gt = cloud.req("POST", "/group_types", cloud.admin, {"group_type": {"name": "gt"}},
                   version="3.11").json()["group_type"]  # fmt: skip
    group = cloud.req("POST", "/groups", h, {"group": {"group_type": gt["id"],
                      "volume_types": ["__DEFAULT__"]}}, version="3.14").json()["group"]  # fmt: skip
    url = f"/groups/{group['id']}/action"
    body = {"reset_status": {"status": "error"}}
    assert cloud.req("POST", url, cloud.admin, body, version="3.19").status_code == 404
    assert cloud.req("POST", url, h, body, version="3.20").status_code == 403
    bad = {"reset_status": {"status": "lost"}}
    assert cloud.req("POST", url, cloud.admin, bad, version="3.20").status_code == 400
    for status in ("creating", "available", "error"):
        r = cloud.req("POST", url, cloud.admin, {"reset_status": {"status": status}},
                      version="3.20")  # fmt: skip
        assert r.status_code == 202, r.text
        shown = cloud.req("GET", f"/groups/{group['id']}", h, version="3.20").json()["group"]
        assert shown["status"] == status


def test_admins_reset_a_group_snapshots_status_from_3_19(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    gt = cloud.req("POST", "/group_types", cloud.admin, {"group_type": {"name": "gt"}},
                   version="3.11").json()["group_type"]  # fmt: skip
    group = cloud.req("POST", "/groups", h, {"group": {"group_type": gt["id"],
                      "volume_types": ["__DEFAULT__"]}}, version="3.14").json()["group"]  # fmt: skip
    cloud.available(h, group_id=group["id"])
    gs = cloud.req("POST", "/group_snapshots", h, {"group_snapshot": {"group_id": group["id"]}},
                   version="3.14").json()["group_snapshot"]  # fmt: skip
    snaps = cloud.req("GET", f"/snapshots/detail?group_snapshot_id={gs['id']}", h,
                      version="3.14").json()["snapshots"]  # fmt: skip
    cloud.report(snapshots=[(x["id"], "available") for x in snaps])
    url, show = f"/group_snapshots/{gs['id']}/action", f"/group_snapshots/{gs['id']}"
    body = {"reset_status": {"status": "error"}}
    assert cloud.req("POST", url, cloud.admin, body, version="3.18").status_code == 404
    assert cloud.req("POST", url, h, body, version="3.19").status_code == 403
    for status in ("creating", "available", "error"):
        r = cloud.req("POST", url, cloud.admin, {"reset_status": {"status": status}},
                      version="3.19")  # fmt: skip
        assert r.status_code == 202, r.text
        assert (
            cloud.req("GET", show, h, version="3.19").json()["group_snapshot"]["status"] == status
        )
    # its member snapshots are as they were
    assert {x["status"] for x in cloud.req("GET", f"/snapshots/detail?group_snapshot_id={gs['id']}",
            h, version="3.14").json()["snapshots"]} == {"available"}  # fmt: skip


def test_groups_made_from_a_group_and_from_a_group_snapshot(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    gt = cloud.req("POST", "/group_types", cloud.admin, {"group_type": {"name": "gt"}},
                   version="3.11").json()["group_type"]  # fmt: skip
    group = cloud.req("POST", "/groups", h, {"group": {"group_type": gt["id"],
                      "volume_types": ["__DEFAULT__"]}}, version="3.14").json()["group"]  # fmt: skip
    v = cloud.available(h, group_id=group["id"], size=2)
    r = cloud.req("POST", "/groups/action", h,
                  {"create-from-src": {"source_group_id": group["id"], "name": "copy"}},
                  version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    copy = r.json()["group"]
    assert copy["name"] == "copy"
    made = cloud.req("GET", f"/volumes/detail?group_id={copy['id']}", h, version="3.14").json()
    assert [(x["source_volid"], x["size"], x["status"]) for x in made["volumes"]] == [
        (v["id"], 2, "creating")
    ]
    gs = cloud.req("POST", "/group_snapshots", h, {"group_snapshot": {"group_id": group["id"]}},
                   version="3.14").json()["group_snapshot"]  # fmt: skip
    snaps = cloud.req("GET", f"/snapshots/detail?group_snapshot_id={gs['id']}", h,
                      version="3.14").json()["snapshots"]  # fmt: skip
    cloud.report(snapshots=[(x["id"], "available") for x in snaps])
    r = cloud.req("POST", "/groups/action", h,
                  {"create-from-src": {"group_snapshot_id": gs["id"]}}, version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    made = cloud.req("GET", f"/volumes/detail?group_id={r.json()['group']['id']}", h,
                     version="3.14").json()["volumes"]  # fmt: skip
    assert [x["snapshot_id"] for x in made] == [snaps[0]["id"]]
    both = {"create-from-src": {"group_snapshot_id": gs["id"], "source_group_id": group["id"]}}
    assert cloud.req("POST", "/groups/action", h, both, version="3.14").status_code == 400
    other = cloud.member("bob")
    r = cloud.req("POST", "/groups/action", other,
                  {"create-from-src": {"source_group_id": group["id"]}}, version="3.14")  # fmt: skip
    assert r.status_code == 404
