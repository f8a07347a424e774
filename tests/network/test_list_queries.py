"""Neutron's list queries on every collection: filters on any shown attribute,
hidden filters Neutron accepts, and pagination links."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N
from tests.network.test_floatingips import fip, topology

COLLECTIONS = {
    "networks": "networks",
    "subnets": "subnets",
    "ports": "ports",
    "routers": "routers",
    "floatingips": "floatingips",
    "security_groups": "security-groups",
    "security_group_rules": "security-group-rules",
}


def _values(value: Any) -> list[str] | None:
    """The query values that select ``value``, or None when it is not filterable."""
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, int | str):
        return [str(value)]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [value[0]]
    return None


def test_every_shown_scalar_or_list_attribute_filters(cloud: Cloud) -> None:
    h = cloud.admin
    t = topology(cloud, h)
    f = fip(cloud, h, t["ext"]["network"]["id"], port_id=t["port"]["id"])
    cloud.c.put(f"{N}/floatingips/{f['id']}/tags/blue", headers=h)
    checked = 0
    for collection, path in COLLECTIONS.items():
        items = cloud.c.get(f"{N}/{path}", headers=h).json()[collection]
        assert items, collection
        for item in items:
            for key, value in item.items():
                wanted = _values(value)
                if wanted is None or key == "tags":
                    continue
                r = cloud.c.get(f"{N}/{path}", headers=h, params=[(key, w) for w in wanted])
                assert r.status_code == 200, (collection, key, r.text)
                found = [i["id"] for i in r.json()[collection]]
                assert item["id"] in found, (collection, key, value)
                checked += 1
    assert checked > 100


def test_boolean_filters_take_neutron_spellings(cloud: Cloud) -> None:
    h = cloud.admin
    private = cloud.post(h, "/networks", {"network": {"name": "private"}})["network"]
    shared = cloud.post(h, "/networks", {"network": {"name": "s", "shared": True}})["network"]

    def names(**params: str) -> list[str]:
        r = cloud.c.get(N + "/networks", headers=h, params=params)
        assert r.status_code == 200, r.text
        return sorted(n["name"] for n in r.json()["networks"])

    assert names(shared="false") == names(shared="False") == names(shared="0") == ["private"]
    assert names(shared="true") == names(shared="1") == ["s"]
    r = cloud.c.get(N + "/networks", headers=h, params={"shared": "maybe"})
    assert r.status_code == 400
    assert r.json()["NeutronError"]["type"] == "InvalidInput"
    assert private["id"] != shared["id"]


def test_subnets_filter_on_their_networks_shared_flag(cloud: Cloud) -> None:
    h = cloud.admin
    alice = cloud.member("alice")
    subs = {}
    for name, shared in (("private", False), ("public", True)):
        net = cloud.post(h, "/networks", {"network": {"name": name, "shared": shared}})
        body = {
            "network_id": net["network"]["id"],
            "ip_version": 4,
            "cidr": f"10.{int(shared)}.0.0/24",
        }
        subs[name] = cloud.post(h, "/subnets", {"subnet": body})["subnet"]["id"]

    def listed(headers: dict[str, str], shared: str) -> list[str]:
        r = cloud.c.get(N + "/subnets", headers=headers, params={"shared": shared})
        assert r.status_code == 200, r.text
        assert all("shared" not in s for s in r.json()["subnets"])
        return [s["id"] for s in r.json()["subnets"]]

    assert listed(h, "false") == [subs["private"]]
    assert listed(h, "true") == [subs["public"]]
    assert listed(alice, "true") == [subs["public"]]
    assert listed(alice, "false") == []


def test_unknown_filters_are_refused_as_neutron_words_it(cloud: Cloud) -> None:
    r = cloud.c.get(N + "/networks", headers=cloud.admin, params={"no_such_attr": "x"})
    assert r.status_code == 400
    assert (
        r.json()["NeutronError"]["message"] == "['no_such_attr'] is invalid attribute for filtering"
    )


def _page(cloud: Cloud, url: str, **params: str) -> tuple[list[str], dict[str, str]]:
    r = cloud.c.get(url, headers=cloud.admin, params=params or None)
    assert r.status_code == 200, r.text
    body = r.json()
    links = {link["rel"]: link["href"] for link in body.get("networks_links", [])}
    return [n["name"] for n in body["networks"]], links


def test_pagination_links_follow_neutrons_rules(cloud: Cloud) -> None:
    for i in range(4):
        cloud.post(cloud.admin, "/networks", {"network": {"name": f"n{i}"}})
    url = N + "/networks"
    names, links = _page(cloud, url, sort_key="name", sort_dir="asc", limit="2")
    assert names == ["n0", "n1"] and set(links) == {"next", "previous"}
    # the last page is exactly full: Neutron still links to a next page, which is empty
    names, links = _page(cloud, links["next"])
    assert names == ["n2", "n3"] and set(links) == {"next", "previous"}
    names, links = _page(cloud, links["next"])
    assert names == [] and set(links) == {"previous"}
    assert "marker" not in links["previous"] and "page_reverse=True" in links["previous"]
    # back from past the end, with page_reverse
    names, links = _page(cloud, links["previous"])
    assert names == ["n2", "n3"] and set(links) == {"next", "previous"}
    names, links = _page(cloud, links["previous"])
    assert names == ["n0", "n1"] and set(links) == {"next", "previous"}
    names, links = _page(cloud, links["previous"])
    assert names == [] and set(links) == {"next"}
    # a short forward page ends the walk; a marker without a limit is ignored
    names, links = _page(cloud, url, sort_key="name", limit="3", marker=_id(cloud, "n0"))
    assert names == ["n1", "n2", "n3"] and set(links) == {"next", "previous"}
    names, links = _page(cloud, url, sort_key="name", limit="4", marker=_id(cloud, "n0"))
    assert names == ["n1", "n2", "n3"] and set(links) == {"previous"}
    names, links = _page(cloud, url, sort_key="name", marker=_id(cloud, "n2"))
    assert names == ["n0", "n1", "n2", "n3"] and links == {}


def _id(cloud: Cloud, name: str) -> str:
    r = cloud.c.get(N + "/networks", headers=cloud.admin, params={"name": name})
    return str(r.json()["networks"][0]["id"])
