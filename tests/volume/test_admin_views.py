"""os-hosts, capabilities, extensions, the volume summary, and answers shaped
as Cinder's (type updates, group specs, services refusals, empty ids)."""

from __future__ import annotations

from tests.volume.conftest import VolumeCloud


def test_hosts_capabilities_and_extensions(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    cloud.available(h, size=3)
    a = cloud.admin
    hosts = cloud.req("GET", "/os-hosts", a).json()["hosts"]
    assert {(x["service"], x["host_name"]) for x in hosts} >= {("cinder-volume", "s1@file")}
    mine = next(x for x in hosts if x["host_name"] == "s1@file")
    assert mine["service-state"] == "enabled" and mine["service-status"] == "available"
    rows = cloud.req("GET", "/os-hosts/s1@file", a).json()["host"]
    total = rows[0]["resource"]
    assert total["project"] == "(total)" and total["volume_count"] == "1"
    assert total["total_volume_gb"] == "3"
    assert rows[1]["resource"]["project"] == cloud.projects["alice"]
    assert cloud.req("GET", "/os-hosts/nowhere@file", a).status_code == 404
    assert cloud.req("GET", "/os-hosts", h).status_code == 403
    pool = cloud.req("GET", "/scheduler-stats/get_pools?detail=true", a).json()["pools"][0]
    caps = cloud.req("GET", f"/capabilities/{pool['name'].replace('#', '%23')}", a).json()
    assert caps["volume_backend_name"] == pool["capabilities"]["volume_backend_name"]
    assert caps["storage_protocol"] == pool["capabilities"]["storage_protocol"]
    assert caps["namespace"].startswith("OS::Storage::Capabilities::")
    assert cloud.req("GET", "/capabilities/nowhere", a).status_code == 404
    names = {x["name"] for x in cloud.req("GET", "/extensions", h).json()["extensions"]}
    assert {"Hosts", "VolumeTransfer", "Qos_specs_manage"} <= names


def test_volume_summary_and_empty_ids(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    cloud.available(h, size=2, metadata={"tier": "a"})
    cloud.available(h, size=3, metadata={"tier": "b"})
    cloud.available(cloud.member("bob"), size=5)
    assert cloud.req("GET", "/volumes/summary", h, version="3.11").status_code == 404
    r = cloud.req("GET", "/volumes/summary", h, version="3.12")
    assert r.json() == {"volume-summary": {"total_size": 5, "total_count": 2}}
    r = cloud.req("GET", "/volumes/summary", h, version="3.36")
    assert r.json()["volume-summary"]["metadata"] == {"tier": ["a", "b"]}
    r = cloud.req("GET", "/volumes/summary?all_tenants=1", cloud.admin, version="3.12")
    assert r.json()["volume-summary"]["total_count"] == 3
    for method in ("GET", "PUT", "DELETE"):
        assert cloud.req(method, "/volumes/", h, {"volume": {}}).status_code == 404


def test_answers_shaped_as_cinders(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    a = cloud.admin
    t = cloud.req("POST", "/types", a, {"volume_type": {"name": "t"}}).json()["volume_type"]
    r = cloud.req("PUT", f"/types/{t['id']}", a, {"volume_type": {"description": "d"}})
    assert set(r.json()["volume_type"]) == {"id", "name", "description", "is_public", "extra_specs"}
    # group specs: the answer is what was set; group types sort by name
    for name in ("gb", "ga"):
        cloud.req("POST", "/group_types", a, {"group_type": {"name": name}}, version="3.11")
    gt = cloud.req("GET", "/group_types?sort=name:asc", a, version="3.11").json()["group_types"]
    assert [g["name"] for g in gt if g["name"] in ("ga", "gb")] == ["ga", "gb"]
    gt = cloud.req("GET", "/group_types?sort=name:desc", a, version="3.11").json()["group_types"]
    assert [g["name"] for g in gt if g["name"] in ("ga", "gb")] == ["gb", "ga"]
    url = f"/group_types/{gt[0]['id']}/group_specs"
    cloud.req("POST", url, a, {"group_specs": {"k1": "v1", "k2": "v2"}}, version="3.11")
    r = cloud.req("POST", url, a, {"group_specs": {"k2": "v2b"}}, version="3.11")
    assert r.json() == {"group_specs": {"k2": "v2b"}}
    # services: an unknown host or binary is a 404; freeze and thaw are refused with a 400
    r = cloud.req("PUT", "/os-services/enable", a, {"host": "nowhere", "binary": "cinder-volume"})
    assert r.status_code == 404
    r = cloud.req("PUT", "/os-services/disable", a, {"host": "s1@file", "binary": "nonsense"})
    assert r.status_code == 404
    r = cloud.req("PUT", "/os-services/disable-log-reason", a,
                  {"host": "s1@file", "binary": "cinder-volume"})  # fmt: skip
    assert r.status_code == 400  # no reason
    r = cloud.req(
        "PUT", "/os-services/disable", a, {"host": "kumo-api", "binary": "cinder-scheduler"}
    )
    assert r.status_code == 400  # the scheduler runs in every API server
    # a type's extra specs: the answer is what was set too
    url = f"/types/{t['id']}/extra_specs"
    cloud.req("POST", url, a, {"extra_specs": {"s1": "v1"}})
    assert cloud.req("POST", url, a, {"extra_specs": {"s2": "v2"}}).json() == {
        "extra_specs": {"s2": "v2"}
    }
    for action in ("freeze", "thaw"):
        assert cloud.req("PUT", f"/os-services/{action}", a, {"host": "nowhere"}).status_code == 400
        assert cloud.req("PUT", f"/os-services/{action}", a, {"host": "s1@file"}).status_code == 400


def test_types_may_ask_for_the_backends_vendor_and_protocol(cloud: VolumeCloud) -> None:
    cloud.register("s1")
    specs = {"storage_protocol": "nbd", "vendor_name": "kumo"}
    r = cloud.req(
        "POST", "/types", cloud.admin, {"volume_type": {"name": "k", "extra_specs": specs}}
    )
    assert r.status_code == 200, r.text
    v = cloud.create(cloud.member("alice"), volume_type="k")
    assert v["status"] == "creating"  # placed, not error
