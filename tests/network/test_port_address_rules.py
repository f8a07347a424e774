"""Choosing a port's address or MAC is the network owner's (and admins')."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_only_the_network_owner_chooses_addresses_on_a_shared_network(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = cloud.post(
        cloud.admin,
        "/networks",
        {"network": {"name": "s", "shared": True, "project_id": cloud.projects["alice"]}},
    )
    net_id = net["network"]["id"]
    cloud.post(alice, "/subnets", {"subnet": {"network_id": net_id, "ip_version": 4,
                                              "cidr": "10.5.0.0/24"}})  # fmt: skip
    chosen = {"network_id": net_id, "fixed_ips": [{"ip_address": "10.5.0.50"}]}
    r = cloud.c.post(f"{N}/ports", headers=bob, json={"port": chosen})
    assert r.status_code == 403, r.text
    assert r.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
    mac = {"network_id": net_id, "mac_address": "fa:16:3e:00:00:42"}
    assert cloud.c.post(f"{N}/ports", headers=bob, json={"port": mac}).status_code == 403
    # an address the network hands out is fine, and the owner chooses
    assert (
        cloud.c.post(f"{N}/ports", headers=bob, json={"port": {"network_id": net_id}}).status_code
        == 201
    )
    assert cloud.c.post(f"{N}/ports", headers=alice, json={"port": chosen}).status_code == 201
