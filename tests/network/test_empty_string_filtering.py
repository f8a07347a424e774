"""empty-string-filtering: ``?name=`` matches the resources whose name is empty."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_an_empty_filter_value_matches_empty_attributes(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    named = cloud.post(alice, "/networks", {"network": {"name": "n", "description": "d"}})
    blank = cloud.post(alice, "/networks", {"network": {}})["network"]["id"]
    cloud.post(alice, "/subnets", {"subnet": {"network_id": blank, "cidr": "10.4.0.0/24",
                                              "ip_version": 4}})  # fmt: skip
    port = cloud.post(alice, "/ports", {"port": {"network_id": blank}})["port"]["id"]
    cloud.post(alice, "/ports", {"port": {"network_id": blank, "name": "p"}})
    for query, want in (("name=", {blank}), ("description=", {blank}),
                        ("name=&name=n", {blank, named["network"]["id"]})):  # fmt: skip
        got = cloud.c.get(f"{N}/networks?{query}", headers=alice).json()["networks"]
        assert {n["id"] for n in got} == want, query
    got = cloud.c.get(f"{N}/ports?name=&device_owner=", headers=alice).json()["ports"]
    assert [p["id"] for p in got] == [port]
    aliases = {
        e["alias"] for e in cloud.c.get(f"{N}/extensions", headers=alice).json()["extensions"]
    }
    assert "empty-string-filtering" in aliases
