"""Replicated volumes through the API with real tokens: placement on two
hosts, the replication status machine fed by the primary's reports, what
each storage host is told, and failover of a backend (Cinder's fault bodies
for what it refuses)."""

from __future__ import annotations

from typing import Any

import pytest

from kumo.volume import events
from kumo.volume.replication import next_status
from tests.volume.conftest import VolumeCloud

REPLICATED = {"replication_enabled": "<is> True"}


def _type(cloud: VolumeCloud, name: str = "replicated") -> None:
    r = cloud.req("POST", "/types", cloud.admin,
                  {"volume_type": {"name": name, "extra_specs": REPLICATED}})  # fmt: skip
    assert r.status_code == 200, r.text


def _two_hosts(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.11")
    cloud.register("s2", export_address="192.0.2.12")


def _mirror(cloud: VolumeCloud, volume_id: str, status: str) -> list[str]:
    body = {"replication": [{"id": volume_id, "replication_status": status}]}
    r = cloud.c.post("/internal/v1/storage-reports", headers=cloud.admin, json=body)
    assert r.status_code == 200, r.text
    changed: list[str] = r.json()["changed"]
    return changed


def _stored(cloud: VolumeCloud, host: str) -> dict[str, dict[str, Any]]:
    with cloud.rt.db.read_session() as s:
        return {o["id"]: o for o in events.storage_objects(s, {host})}


@pytest.mark.parametrize(
    ("current", "reported", "new"),
    [
        ("enabling", "enabled", "enabled"),
        ("enabling", "error", "error"),
        ("enabled", "error", "error"),
        ("error", "enabled", "enabled"),
        ("enabled", "enabled", None),
        ("failed-over", "enabled", None),
        ("disabled", "enabled", None),
        ("enabled", "failed-over", None),
    ],
)
def test_status_machine(current: str, reported: str, new: str | None) -> None:
    assert next_status(current, reported) == new


def test_no_second_host_puts_the_volume_in_error_with_a_message(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    _type(cloud)
    h = cloud.member("alice")
    v = cloud.create(h, volume_type="replicated")
    assert v["status"] == "error"
    r = cloud.req("GET", f"/messages?resource_uuid={v['id']}", h, version="3.3")
    (m,) = r.json()["messages"]
    assert "replica of this replicated 1 GiB volume" in m["user_message"]
    assert "s1@file#p1: it is on the primary's storage host" in m["user_message"]


def test_replicated_volume_is_placed_on_two_hosts_and_mirrored(cloud: VolumeCloud) -> None:
    _two_hosts(cloud)
    _type(cloud)
    h = cloud.member("alice")
    plain = cloud.available(h)
    assert plain["replication_status"] == "disabled"
    v = cloud.create(h, volume_type="replicated")
    assert v["status"] == "creating" and v["replication_status"] == "enabling"
    primary = cloud.show(cloud.admin, v["id"])["os-vol-host-attr:host"].split("@")[0]
    other = {"s1": "s2", "s2": "s1"}[primary]
    # both hosts are told: the primary with the replica's endpoint, the replica's host too
    mine, theirs = _stored(cloud, primary)[v["id"]], _stored(cloud, other)[v["id"]]
    assert mine == theirs
    assert mine["replica"]["host"] == other and mine["replica"]["pool"] == "p1"
    assert mine["replica"]["address"] == {"s1": "192.0.2.11", "s2": "192.0.2.12"}[other]
    assert mine["primary"]["host"] == primary
    assert (
        plain["id"] not in _stored(cloud, other)
        or _stored(cloud, other)[plain["id"]]["storage_host"] == other
    )
    # the replica's pool counts the volume as provisioned
    pools = cloud.req("GET", "/scheduler-stats/get_pools?detail=true", cloud.admin).json()
    allocated = {p["name"]: p["capabilities"]["allocated_capacity_gb"] for p in pools["pools"]}
    assert allocated[f"{other}@file#p1"] >= 1

    assert cloud.report(volumes=[(v["id"], "available")]) == [v["id"]]
    assert _mirror(cloud, v["id"], "enabled") == [v["id"]]
    assert cloud.show(h, v["id"])["replication_status"] == "enabled"
    assert _mirror(cloud, v["id"], "enabled") == []  # settled: nothing changes
    assert _mirror(cloud, v["id"], "error") == [v["id"]]
    assert cloud.show(h, v["id"])["replication_status"] == "error"
    r = cloud.c.post("/internal/v1/storage-reports", headers=cloud.admin,
                     json={"replication": [{"id": v["id"]}]})  # fmt: skip
    assert r.status_code == 400 and "replication" in r.json()["NeutronError"]["message"]


def test_failover_promotes_the_replicas_of_the_failed_host(cloud: VolumeCloud) -> None:
    _two_hosts(cloud)
    _type(cloud)
    h = cloud.member("alice")
    vols = []
    while len(vols) < 2:  # two replicated volumes whose primary is s1
        v = cloud.available(h, volume_type="replicated")
        if cloud.show(cloud.admin, v["id"])["os-vol-host-attr:host"].startswith("s1@"):
            vols.append(v)
        _mirror(cloud, v["id"], "enabled")
    plain = next(
        v
        for v in iter(lambda: cloud.available(h), None)
        if cloud.show(cloud.admin, v["id"])["os-vol-host-attr:host"].startswith("s1@")
    )
    r = cloud.req("POST", "/attachments", h, {"attachment": {
        "volume_uuid": vols[0]["id"], "instance_uuid": "0b7d3c1e-0000-4000-8000-000000000001",
        "connector": {"host": "compute1"}}}, "3.27")  # fmt: skip
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["connection_info"]["data"]["host"] == "192.0.2.11"

    # admins only, with Cinder's fault bodies
    r = cloud.req("PUT", "/os-services/failover_host", h, {"host": "s1@file"})
    assert r.status_code == 403 and r.json()["forbidden"]["code"] == 403
    r = cloud.req("PUT", "/os-services/failover_host", cloud.admin, {"host": "nowhere@file"})
    assert r.status_code == 404 and "nowhere@file" in r.json()["itemNotFound"]["message"]
    r = cloud.req("PUT", "/os-services/failover_host", cloud.admin,
                  {"host": "s1@file", "backend_id": "default"})  # fmt: skip
    assert r.status_code == 400 and "not failed over" in r.json()["badRequest"]["message"]
    r = cloud.req("PUT", "/os-services/failover_host", cloud.admin,
                  {"host": "s1@file", "backend_id": "s1"})  # fmt: skip
    assert r.status_code == 400 and "badRequest" in r.json()
    r = cloud.req("PUT", "/os-services/failover_host", cloud.admin, {})
    assert r.status_code == 400 and "badRequest" in r.json()
    r = cloud.req("PUT", "/os-services/failover", cloud.admin, {"host": "s1@file",
                                                                 "cluster": "c1"})  # fmt: skip
    assert r.status_code == 400 and "cluster" in r.json()["badRequest"]["message"]

    r = cloud.req("PUT", "/os-services/failover", cloud.admin,
                  {"host": "s1@file", "backend_id": "s2"}, "3.26")  # fmt: skip
    assert r.status_code == 202, r.text
    for v in vols:
        shown = cloud.show(cloud.admin, v["id"])
        assert shown["replication_status"] == "failed-over"
        assert shown["os-vol-host-attr:host"] == "s2@file#p1"
    assert cloud.show(cloud.admin, plain["id"])["os-vol-host-attr:host"] == "s1@file#p1"
    assert cloud.show(cloud.admin, plain["id"])["replication_status"] == "disabled"
    r = cloud.req("GET", f"/attachments/{att['id']}", h, version="3.27")
    assert r.json()["attachment"]["connection_info"]["data"]["host"] == "192.0.2.12"
    # the new primary is told to export the attachment; the failed host no longer
    assert _stored(cloud, "s2")[att["id"]]["storage_host"] == "s2"
    assert (
        att["id"] not in _stored(cloud, "s1")
        or _stored(cloud, "s1")[att["id"]]["storage_host"] == "s2"
    )
    # a mirror report from the failed host changes nothing any more
    assert _mirror(cloud, vols[0]["id"], "enabled") == []

    services = cloud.req("GET", "/os-services", cloud.admin).json()["services"]
    by_host = {s["host"]: s for s in services if s["binary"] == "cinder-volume"}
    assert by_host["s1@file"]["replication_status"] == "failed-over"
    assert by_host["s1@file"]["active_backend_id"] == "s2"
    assert by_host["s1@file"]["status"] == "disabled"
    assert by_host["s2@file"]["replication_status"] == "enabled"
    assert by_host["s2@file"]["active_backend_id"] is None
    r = cloud.req("PUT", "/os-services/failover_host", cloud.admin, {"host": "s1@file"})
    assert r.status_code == 400 and "failed over already" in r.json()["badRequest"]["message"]

    # fail back: s1 is back; each volume is mirrored back from s2 onto s1's file
    # (failing-back), and switches when s2 reports that mirror in step
    cloud.register("s1", export_address="192.0.2.11")
    r = cloud.req("PUT", "/os-services/failover_host", cloud.admin,
                  {"host": "s1@file", "backend_id": "default"})  # fmt: skip
    assert r.status_code == 202, r.text
    for v in vols:
        shown = cloud.show(cloud.admin, v["id"])
        assert shown["replication_status"] == "failing-back"
        assert shown["os-vol-host-attr:host"] == "s2@file#p1"  # still served by s2
        held = _stored(cloud, "s1")[v["id"]]
        assert held["replica"]["host"] == "s1" and held["storage_host"] == "s2"
    assert _mirror(cloud, vols[0]["id"], "error") == []  # only "in step" moves it
    assert _mirror(cloud, vols[0]["id"], "enabled") == [vols[0]["id"]]
    shown = cloud.show(cloud.admin, vols[0]["id"])
    assert shown["os-vol-host-attr:host"] == "s1@file#p1"
    assert shown["replication_status"] == "enabling"  # now mirrored from s1 to s2
    assert _stored(cloud, "s2")[vols[0]["id"]]["replica"]["host"] == "s2"
    r = cloud.req("GET", f"/attachments/{att['id']}", h, version="3.27")
    assert r.json()["attachment"]["connection_info"]["data"]["host"] == "192.0.2.11"
    assert _stored(cloud, "s1")[att["id"]]["storage_host"] == "s1"
    services = cloud.req("GET", "/os-services", cloud.admin).json()["services"]
    by_host = {s["host"]: s for s in services if s["binary"] == "cinder-volume"}
    assert by_host["s1@file"]["active_backend_id"] == "s2"  # one volume still failing back
    assert _mirror(cloud, vols[1]["id"], "enabled") == [vols[1]["id"]]
    services = cloud.req("GET", "/os-services", cloud.admin).json()["services"]
    by_host = {s["host"]: s for s in services if s["binary"] == "cinder-volume"}
    assert by_host["s1@file"]["active_backend_id"] is None
    assert by_host["s1@file"]["status"] == "enabled"
    assert by_host["s1@file"]["replication_status"] == "enabled"
    assert _mirror(cloud, vols[0]["id"], "enabled") == [vols[0]["id"]]
    assert cloud.show(cloud.admin, vols[0]["id"])["replication_status"] == "enabled"


def test_a_replicated_volume_extends_on_both_hosts(cloud: VolumeCloud) -> None:
    _two_hosts(cloud)
    _type(cloud)
    h = cloud.member("alice")
    v = cloud.available(h, volume_type="replicated")
    _mirror(cloud, v["id"], "enabled")
    r = cloud.action(h, v["id"], {"os-extend": {"new_size": 3}})
    assert r.status_code == 202, r.text
    for host in ("s1", "s2"):  # the primary grows the volume, the replica's host the replica
        held = _stored(cloud, host)[v["id"]]
        assert held["status"] == "extending" and held["task"]["size"] == 3
    assert cloud.report(volumes=[(v["id"], "available")]) == [v["id"]]
    assert cloud.show(h, v["id"])["size"] == 3


def test_retype_turns_replication_on_and_off(cloud: VolumeCloud) -> None:
    _two_hosts(cloud)
    _type(cloud)
    h = cloud.member("alice")
    v = cloud.available(h)
    primary = cloud.show(cloud.admin, v["id"])["os-vol-host-attr:host"].split("@")[0]
    other = "s2" if primary == "s1" else "s1"
    assert v["id"] not in _stored(cloud, other)
    r = cloud.action(h, v["id"], {"os-retype": {"new_type": "replicated"}})
    assert r.status_code == 202, r.text
    shown = cloud.show(cloud.admin, v["id"])
    assert shown["replication_status"] == "enabling" and shown["volume_type"] == "replicated"
    assert shown["os-vol-host-attr:host"].startswith(f"{primary}@")  # the data stays put
    assert _stored(cloud, other)[v["id"]]["replica"]["host"] == other  # a replica to make
    assert _mirror(cloud, v["id"], "enabled") == [v["id"]]
    r = cloud.action(h, v["id"], {"os-retype": {"new_type": "__DEFAULT__"}})
    assert r.status_code == 202, r.text
    shown = cloud.show(cloud.admin, v["id"])
    assert shown["replication_status"] == "disabled"
    assert v["id"] not in _stored(cloud, other)  # its host drops the replica
    assert "replica" not in _stored(cloud, primary)[v["id"]]  # the primary stops mirroring
    # one storage host: no replica can be placed (400), nothing changes
    cloud.req("PUT", "/os-services/disable", cloud.admin,
              {"host": f"{other}@file", "binary": "cinder-volume"})  # fmt: skip
    r = cloud.action(h, v["id"], {"os-retype": {"new_type": "replicated"}})
    assert r.status_code == 400 and "replica" in r.json()["badRequest"]["message"], r.text
    assert cloud.show(cloud.admin, v["id"])["volume_type"] == "__DEFAULT__"


def test_an_attached_replicated_volume_is_snapshotted(cloud: VolumeCloud) -> None:
    """(Its storage agent ends the mirror for the cut and starts it again:
    ``tests/volume/test_replicated_snapshot.py``.)"""
    _two_hosts(cloud)
    _type(cloud)
    h = cloud.member("alice")
    v = cloud.available(h, volume_type="replicated")
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"]}})
    assert r.status_code == 202, r.text  # detached: the agent copies it
    r = cloud.req("POST", "/attachments", h, {"attachment": {
        "volume_uuid": v["id"], "instance_uuid": "0b7d3c1e-0000-4000-8000-000000000002",
        "connector": {"host": "compute1"}}}, "3.27")  # fmt: skip
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]["id"]
    r = cloud.req("POST", f"/attachments/{att}/action", h, {"os-complete": None}, "3.44")
    assert r.status_code == 204, r.text
    r = cloud.req("POST", "/snapshots", h, {"snapshot": {"volume_id": v["id"], "force": True}})
    assert r.status_code == 202, r.text
    assert r.json()["snapshot"]["status"] == "creating"
