"""QoS specs: create, show, list, keys, associations with volume types, delete."""

from __future__ import annotations

from tests.volume.conftest import VolumeCloud


def test_qos_specs_lifecycle_and_associations(cloud: VolumeCloud) -> None:
    a = cloud.admin
    r = cloud.req("POST", "/qos-specs", a,
                  {"qos_specs": {"name": "gold", "consumer": "front-end", "read_iops_sec": "2000"}})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    q = body["qos_specs"]
    assert q["name"] == "gold" and q["consumer"] == "front-end"
    assert q["specs"] == {"read_iops_sec": "2000"}
    assert body["links"][0]["href"].endswith(f"/v3/qos-specs/{q['id']}")
    # a second one of the same name is a conflict; a bad consumer a 400
    assert cloud.req("POST", "/qos-specs", a, {"qos_specs": {"name": "gold"}}).status_code == 409
    bad = {"qos_specs": {"name": "x", "consumer": "middle"}}
    assert cloud.req("POST", "/qos-specs", a, bad).status_code == 400
    default = cloud.req("POST", "/qos-specs", a, {"qos_specs": {"name": "plain"}}).json()
    assert default["qos_specs"]["consumer"] == "back-end"
    listed = cloud.req("GET", "/qos-specs", a).json()["qos_specs"]
    assert q in listed and len(listed) == 2
    # keys: set answers what it set; unset removes; an unknown key is a 404
    r = cloud.req("PUT", f"/qos-specs/{q['id']}", a, {"qos_specs": {"iops_bytes": "500"}})
    assert r.status_code == 200 and r.json() == {"qos_specs": {"iops_bytes": "500"}}
    specs = cloud.req("GET", f"/qos-specs/{q['id']}", a).json()["qos_specs"]["specs"]
    assert specs == {"read_iops_sec": "2000", "iops_bytes": "500"}
    r = cloud.req("PUT", f"/qos-specs/{q['id']}/delete_keys", a, {"keys": ["iops_bytes"]})
    assert r.status_code == 202
    r = cloud.req("PUT", f"/qos-specs/{q['id']}/delete_keys", a, {"keys": ["iops_bytes"]})
    assert r.status_code == 404
    # associations: a type shows its specs' id; one type, one QoS specs
    t1 = cloud.req("POST", "/types", a, {"volume_type": {"name": "t1"}}).json()["volume_type"]
    t2 = cloud.req("POST", "/types", a, {"volume_type": {"name": "t2"}}).json()["volume_type"]
    for t in (t1, t2):
        r = cloud.req("GET", f"/qos-specs/{q['id']}/associate?vol_type_id={t['id']}", a)
        assert r.status_code == 202, r.text
    other = default["qos_specs"]["id"]
    r = cloud.req("GET", f"/qos-specs/{other}/associate?vol_type_id={t1['id']}", a)
    assert r.status_code == 400
    assert (
        cloud.req("GET", f"/types/{t1['id']}", a).json()["volume_type"]["qos_specs_id"] == q["id"]
    )
    assoc = cloud.req("GET", f"/qos-specs/{q['id']}/associations", a).json()["qos_associations"]
    assert sorted(x["id"] for x in assoc) == sorted([t1["id"], t2["id"]])
    assert {x["association_type"] for x in assoc} == {"volume_type"}
    # in use: delete refused unless forced
    assert cloud.req("DELETE", f"/qos-specs/{q['id']}", a).status_code == 400
    r = cloud.req("GET", f"/qos-specs/{q['id']}/disassociate?vol_type_id={t1['id']}", a)
    assert r.status_code == 202
    assert cloud.req("GET", f"/types/{t1['id']}", a).json()["volume_type"]["qos_specs_id"] is None
    assert cloud.req("GET", f"/qos-specs/{q['id']}/disassociate_all", a).status_code == 202
    assert (
        cloud.req("GET", f"/qos-specs/{q['id']}/associations", a).json()["qos_associations"] == []
    )
    cloud.req("GET", f"/qos-specs/{q['id']}/associate?vol_type_id={t2['id']}", a)
    assert cloud.req("DELETE", f"/qos-specs/{q['id']}?force=True", a).status_code == 202
    assert cloud.req("GET", f"/qos-specs/{q['id']}", a).status_code == 404
    assert cloud.req("GET", f"/types/{t2['id']}", a).json()["volume_type"]["qos_specs_id"] is None
    # members may not
    h = cloud.member("alice")
    assert cloud.req("GET", "/qos-specs", h).status_code == 403
    assert cloud.req("POST", "/qos-specs", h, {"qos_specs": {"name": "m"}}).status_code == 403


def test_an_attachment_carries_its_types_front_end_limits(cloud: VolumeCloud) -> None:
    """The compute host learns the limits from the attachment it plugs
    (``kumo.volume.throttle``): per-GB keys scaled by the volume's size."""
    a = cloud.admin
    q = cloud.req("POST", "/qos-specs", a, {"qos_specs": {
        "name": "capped", "consumer": "front-end", "total_bytes_sec": "4194304",
        "read_iops_sec_per_gb": "10"}}).json()["qos_specs"]  # fmt: skip
    t = cloud.req("POST", "/types", a, {"volume_type": {"name": "capped"}}).json()["volume_type"]
    r = cloud.req("GET", f"/qos-specs/{q['id']}/associate?vol_type_id={t['id']}", a)
    assert r.status_code == 202, r.text
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    v = cloud.available(h, size=3, volume_type="capped")
    body = {"attachment": {"volume_uuid": v["id"], "instance_uuid": "i-1",
                           "connector": {"host": "host1", "mountpoint": "/dev/vdb"}}}  # fmt: skip
    assert cloud.req("POST", "/attachments", h, body, version="3.44").status_code == 200
    r = cloud.c.get("/internal/v1/list", params={"topics": "storage:host1"}, headers=a)
    (told,) = [o for o in r.json()["objects"] if o["kind"] == "volume_attachment"]
    assert told["qos"] == {"bps-total": 4194304, "iops-read": 30}
