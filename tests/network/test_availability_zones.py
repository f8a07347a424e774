"""Availability zones: the hosts' zones as networking lists them, hints
checked against them, networks and routers showing where they are, and
routers scheduled to gateway agents of their hinted zones only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.network.conftest import Cloud, N, open_cloud
from tests.network.test_routers import external, router


@pytest.fixture
def cloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    """Agents stay alive through the test however slow the machine is."""
    with open_cloud(db_url, tmp_path, agent_down_time=3600) as made:
        yield made


def _agent(cloud: Cloud, host: str, zone: str, *, gateway: bool) -> dict[str, Any]:
    body = {"agent": {"host": host, "availability_zone": zone,
                      "configurations": {"gateway": gateway}}}  # fmt: skip
    r = cloud.c.post("/internal/v1/agents", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json()["agent"])


def test_zones_hints_and_scheduling(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    _agent(cloud, "c1", "az1", gateway=False)
    _agent(cloud, "gw-a", "az1", gateway=True)
    _agent(cloud, "gw-b", "az2", gateway=True)
    zones = cloud.c.get(f"{N}/availability_zones", headers=alice).json()["availability_zones"]
    assert sorted((z["name"], z["resource"], z["state"]) for z in zones) == [
        ("az1", "network", "available"), ("az1", "router", "available"),
        ("az2", "network", "available"), ("az2", "router", "available")]  # fmt: skip
    routers = cloud.c.get(f"{N}/availability_zones?resource=router", headers=alice).json()
    assert {z["name"] for z in routers["availability_zones"]} == {"az1", "az2"}
    # hints name known zones of their resource
    r = cloud.c.post(f"{N}/networks", headers=alice,
                     json={"network": {"availability_zone_hints": ["az9"]}})  # fmt: skip
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "AvailabilityZoneNotFound"
    net = cloud.post(alice, "/networks", {"network": {"availability_zone_hints": ["az1"]}})[
        "network"]  # fmt: skip
    assert net["availability_zone_hints"] == ["az1"] and net["availability_zones"] == []
    # a network is where its ports are bound
    cloud.post(alice, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                              "cidr": "10.0.0.0/24"}})  # fmt: skip
    cloud.post(cloud.admin, "/ports", {"port": {"network_id": net["id"], "binding:host_id": "c1",
                                                "project_id": cloud.projects["alice"]}})  # fmt: skip
    shown = cloud.c.get(f"{N}/networks/{net['id']}", headers=alice).json()["network"]
    assert shown["availability_zones"] == ["az1"]
    # a router goes to a gateway agent of its hinted zone, whatever the loads
    ext = external(cloud)
    gw = {"external_gateway_info": {"network_id": ext["network"]["id"]}}
    for _ in range(2):  # fill az1's agent less than az2's would be otherwise
        made = router(cloud, cloud.admin, availability_zone_hints=["az2"], **gw)
        assert made["availability_zone_hints"] == ["az2"]
        assert made["availability_zones"] == ["az2"]
    err = cloud.c.post(f"{N}/routers", headers=alice,
                       json={"router": {"availability_zone_hints": ["nowhere"]}})  # fmt: skip
    assert err.status_code == 404
    plain = router(cloud, cloud.admin, **gw)
    assert plain["availability_zones"] == ["az1"]  # the least loaded agent
