"""A snapshot an administrator resets is left alone by its storage agent."""

from __future__ import annotations

from typing import Any

from tests.volume.conftest import VolumeCloud


def _published(cloud: VolumeCloud, snapshot_id: str) -> dict[str, Any]:
    r = cloud.c.get("/internal/v1/list", params={"topics": "storage:s1"}, headers=cloud.admin)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = next(o for o in r.json()["objects"] if o["id"] == snapshot_id)
    return found


def test_reset_to_creating_is_not_work_for_the_agent(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    snap = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"]}}).json()[
        "snapshot"
    ]
    assert _published(cloud, snap["id"])["status"] == "creating"
    cloud.report(snapshots=[(snap["id"], "available")])
    r = cloud.req("POST", f"/snapshots/{snap['id']}/action", cloud.admin,
                  {"os-reset_status": {"status": "creating"}})  # fmt: skip
    assert r.status_code == 202, r.text
    # the agent sees no snapshot to make, and a late report does not move it
    assert _published(cloud, snap["id"])["status"] == "reset"
    assert cloud.report(snapshots=[(snap["id"], "available")]) == []
    shown = cloud.req("GET", f"/snapshots/{snap['id']}", h).json()["snapshot"]
    assert shown["status"] == "creating"
    # whoever made it reports (Nova's assisted snapshots); then a delete is real work again
    r = cloud.req("POST", f"/snapshots/{snap['id']}/action", h,
                  {"os-update_snapshot_status": {"status": "error"}})  # fmt: skip
    assert r.status_code == 202, r.text
    assert cloud.req("DELETE", f"/snapshots/{snap['id']}", h).status_code == 202
    assert _published(cloud, snap["id"])["status"] == "deleting"
    assert cloud.report(snapshots=[(snap["id"], "deleted")]) == [snap["id"]]


def test_a_volume_reset_to_creating_is_not_made_again(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    v = cloud.available(h)
    r = cloud.action(cloud.admin, v["id"], {"os-reset_status": {"status": "creating"}})
    assert r.status_code == 202, r.text
    assert _published(cloud, v["id"])["status"] == "reset"
    assert cloud.report(volumes=[(v["id"], "available")]) == []  # a late report: ignored
    assert cloud.show(h, v["id"])["status"] == "creating"
    # a force delete is real work again
    r = cloud.action(cloud.admin, v["id"], {"os-force_delete": {}})
    assert r.status_code == 202, r.text
    assert _published(cloud, v["id"])["status"] == "deleting"
    assert cloud.report(volumes=[(v["id"], "deleted")]) == [v["id"]]
