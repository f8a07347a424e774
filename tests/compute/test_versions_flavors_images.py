"""Version documents, microversion negotiation, flavors and images."""

from __future__ import annotations

from tests.compute.conftest import C, Cloud


def test_version_documents(cloud: Cloud) -> None:
    r = cloud.c.get("/compute")
    assert r.status_code == 200
    v20, v21 = r.json()["versions"]  # Nova lists the legacy v2.0 first
    assert (v20["id"], v20["status"], v20["version"]) == ("v2.0", "SUPPORTED", "")
    assert (v21["id"], v21["min_version"], v21["version"]) == ("v2.1", "2.1", "2.79")
    r = cloud.c.get("/compute/v2.1/")
    assert r.json()["version"]["status"] == "CURRENT"
    for v in (v20, v21):  # every self link answers that version's own document
        (link,) = [x for x in v["links"] if x["rel"] == "self"]
        r = cloud.c.get(link["href"].split("testserver", 1)[1])
        assert r.status_code == 200, r.text
        assert r.json()["version"]["id"] == v["id"]
        assert [x for x in r.json()["version"]["links"] if x["rel"] == "self"] == [link]


def test_microversion_negotiation(cloud: Cloud) -> None:
    h = cloud.admin
    r = cloud.c.get(C + "/flavors", headers=h)
    assert r.headers["OpenStack-API-Version"] == "compute 2.1"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    r = cloud.c.get(C + "/flavors", headers={**h, "OpenStack-API-Version": "compute latest"})
    assert r.headers["OpenStack-API-Version"] == "compute 2.79"
    r = cloud.c.get(C + "/flavors", headers={**h, "X-OpenStack-Nova-API-Version": "2.47"})
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.47"
    # the new header wins; one naming another service asks for nothing
    r = cloud.c.get(
        C + "/flavors",
        headers={
            **h,
            "OpenStack-API-Version": "compute 2.60",
            "X-OpenStack-Nova-API-Version": "2.3",
        },
    )
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.60"
    r = cloud.c.get(C + "/flavors", headers={**h, "OpenStack-API-Version": "volume 3.5"})
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    for bad in ("2.80", "3.0", "2.0"):
        r = cloud.c.get(C + "/flavors", headers={**h, "OpenStack-API-Version": f"compute {bad}"})
        assert r.status_code == 406
        assert "maximum is 2.79" in r.json()["computeFault"]["message"]
    r = cloud.c.get(C + "/flavors", headers={**h, "OpenStack-API-Version": "compute 2.x"})
    assert r.status_code == 400
    assert "invalid format" in r.json()["badRequest"]["message"]


def test_default_flavors_and_microversioned_fields(cloud: Cloud) -> None:
    flavors = cloud.get(cloud.admin, "/flavors/detail")["flavors"]
    tiny = next(f for f in flavors if f["name"] == "m1.tiny")
    assert (tiny["ram"], tiny["vcpus"], tiny["disk"]) == (512, 1, 1)
    assert tiny["os-flavor-access:is_public"] is True
    assert tiny["extra_specs"] == {} and "description" in tiny
    assert {f["name"] for f in flavors} >= {"m1.tiny", "m1.small", "m1.medium"}
    old = cloud.get(cloud.admin, "/flavors/1", version="2.1")["flavor"]
    assert "description" not in old and "extra_specs" not in old and old["swap"] == ""
    brief = cloud.get(cloud.admin, "/flavors")["flavors"][0]
    assert set(brief) == {"id", "name", "links", "description"}
    r = cloud.get(cloud.admin, "/flavors/nope", status=404)
    assert r["itemNotFound"]["code"] == 404
    page = cloud.get(cloud.admin, "/flavors?limit=2")
    assert len(page["flavors"]) == 2 and page["flavors_links"][0]["rel"] == "next"
    rest = cloud.get(cloud.admin, f"/flavors?marker={page['flavors'][1]['id']}")["flavors"]
    assert [f["id"] for f in rest] == ["3"]
    cloud.get(cloud.admin, "/flavors?marker=zzz", status=400)


def test_flavor_admin_create_delete_and_access(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    body = {"flavor": {"name": "x1", "ram": 128, "vcpus": 1, "disk": 0}}
    r = cloud.post(alice, "/flavors", body, status=403)
    assert r["forbidden"]["code"] == 403
    made = cloud.post(cloud.admin, "/flavors", body, status=200)["flavor"]
    cloud.post(cloud.admin, "/flavors", body, status=409)
    cloud.post(
        cloud.admin,
        "/flavors",
        {"flavor": {"name": "bad", "ram": 0, "vcpus": 1, "disk": 0}},
        status=400,
    )
    private = {
        "flavor": {
            "name": "p1",
            "ram": 64,
            "vcpus": 1,
            "disk": 0,
            "os-flavor-access:is_public": False,
        }
    }
    p1 = cloud.post(cloud.admin, "/flavors", private, status=200)["flavor"]
    assert "p1" not in {f["name"] for f in cloud.get(alice, "/flavors")["flavors"]}
    cloud.get(alice, f"/flavors/{p1['id']}", status=404)
    cloud.post(
        cloud.admin,
        f"/flavors/{p1['id']}/action",
        {"addTenantAccess": {"tenant": cloud.projects["alice"]}},
        status=200,
    )
    cloud.get(alice, f"/flavors/{p1['id']}")
    assert "p1" in {f["name"] for f in cloud.get(cloud.admin, "/flavors?is_public=None")["flavors"]}
    cloud.call("DELETE", alice, f"/flavors/{made['id']}", status=403)
    cloud.call("DELETE", cloud.admin, f"/flavors/{made['id']}", status=202)
    cloud.get(cloud.admin, f"/flavors/{made['id']}", status=404)


def test_images(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    assert cloud.c.get("/image").status_code == 300
    assert cloud.c.get("/image/versions").json()["versions"]
    images = cloud.c.get("/image/v2/images", headers=alice).json()["images"]
    (busybox,) = images
    assert busybox["name"] == "busybox" and busybox["status"] == "active"
    assert (busybox["container_format"], busybox["disk_format"]) == ("bare", "raw")
    assert busybox["visibility"] == "public"
    assert busybox["kumo_instance_type"] == "namespace"
    assert (
        cloud.c.get(f"/image/v2/images/{busybox['id']}", headers=alice).json()["id"]
        == busybox["id"]
    )
    assert cloud.c.get("/image/v2/images/nope", headers=alice).status_code == 404
    r = cloud.c.post(
        "/image/v2/images", headers=alice, json={"name": "pub", "visibility": "public"}
    )
    assert r.status_code == 403
    r = cloud.c.post(
        "/image/v2/images",
        headers=alice,
        json={
            "name": "mine",
            "visibility": "private",
            "container_format": "bare",
            "disk_format": "raw",
            "purpose": "test",
        },
    )
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["status"] == "queued" and mine["purpose"] == "test"
    bob = cloud.member("bob")
    assert cloud.c.get(f"/image/v2/images/{mine['id']}", headers=bob).status_code == 404
    r = cloud.c.put(
        f"/image/v2/images/{mine['id']}/file",
        headers={**alice, "Content-Type": "application/octet-stream"},
        content=b"hello",
    )
    assert r.status_code == 204
    got = cloud.c.get(f"/image/v2/images/{mine['id']}", headers=alice).json()
    assert got["status"] == "active" and got["size"] == 5
    names = [
        i["name"]
        for i in cloud.c.get("/image/v2/images?status=active", headers=alice).json()["images"]
    ]
    assert sorted(names) == ["busybox", "mine"]
    assert [
        i["name"]
        for i in cloud.c.get("/image/v2/images?name=busybox", headers=alice).json()["images"]
    ] == ["busybox"]
    assert [
        i["name"]
        for i in cloud.c.get("/image/v2/images?visibility=private", headers=alice).json()["images"]
    ] == ["mine"]
    first = cloud.c.get("/image/v2/images?limit=1", headers=alice).json()
    assert len(first["images"]) == 1 and "marker=" in first["next"]
    r = cloud.c.patch(
        f"/image/v2/images/{mine['id']}",
        headers={**alice, "Content-Type": "application/openstack-images-v2.1-json-patch"},
        content=b'[{"op": "replace", "path": "/name", "value": "renamed"}]',
    )
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    assert (
        cloud.c.delete(f"/image/v2/images/{busybox['id']}", headers=cloud.admin).status_code == 403
    )
    assert cloud.c.delete(f"/image/v2/images/{mine['id']}", headers=bob).status_code == 404
    assert cloud.c.delete(f"/image/v2/images/{mine['id']}", headers=alice).status_code == 204


def test_image_values_are_checked_before_they_are_stored(cloud: Cloud) -> None:
    # Each of these was a 500 (OverflowError at the database, ValueError, TypeError).
    alice = cloud.member("alice")
    for body in (
        {"name": "a", "min_ram": 2**70},
        {"name": "a", "min_disk": None, "min_ram": "x"},
        {"name": "a", "min_disk": -1},
        {"name": "a", "tags": "t"},
    ):
        r = cloud.c.post("/image/v2/images", headers=alice, json=body)
        assert r.status_code == 400 and "badRequest" in r.json(), (body, r.text)
    made = cloud.c.post("/image/v2/images", headers=alice, json={"name": "a", "min_ram": 64})
    assert made.status_code == 201 and made.json()["min_disk"] == 0, made.text
    image = made.json()["id"]
    patch = {**alice, "Content-Type": "application/openstack-images-v2.1-json-patch"}
    for op in (
        {"op": "replace", "path": "/min_ram", "value": "x"},
        {"op": "replace", "path": "/min_disk", "value": 2**64},
        {"op": "replace", "path": "/tags", "value": [[]]},
        {"op": "replace", "path": "/tags", "value": 3},
        {"op": "replace", "path": "/name", "value": {"a": 1}},
        {"op": "replace", "path": "/disk_format", "value": "floppy"},
        {"op": "replace", "path": "/protected", "value": "no"},
    ):
        r = cloud.c.patch(f"/image/v2/images/{image}", headers=patch, json=[op])
        assert r.status_code == 400, (op, r.text)
    r = cloud.c.patch(
        f"/image/v2/images/{image}",
        headers=patch,
        json=[
            {"op": "replace", "path": "/min_ram", "value": 128},
            {"op": "replace", "path": "/tags", "value": ["b", "a", "b"]},
        ],
    )
    assert r.status_code == 200 and (r.json()["min_ram"], r.json()["tags"]) == (128, ["a", "b"])


def test_flavor_numbers_past_32_bits_are_refused(cloud: Cloud) -> None:
    # minDisk past 64 bits was a 500 (OverflowError binding the filter); so was
    # an rxtx_factor that is not a number.
    for query in ("minDisk=99999999999999999999999", "minRam=2147483648"):
        r = cloud.get(cloud.admin, f"/flavors?{query}", status=400)
        assert "greater than the maximum of 2147483647" in r["badRequest"]["message"]
    for extra in ({"ram": 2**31}, {"rxtx_factor": "x"}, {"rxtx_factor": 0}, {"rxtx_factor": []}):
        body = {"flavor": {"name": "big", "ram": 64, "vcpus": 1, "disk": 0, **extra}}
        cloud.post(cloud.admin, "/flavors", body, status=400)
    body = {"flavor": {"name": "ok", "ram": 64, "vcpus": 1, "disk": 0, "rxtx_factor": 2}}
    assert cloud.post(cloud.admin, "/flavors", body, status=200)["flavor"]["rxtx_factor"] == 2.0
