"""Segments over HTTP: /v2.0/segments CRUD (admins only), subnets associated
with segments (routed provider networks: ``l2_adjacency`` false), and the
``segments`` attribute of a network with several provider segments."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N


def _net(cloud: Cloud, **provider: Any) -> dict[str, Any]:
    body = {"network": {"name": "n", **{f"provider:{k}": v for k, v in provider.items()}}}
    net: dict[str, Any] = cloud.post(cloud.admin, "/networks", body)["network"]
    return net


def _segment(cloud: Cloud, network_id: str, status: int = 201, **attrs: Any) -> Any:
    r = cloud.c.post(
        N + "/segments", headers=cloud.admin, json={"segment": {"network_id": network_id, **attrs}}
    )
    assert r.status_code == status, r.text
    return r.json()["segment"] if status == 201 else r.json()["NeutronError"]


def _subnet(cloud: Cloud, network_id: str, cidr: str, status: int = 201, **attrs: Any) -> Any:
    body = {"subnet": {"network_id": network_id, "ip_version": 4, "cidr": cidr, **attrs}}
    r = cloud.c.post(N + "/subnets", headers=cloud.admin, json=body)
    assert r.status_code == status, r.text
    return r.json()["subnet"] if status == 201 else r.json()["NeutronError"]


def test_a_network_has_its_provider_segment(cloud: Cloud) -> None:
    net = _net(cloud, network_type="vlan", physical_network="physnet1", segmentation_id=120)
    r = cloud.c.get(N + f"/segments?network_id={net['id']}", headers=cloud.admin)
    assert r.status_code == 200, r.text
    (seg,) = r.json()["segments"]
    assert seg["network_type"] == "vlan"
    assert (seg["physical_network"], seg["segmentation_id"]) == ("physnet1", 120)
    assert seg["name"] is None and seg["description"] == ""
    assert set(seg) >= {"id", "created_at", "updated_at", "revision_number"}
    shown = cloud.c.get(N + f"/segments/{seg['id']}", headers=cloud.admin).json()["segment"]
    assert shown == seg
    # the only segment of a network stays with it; the network takes it along
    fault = cloud.c.delete(N + f"/segments/{seg['id']}", headers=cloud.admin).json()
    assert fault["NeutronError"]["type"] == "SegmentInUse"
    assert cloud.c.delete(N + f"/networks/{net['id']}", headers=cloud.admin).status_code == 204
    r = cloud.c.get(N + f"/segments/{seg['id']}", headers=cloud.admin)
    assert r.status_code == 404
    assert r.json()["NeutronError"]["type"] == "SegmentNotFound"


def test_segments_of_a_routed_network(cloud: Cloud) -> None:
    net = _net(cloud, network_type="vlan", physical_network="physnet1", segmentation_id=130)
    (first,) = cloud.c.get(N + f"/segments?network_id={net['id']}", headers=cloud.admin).json()[
        "segments"
    ]
    second = _segment(
        cloud, net["id"], network_type="vlan", physical_network="external", name="rack2",
        segmentation_id=300,
    )  # fmt: skip
    assert second["name"] == "rack2"
    assert (second["physical_network"], second["segmentation_id"]) == ("external", 300)
    # a segment that names no VLAN gets a free one of its physical network's range
    third = _segment(cloud, net["id"], network_type="vlan", physical_network="physnet1")
    assert 100 <= third["segmentation_id"] <= 199 and third["segmentation_id"] != 130
    assert cloud.c.delete(N + f"/segments/{third['id']}", headers=cloud.admin).status_code == 204
    # a segment reserves its VLAN like a network does
    taken = _segment(
        cloud, net["id"], 409, network_type="vlan", physical_network="physnet1",
        segmentation_id=130,
    )  # fmt: skip
    assert taken["type"] == "VlanIdInUse"
    # multi-provider: a network with several segments shows them instead of provider:*
    shown = cloud.c.get(N + f"/networks/{net['id']}", headers=cloud.admin).json()["network"]
    assert "provider:network_type" not in shown
    assert [s["provider:physical_network"] for s in shown["segments"]] == [
        "physnet1",
        "external",
    ]
    assert shown["l2_adjacency"] is True  # no subnet is on a segment yet
    a = _subnet(cloud, net["id"], "10.61.1.0/24", segment_id=first["id"])
    b = _subnet(cloud, net["id"], "10.61.2.0/24", segment_id=second["id"])
    assert (a["segment_id"], b["segment_id"]) == (first["id"], second["id"])
    shown = cloud.c.get(N + f"/networks/{net['id']}", headers=cloud.admin).json()["network"]
    assert shown["l2_adjacency"] is False
    # all of a network's subnets are on segments, or none is
    mixed = _subnet(cloud, net["id"], "10.61.3.0/24", 400)
    assert mixed["type"] == "SubnetsNotAllAssociatedWithSegments"
    # a segment with subnets stays
    r = cloud.c.delete(N + f"/segments/{second['id']}", headers=cloud.admin)
    assert (r.status_code, r.json()["NeutronError"]["type"]) == (409, "SegmentInUse")
    assert cloud.c.delete(N + f"/subnets/{b['id']}", headers=cloud.admin).status_code == 204
    assert cloud.c.delete(N + f"/segments/{second['id']}", headers=cloud.admin).status_code == 204
    shown = cloud.c.get(N + f"/networks/{net['id']}", headers=cloud.admin).json()["network"]
    assert "segments" not in shown and shown["provider:segmentation_id"] == 130
    # its VLAN is free again
    again = _segment(
        cloud, net["id"], network_type="vlan", physical_network="external",
        segmentation_id=second["segmentation_id"],
    )  # fmt: skip
    assert again["segmentation_id"] == second["segmentation_id"]


def test_segment_validation(cloud: Cloud) -> None:
    net = _net(cloud)
    other = _net(cloud)
    missing = _segment(cloud, net["id"], 400)
    assert "network_type" in missing["message"]
    unknown = _segment(cloud, "0" * 8 + "-0000-4000-8000-" + "0" * 12, 404, network_type="vxlan")
    assert unknown["type"] == "NetworkNotFound"
    bad = _segment(cloud, net["id"], 400, network_type="vlan", physical_network="nowhere")
    assert bad["type"] == "InvalidInput"
    seg = _segment(cloud, other["id"], network_type="vxlan")
    wrong = _subnet(cloud, net["id"], "10.62.0.0/24", 400, segment_id=seg["id"])
    assert wrong["type"] == "NetworkIdsDontMatch"
    # name and description change; the rest is read-only
    r = cloud.c.put(N + f"/segments/{seg['id']}", headers=cloud.admin,
                    json={"segment": {"name": "s1", "description": "d"}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["segment"]["name"], r.json()["segment"]["revision_number"]) == ("s1", 1)
    r = cloud.c.put(N + f"/segments/{seg['id']}", headers=cloud.admin,
                    json={"segment": {"segmentation_id": 7}})  # fmt: skip
    assert r.status_code == 400


def test_a_subnet_joins_its_networks_only_segment(cloud: Cloud) -> None:
    net = _net(cloud)
    sub = _subnet(cloud, net["id"], "10.63.0.0/24")
    assert sub["segment_id"] is None
    (seg,) = cloud.c.get(N + f"/segments?network_id={net['id']}", headers=cloud.admin).json()[
        "segments"
    ]
    r = cloud.c.put(N + f"/subnets/{sub['id']}", headers=cloud.admin,
                    json={"subnet": {"segment_id": seg["id"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["subnet"]["segment_id"] == seg["id"]
    r = cloud.c.put(N + f"/subnets/{sub['id']}", headers=cloud.admin,
                    json={"subnet": {"segment_id": None}})  # fmt: skip
    assert r.status_code == 400


def test_segments_are_for_admins(cloud: Cloud) -> None:
    net = _net(cloud, network_type="vxlan")
    alice = cloud.member("alice")
    assert cloud.c.get(N + "/segments", headers=alice).status_code == 403
    r = cloud.c.post(N + "/segments", headers=alice,
                     json={"segment": {"network_id": net["id"], "network_type": "vxlan"}})  # fmt: skip
    assert r.status_code == 403
    own = cloud.post(alice, "/networks", {"network": {"name": "mine"}})["network"]
    sub = cloud.post(
        alice, "/subnets", {"subnet": {"network_id": own["id"], "ip_version": 4,
                                       "cidr": "10.64.0.0/24"}}
    )["subnet"]  # fmt: skip
    # a subnet's segment is an admin's attribute: not shown, not settable
    assert "segment_id" not in sub
    (seg,) = cloud.c.get(N + f"/segments?network_id={own['id']}", headers=cloud.admin).json()[
        "segments"
    ]
    r = cloud.c.put(N + f"/subnets/{sub['id']}", headers=alice,
                    json={"subnet": {"segment_id": seg["id"]}})  # fmt: skip
    assert r.status_code == 403
    shown = cloud.c.get(N + f"/networks/{own['id']}", headers=alice).json()["network"]
    assert shown["l2_adjacency"] is True
