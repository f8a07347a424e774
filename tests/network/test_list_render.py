"""Port lists render each port's JSON once per revision: a second list of
the same ports renders nothing again, a changed port renders anew, and the
body is byte for byte what rendering the whole list at once gives."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kumo.api.render import ItemJson, json_list_response, json_response
from tests.network.conftest import Cloud, N


def test_the_list_body_is_the_whole_list_rendered_at_once() -> None:
    items = [{"id": "a", "name": "é\u2028", "n": 1.5}, {"id": "b", "tags": [], "x": None}]
    links = [{"rel": "next", "href": "http://h/v2.0/ports?marker=b"}]
    cache = ItemJson()
    for with_links in (links, None):
        whole = {"ports": items, **({"ports_links": with_links} if with_links else {})}
        assert json_list_response("ports", items, with_links, cache).body == (
            json_response(whole).body
        )


def test_an_item_replaced_by_a_new_object_renders_anew() -> None:
    cache = ItemJson()
    old = {"id": "a", "status": "DOWN"}
    assert json.loads(cache.render(old)) == old
    new = {"id": "a", "status": "ACTIVE"}
    assert json.loads(cache.render(new)) == new


def test_a_second_list_renders_only_the_ports_that_changed(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]["id"]
    cloud.post(
        h, "/subnets", {"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.0.0.0/24"}}
    )
    ports = cloud.post(h, "/ports", {"ports": [{"network_id": net}] * 5})["ports"]
    rendered: list[str] = []
    first = cloud.c.get(f"{N}/ports", headers=h).json()["ports"]
    assert {p["id"] for p in ports} <= {p["id"] for p in first}
    cloud.c.put(f"{N}/ports/{ports[0]['id']}", headers=h, json={"port": {"name": "renamed"}})
    monkeypatch.setattr(json, "dumps", _counted(json.dumps, rendered))
    second = cloud.c.get(f"{N}/ports", headers=h).json()["ports"]
    assert next(p for p in second if p["id"] == ports[0]["id"])["name"] == "renamed"
    # One dumps for the renamed port; the other ports' JSON was kept.
    assert rendered.count("item") == 1


def _counted(dumps: Any, seen: list[str]) -> Any:
    """``json.dumps``, noting each port it renders on its own."""

    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, dict) and "network_id" in obj and "mac_address" in obj:
            seen.append("item")
        return dumps(obj, *args, **kwargs)

    return wrapper


def test_a_list_of_the_same_objects_is_answered_with_the_kept_body() -> None:
    cache = ItemJson()
    items = [{"id": "a", "status": "DOWN"}, {"id": "b", "status": "DOWN"}]
    first = cache.body("ports", items, None)
    assert cache.body("ports", list(items), None) is first
    # an item replaced by a new object (a new revision) joins a new body
    changed = [items[0], {"id": "b", "status": "ACTIVE"}]
    assert json.loads(cache.body("ports", changed, None)) == {"ports": changed}
    # other links, another order, another collection: other bodies
    links = [{"rel": "next", "href": "http://h/v2.0/ports?marker=b"}]
    assert json.loads(cache.body("ports", items, links))["ports_links"] == links
    assert json.loads(cache.body("ports", items[::-1], None)) == {"ports": items[::-1]}
    assert json.loads(cache.body("networks", items, None)) == {"networks": items}


def test_kept_bodies_are_bounded_in_number_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ItemJson()
    lists = [[{"id": str(n), "pad": "x" * 100}] for n in range(ItemJson.LISTS_KEPT + 5)]
    for items in lists:
        cache.body("ports", items, None)
    assert len(cache._lists) == ItemJson.LISTS_KEPT
    assert cache._list_bytes == sum(len(body) for _, body in cache._lists.values())
    monkeypatch.setattr(ItemJson, "LIST_BYTES_KEPT", 300)
    for items in lists[:4]:
        cache.body("ports", items, None)
    assert cache._list_bytes <= 300
    assert cache._list_bytes == sum(len(body) for _, body in cache._lists.values())
    big = [{"id": "big", "pad": "x" * 400}]
    assert json.loads(cache.body("ports", big, None)) == {"ports": big}
    assert ("ports", 1, "big", b"") not in cache._lists


def test_a_changed_port_shows_in_the_next_list(cloud: Cloud) -> None:
    """Lists answered from kept bodies still show every change at once."""
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]["id"]
    cloud.post(
        h, "/subnets", {"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.0.0.0/24"}}
    )
    ports = cloud.post(h, "/ports", {"ports": [{"network_id": net}] * 3})["ports"]
    url = f"{N}/ports?network_id={net}"
    before = cloud.c.get(url, headers=h).json()["ports"]
    assert cloud.c.get(url, headers=h).json()["ports"] == before
    r = cloud.c.put(f"{N}/ports/{ports[1]['id']}", headers=h, json={"port": {"name": "x"}})
    assert r.status_code == 200, r.text
    after = cloud.c.get(url, headers=h).json()["ports"]
    assert [p["name"] for p in after if p["id"] == ports[1]["id"]] == ["x"]
    assert cloud.c.delete(f"{N}/ports/{ports[2]['id']}", headers=h).status_code == 204
    assert ports[2]["id"] not in {p["id"] for p in cloud.c.get(url, headers=h).json()["ports"]}


def test_a_member_list_keeps_its_redacted_ports_and_shows_changes(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller who may not see bindings gets redacted copies kept with the
    views they were made from: a second list renders nothing again, a changed
    port renders anew, and neither caller ever sees the other's shape."""
    m = cloud.member("p1")
    net = cloud.post(m, "/networks", {"network": {"name": "n"}})["network"]["id"]
    cloud.post(
        m, "/subnets", {"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.0.0.0/24"}}
    )
    ports = cloud.post(m, "/ports", {"ports": [{"network_id": net}] * 3})["ports"]
    url = f"{N}/ports?network_id={net}"

    def listed(h: dict[str, str]) -> list[dict[str, Any]]:
        r = cloud.c.get(url, headers=h)
        assert r.status_code == 200, r.text
        return list(r.json()["ports"])

    for _ in range(2):
        assert all("binding:host_id" in p for p in listed(cloud.admin))
        assert all("binding:host_id" not in p for p in listed(m))
    rendered: list[str] = []
    monkeypatch.setattr(json, "dumps", _counted(json.dumps, rendered))
    assert len(listed(m)) == 3
    assert rendered.count("item") == 0
    r = cloud.c.put(f"{N}/ports/{ports[0]['id']}", headers=m, json={"port": {"name": "x"}})
    assert r.status_code == 200, r.text
    after = listed(m)
    assert [p["name"] for p in after if p["id"] == ports[0]["id"]] == ["x"]
    assert all("binding:host_id" not in p for p in after)
    assert rendered.count("item") == 1
    assert [p["name"] for p in listed(cloud.admin) if p["id"] == ports[0]["id"]] == ["x"]
