"""Provider networks over HTTP: flat and VLAN segments on physical networks,
validated and reserved as Neutron's ML2 type drivers do."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N


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
            {"network_type": "vlan", "physical_network": "physnet1"},
            "Physical network physnet1 requires segmentation_id to be specified when "
            "creating a provider network",
        ),
        (
            {"network_type": "vlan", "physical_network": "physnet1", "segmentation_id": 4095},
            "segmentation_id out of range (1 through 4094)",
        ),
        ({"network_type": "gre"}, "network_type value 'gre' not supported"),
    ]
    for provider, message in cases:
        assert _error(cloud, 400, **provider) == ("InvalidInput", prefix + message), provider


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
