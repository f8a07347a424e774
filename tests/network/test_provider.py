"""Provider networks over HTTP: flat and VLAN segments on physical networks,
validated and reserved as Neutron's ML2 type drivers do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kumo.config import Settings
from tests.network.conftest import Cloud, N, open_cloud


def _create(cloud: Cloud, **provider: Any) -> Any:
    body = {"network": {"name": "n", **{f"provider:{k}": v for k, v in provider.items()}}}
    return cloud.c.post(N + "/networks", headers=cloud.admin, json=body)


def _error(cloud: Cloud, status: int, **provider: Any) -> tuple[str, str]:
    r = _create(cloud, **provider)
    assert r.status_code == status, r.text
    fault = r.json()["NeutronError"]
    return fault["type"], fault["message"]


def test_flat_and_vlan_networks_show_their_segments(cloud: Cloud) -> None:
    flat = _create(cloud, network_type="flat", physical_network="physnet1").json()["network"]
    assert flat["provider:network_type"] == "flat"
    assert flat["provider:physical_network"] == "physnet1"
    assert flat["provider:segmentation_id"] is None
    assert flat["mtu"] == 1500  # the physical network's MTU, no tunnel overhead
    vlan = _create(
        cloud, network_type="vlan", physical_network="physnet1", segmentation_id=100
    ).json()["network"]
    assert (vlan["provider:network_type"], vlan["provider:segmentation_id"]) == ("vlan", 100)
    assert vlan["mtu"] == 1500
    # another VLAN on the same physical network is another segment
    assert (
        _create(cloud, network_type="vlan", physical_network="physnet1", segmentation_id=101)
    ).status_code == 201


def test_a_physical_network_carries_one_flat_network(cloud: Cloud) -> None:
    assert _create(cloud, network_type="flat", physical_network="physnet1").status_code == 201
    assert _error(cloud, 409, network_type="flat", physical_network="physnet1") == (
        "FlatNetworkInUse",
        "Unable to create the flat network. Physical network physnet1 is in use.",
    )
    # another physical network is free
    assert _create(cloud, network_type="flat", physical_network="external").status_code == 201


def test_a_vlan_id_is_used_once_per_physical_network(cloud: Cloud) -> None:
    first = _create(cloud, network_type="vlan", physical_network="physnet1", segmentation_id=100)
    assert first.status_code == 201
    assert _error(
        cloud, 409, network_type="vlan", physical_network="physnet1", segmentation_id=100
    ) == (
        "VlanIdInUse",
        "Unable to create the network. The VLAN 100 on physical network physnet1 is in use.",
    )
    # the same VLAN id on another physical network is another segment
    other = _create(cloud, network_type="vlan", physical_network="external", segmentation_id=100)
    assert other.status_code == 201
    # deleting the network frees its VLAN
    net_id = first.json()["network"]["id"]
    assert cloud.c.delete(f"{N}/networks/{net_id}", headers=cloud.admin).status_code == 204
    again = _create(cloud, network_type="vlan", physical_network="physnet1", segmentation_id=100)
    assert again.status_code == 201


def test_a_vni_is_used_once(cloud: Cloud) -> None:
    assert _create(cloud, network_type="vxlan", segmentation_id=5000).status_code == 201
    assert _error(cloud, 409, network_type="vxlan", segmentation_id=5000) == (
        "TunnelIdInUse",
        "Unable to create the network. The tunnel ID 5000 is in use.",
    )


def test_invalid_provider_segments(cloud: Cloud) -> None:
    prefix = "Invalid input for operation: "
    cases: list[tuple[dict[str, Any], str]] = [
        ({"network_type": "flat"}, "physical_network required for flat provider network"),
        (
            {"network_type": "flat", "physical_network": "physnet9"},
            "physical_network 'physnet9' unknown for flat provider network",
        ),
        (
            {"network_type": "flat", "physical_network": "physnet1", "segmentation_id": 5},
            "segmentation_id prohibited for flat provider network",
        ),
        (
            {"network_type": "vlan", "physical_network": "physnet9", "segmentation_id": 5},
            "physical_network 'physnet9' unknown for VLAN provider network",
        ),
        (
            {"network_type": "vlan", "segmentation_id": 5},
            "segmentation_id requires physical_network for VLAN provider network",
        ),
        (
            {"network_type": "vlan", "physical_network": "physnet1", "segmentation_id": 4095},
            "segmentation_id out of range (1 through 4094)",
        ),
        ({"network_type": "gre"}, "network_type value 'gre' not supported"),
    ]
    for provider, message in cases:
        assert _error(cloud, 400, **provider) == ("InvalidInput", prefix + message), provider


def test_vlan_networks_without_an_id_get_one_from_the_tenant_ranges(
    db_url: str, tmp_path: Path
) -> None:
    with open_cloud(db_url, tmp_path, network_vlan_ranges=("physnet1:100:101",)) as cloud:
        explicit = _create(
            cloud, network_type="vlan", physical_network="physnet1", segmentation_id=100
        )
        assert explicit.status_code == 201
        first = _create(cloud, network_type="vlan", physical_network="physnet1").json()["network"]
        assert (first["provider:physical_network"], first["provider:segmentation_id"]) == (
            "physnet1",
            101,
        )
        assert first["mtu"] == 1500
        # the ranges are used up: Neutron's NoNetworkAvailable, a 503
        assert _error(cloud, 503, network_type="vlan", physical_network="physnet1") == (
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        )
        # a physical network without tenant ranges takes only explicit VLANs
        assert _error(cloud, 503, network_type="vlan", physical_network="external")[0] == (
            "NoNetworkAvailable"
        )
        # deleting a network frees its VLAN; naming no physical network takes any range
        assert cloud.c.delete(f"{N}/networks/{first['id']}", headers=cloud.admin).status_code == 204
        anywhere = _create(cloud, network_type="vlan").json()["network"]
        assert (anywhere["provider:physical_network"], anywhere["provider:segmentation_id"]) == (
            "physnet1",
            101,
        )


def test_the_default_tenant_vlan_range_is_on_physnet1(cloud: Cloud) -> None:
    net = _create(cloud, network_type="vlan", physical_network="physnet1").json()["network"]
    assert net["provider:segmentation_id"] == 100
    assert Settings(network_vlan_ranges=("physnet1", "physnet2:5:6")).vlan_ranges == {
        "physnet1": [],
        "physnet2": [(5, 6)],
    }
    with pytest.raises(ValueError, match="network_vlan_ranges"):
        Settings(network_vlan_ranges=("physnet1:200:100",))


def test_only_admins_choose_segments(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    body = {
        "network": {
            "name": "p",
            "provider:network_type": "flat",
            "provider:physical_network": "physnet1",
        }
    }
    r = cloud.c.post(N + "/networks", headers=alice, json=body)
    assert r.status_code == 403, r.text
    # and nothing was reserved: the admin still gets the physical network
    assert _create(cloud, network_type="flat", physical_network="physnet1").status_code == 201
