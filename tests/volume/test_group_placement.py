"""A group's volumes share one storage host: its consistent snapshot is one
transaction of that host's storage daemon. A volume made in a group goes
where the group's volumes are (even when the weighers prefer another
host), a volume on another host cannot join, and a group snapshot's member
snapshots are published once all are made, each naming every member (the
agent waits for them all before it takes the cut)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from kumo.db.volume_models import Volume
from tests.volume.conftest import GiB, VolumeCloud


def _group(cloud: VolumeCloud, h: dict[str, str]) -> dict[str, Any]:
    r = cloud.req("POST", "/group_types", cloud.admin, {"group_type": {
        "name": "cg", "group_specs": {"consistent_group_snapshot_enabled": "<is> True"}}},
        version="3.11")  # fmt: skip
    assert r.status_code == 202, r.text
    r = cloud.req("POST", "/groups", h, {"group": {"name": "g", "group_type": r.json()[
        "group_type"]["id"], "volume_types": ["__DEFAULT__"]}}, version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()["group"]
    return out


def _host(cloud: VolumeCloud, h: dict[str, str], volume_id: str) -> str:
    return str(cloud.show(h, volume_id)["os-vol-host-attr:host"]).split("@")[0]


def _snapshot_events(cloud: VolumeCloud) -> list[dict[str, Any]]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == "volume_snapshot")
        return [dict(e.body) for e in s.scalars(q.order_by(OutboxEvent.revision))]


def test_a_groups_volumes_stay_on_one_storage_host(cloud: VolumeCloud) -> None:
    cloud.register("s1", [{"name": "p1", "total_gb": 100, "free_bytes": 100 * GiB}])
    h = cloud.member("alice")
    group = _group(cloud, h)
    v1 = cloud.available(h, group_id=group["id"])
    assert _host(cloud, cloud.admin, v1["id"]) == "s1"
    # a second, roomier host: the capacity weigher now prefers it...
    cloud.register("s2", [{"name": "p1", "total_gb": 1000, "free_bytes": 1000 * GiB}])
    loose = cloud.available(h)
    assert _host(cloud, cloud.admin, loose["id"]) == "s2"
    # ...but a volume made in the group joins the group's host
    v2 = cloud.available(h, group_id=group["id"])
    assert _host(cloud, cloud.admin, v2["id"]) == "s1"
    # a volume on the other host cannot be added
    r = cloud.req("PUT", f"/groups/{group['id']}", h, {"group": {"add_volumes": loose["id"]}},
                  version="3.14")  # fmt: skip
    assert r.status_code == 400, r.text
    assert "one storage host" in r.text
    r = cloud.req("GET", f"/groups/{group['id']}?list_volume=true", h, version="3.25")
    assert sorted(r.json()["group"]["volumes"]) == sorted([v1["id"], v2["id"]])

    # the group snapshot: its members published together, each naming all of them
    before = len(_snapshot_events(cloud))
    r = cloud.req("POST", "/group_snapshots", h,
                  {"group_snapshot": {"group_id": group["id"], "name": "gs"}}, version="3.14")  # fmt: skip
    assert r.status_code == 202, r.text
    events = _snapshot_events(cloud)[before:]
    assert len(events) == 2
    ids = sorted(e["id"] for e in events)
    assert all(e["group_members"] == ids and e["status"] == "creating" for e in events), events
    assert sorted(e["volume_id"] for e in events) == sorted([v1["id"], v2["id"]])


def test_a_group_spanning_two_hosts_is_not_snapshotted(cloud: VolumeCloud) -> None:
    """A group whose volumes ended up on two hosts (placed before groups kept
    to one host) is refused a group snapshot rather than cut in two."""
    cloud.register("s1")
    cloud.register("s2")
    h = cloud.member("alice")
    group = _group(cloud, h)
    v1 = cloud.available(h, group_id=group["id"])
    v2 = cloud.available(h, group_id=group["id"])
    with cloud.rt.db.write_session() as s:
        other = "s2" if _host(cloud, cloud.admin, v1["id"]) == "s1" else "s1"
        vol = s.get(Volume, v2["id"])
        assert vol is not None
        vol.storage_host = other
        s.commit()
    r = cloud.req("POST", "/group_snapshots", h,
                  {"group_snapshot": {"group_id": group["id"], "name": "gs"}}, version="3.14")  # fmt: skip
    assert r.status_code == 400, r.text
    assert "one cut" in r.text
