"""Sharing: a shared image is seen by its owner and its members only."""

from __future__ import annotations

from kumo.guestimage.bundle import DESCRIPTOR
from tests.image.conftest import G, ImageCloud


def test_a_shared_image_is_seen_by_members_only(cloud: ImageCloud) -> None:
    alice, bob, carol = cloud.member("alice"), cloud.member("bob"), cloud.member("carol")
    b = cloud.projects["bob"]
    image = cloud.create(alice, name="gift")  # visibility defaults to shared
    assert image["visibility"] == "shared"
    assert cloud.upload(alice, image["id"], b"payload").status_code == 204
    members = f"{G}/images/{image['id']}/members"

    # Not a member: not found, not listed, no data.
    cloud.show(bob, image["id"], status=404)
    assert "gift" not in cloud.names(bob)
    assert cloud.c.get(f"{G}/images/{image['id']}/file", headers=bob).status_code == 404

    # Only the owner adds members.
    r = cloud.c.post(members, headers=bob, json={"member": b})
    assert r.status_code == 404
    r = cloud.c.post(members, headers=alice, json={"member": b})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["member_id"] == b
    assert cloud.c.post(members, headers=alice, json={"member": b}).status_code == 409

    # A pending member sees the image by id, but it is not listed until accepted.
    assert cloud.show(bob, image["id"])["name"] == "gift"
    assert "gift" not in cloud.names(bob)
    assert "gift" in cloud.names(bob, "?member_status=pending")
    assert cloud.c.get(f"{G}/images/{image['id']}/file", headers=bob).content == b"payload"

    # The owner cannot answer for the member; the member cannot add others.
    r = cloud.c.put(f"{members}/{b}", headers=alice, json={"status": "accepted"})
    assert r.status_code == 403
    r = cloud.c.post(members, headers=bob, json={"member": cloud.projects["carol"]})
    assert r.status_code == 403
    r = cloud.c.put(f"{members}/{b}", headers=bob, json={"status": "maybe"})
    assert r.status_code == 400
    r = cloud.c.put(f"{members}/{b}", headers=bob, json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert "gift" in cloud.names(bob)
    assert "gift" in cloud.names(bob, "?visibility=shared")

    # The owner lists every member; a member sees its own membership only.
    c = cloud.projects["carol"]
    assert cloud.c.post(members, headers=alice, json={"member": c}).status_code == 200
    everyone = cloud.c.get(members, headers=alice).json()["members"]
    assert sorted(m["member_id"] for m in everyone) == sorted([b, c])
    mine = cloud.c.get(members, headers=bob).json()["members"]
    assert [m["member_id"] for m in mine] == [b]
    assert cloud.c.get(f"{members}/{c}", headers=bob).status_code == 404
    assert cloud.c.get(f"{members}/{b}", headers=bob).json()["status"] == "accepted"

    # A rejected image is hidden from the list again (but asked for, it is there).
    r = cloud.c.put(f"{members}/{c}", headers=carol, json={"status": "rejected"})
    assert r.status_code == 200
    assert "gift" not in cloud.names(carol)
    assert "gift" in cloud.names(carol, "?member_status=rejected")

    # Only the owner removes a member; then the image is gone for it.
    assert cloud.c.delete(f"{members}/{b}", headers=bob).status_code == 403
    assert cloud.c.delete(f"{members}/{b}", headers=alice).status_code == 204
    cloud.show(bob, image["id"], status=404)
    assert "gift" not in cloud.names(bob)


def test_only_shared_images_have_members(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    cloud.member("bob")
    image = cloud.create(alice, name="mine", visibility="private")
    members = f"{G}/images/{image['id']}/members"
    r = cloud.c.post(members, headers=alice, json={"member": cloud.projects["bob"]})
    assert r.status_code == 403 and "shared" in r.text
    assert cloud.c.get(members, headers=alice).status_code == 403
    r = cloud.c.post(members.replace(image["id"], "nope"), headers=alice, json={"member": "x"})
    assert r.status_code == 404


def test_a_member_of_a_shared_image_boots_from_it(cloud: ImageCloud) -> None:
    """Compute asks the same rule: a member may use the image, a stranger may not."""
    alice, bob, carol = cloud.member("alice"), cloud.member("bob"), cloud.member("carol")
    image = cloud.create(alice, name="base", min_ram=0)
    # data that starts like a guest bundle (compute refuses what cannot boot)
    bundle_head = DESCRIPTOR.encode().ljust(512, b"\0")
    assert cloud.upload(alice, image["id"], bundle_head).status_code == 204
    r = cloud.c.post(
        f"{G}/images/{image['id']}/members", headers=alice, json={"member": cloud.projects["bob"]}
    )
    assert r.status_code == 200
    server = {
        "server": {"name": "s", "imageRef": image["id"], "flavorRef": "1", "networks": "none"}
    }
    headers = {"OpenStack-API-Version": "compute 2.79"}
    r = cloud.c.post("/compute/v2.1/servers", headers={**carol, **headers}, json=server)
    assert r.status_code == 400 and "could not be found" in r.text
    r = cloud.c.post("/compute/v2.1/servers", headers={**bob, **headers}, json=server)
    assert r.status_code == 202, r.text
