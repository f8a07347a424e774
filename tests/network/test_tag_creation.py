"""tag-creation: ``tags`` in a create body tag the new resource."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_tags_given_on_create(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    h = cloud.admin
    net = cloud.post(alice, "/networks", {"network": {"tags": ["b", "a", "a"]}})["network"]
    assert net["tags"] == ["a", "b"]
    shown = cloud.c.get(f"{N}/networks/{net['id']}/tags", headers=alice).json()
    assert sorted(shown["tags"]) == ["a", "b"]
    sub = cloud.post(alice, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                     "cidr": "10.0.0.0/24", "tags": ["s"]}})["subnet"]  # fmt: skip
    port = cloud.post(alice, "/ports", {"port": {"network_id": net["id"], "tags": ["p"]}})["port"]
    sg = cloud.post(alice, "/security-groups", {"security_group": {"name": "g",
                    "tags": ["g"]}})["security_group"]  # fmt: skip
    ext = cloud.post(h, "/networks", {"network": {"router:external": True}})["network"]
    cloud.post(h, "/subnets", {"subnet": {"network_id": ext["id"], "ip_version": 4,
               "cidr": "203.0.113.0/24"}})  # fmt: skip
    router = cloud.post(alice, "/routers", {"router": {"tags": ["r"]}})["router"]
    fip = cloud.post(alice, "/floatingips", {"floatingip": {
        "floating_network_id": ext["id"], "tags": ["f"]}})["floatingip"]  # fmt: skip
    made = {"subnets": sub, "ports": port, "security-groups": sg, "routers": router,
            "floatingips": fip}  # fmt: skip
    for collection, obj in made.items():
        r = cloud.c.get(f"{N}/{collection}/{obj['id']}", headers=alice)
        assert r.status_code == 200, r.text
        (body,) = r.json().values()
        assert body["tags"] == obj["tags"] and len(body["tags"]) == 1, collection
    tagged = cloud.c.get(f"{N}/ports?tags=p", headers=alice).json()["ports"]
    assert [p["id"] for p in tagged] == [port["id"]]
    # invalid tags refuse the whole create
    for bad in ("notalist", ["a,b"], [""], [5]):
        r = cloud.c.post(f"{N}/networks", headers=alice, json={"network": {"tags": bad}})
        assert r.status_code == 400, r.text
    names = [n["id"] for n in cloud.c.get(f"{N}/networks", headers=alice).json()["networks"]]
    assert sorted(names) == sorted([net["id"], ext["id"]])  # the external one is visible
    # tags change through /tags, not an update
    r = cloud.c.put(f"{N}/ports/{port['id']}", headers=alice, json={"port": {"tags": ["x"]}})
    assert r.status_code == 400
    exts = {e["alias"] for e in cloud.c.get(N + "/extensions", headers=alice).json()["extensions"]}
    assert "tag-creation" in exts
