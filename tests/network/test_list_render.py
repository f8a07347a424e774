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
