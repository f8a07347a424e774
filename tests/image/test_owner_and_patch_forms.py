"""An image's owner given at create or by patch (admins only for another
project), and the older patch form Glance also takes (v2.0 json-patch)."""

from __future__ import annotations

from tests.image.conftest import G, ImageCloud

V20 = {"Content-Type": "application/openstack-images-v2.0-json-patch"}


def test_owner_param(cloud: ImageCloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    bob_project = cloud.create(bob, name="mine")["owner"]
    made = cloud.create(cloud.admin, name="given", owner=bob_project)
    assert made["owner"] == bob_project
    r = cloud.c.post(f"{G}/images", headers=alice, json={"name": "x", "owner": bob_project})
    assert r.status_code == 403
    other = cloud.create(cloud.admin, name="moved")
    r = cloud.patch(cloud.admin, other["id"], [{"op": "replace", "path": "/owner",
                                                "value": bob_project}])  # fmt: skip
    assert r.status_code == 200 and r.json()["owner"] == bob_project
    own = cloud.create(alice, name="a")
    r = cloud.patch(alice, own["id"], [{"op": "replace", "path": "/owner", "value": bob_project}])
    assert r.status_code == 403


def test_v20_patch_form(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="old")
    ops = [{"replace": "/name", "value": "new"}, {"add": "/color", "value": "blue"}]
    r = cloud.c.patch(f"{G}/images/{image['id']}", headers={**alice, **V20}, json=ops)
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["color"]) == ("new", "blue")
    r = cloud.c.patch(f"{G}/images/{image['id']}", headers={**alice, **V20},
                      json=[{"remove": "/color"}])  # fmt: skip
    assert r.status_code == 200 and "color" not in r.json()


def test_an_empty_image_id_is_not_found(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    assert cloud.c.get(f"{G}/images/", headers=alice).status_code == 404
    assert cloud.c.delete(f"{G}/images/", headers=alice).status_code == 404
