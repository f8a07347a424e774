"""Lists hide admin-only attributes on every item, and ask the policy table
once per list for them, not once per item."""

from __future__ import annotations

from typing import Any

import pytest

from kumo.network import policy
from tests.network.conftest import Cloud, N

HIDDEN = {
    "ports": {
        "binding:host_id",
        "binding:vif_type",
        "binding:profile",
        "binding:vif_details",
        "resource_request",
    },
    "networks": {"provider:network_type", "provider:physical_network", "provider:segmentation_id"},
    "routers": {"distributed", "ha"},
}


def _fill(cloud: Cloud, h: dict[str, str], count: int) -> None:
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.9.0.0/24"}}
    )
    for i in range(count):
        cloud.post(h, "/networks", {"network": {"name": f"more{i}"}})
        cloud.post(h, "/ports", {"port": {"network_id": net["id"]}})
        cloud.post(h, "/routers", {"router": {"name": f"r{i}"}})


def _list(cloud: Cloud, h: dict[str, str], collection: str) -> list[dict[str, Any]]:
    r = cloud.c.get(f"{N}/{collection}", headers=h)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()[collection]
    return items


@pytest.mark.parametrize("collection", sorted(HIDDEN))
def test_lists_hide_admin_only_attributes_from_members(cloud: Cloud, collection: str) -> None:
    alice = cloud.member("alice")
    _fill(cloud, alice, 3)
    mine = _list(cloud, alice, collection)
    assert len(mine) >= 3
    assert all(not HIDDEN[collection] & set(item) for item in mine)
    everything = _list(cloud, cloud.admin, collection)
    assert {i["id"] for i in mine} <= {i["id"] for i in everything}
    assert all(HIDDEN[collection] <= set(item) for item in everything)


@pytest.mark.parametrize("collection", sorted(HIDDEN))
def test_a_list_asks_the_table_for_hidden_attributes_once(
    cloud: Cloud, collection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = cloud.member("alice")
    _fill(cloud, alice, 6)
    asked: list[str] = []
    real = policy.allowed

    def counting(ctx: Any, name: str, target: Any = None) -> bool:
        asked.append(name)
        return real(ctx, name, target)

    monkeypatch.setattr(policy, "allowed", counting)
    for h in (alice, cloud.admin):
        asked.clear()
        assert len(_list(cloud, h, collection)) >= 6
        about_attributes = [n for n in asked if n in policy.VISIBLE_BY[collection].values()]
        assert len(about_attributes) == len(policy.VISIBLE_BY[collection])
