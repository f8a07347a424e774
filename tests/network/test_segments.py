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
    # peer subnet host routes: each segment's subnet routes to the others via its gateway
    assert b["host_routes"] == [{"destination": "10.61.1.0/24", "nexthop": "10.61.2.1"}]
    a = cloud.c.get(N + f"/subnets/{a['id']}", headers=cloud.admin).json()["subnet"]
    assert a["host_routes"] == [{"destination": "10.61.2.0/24", "nexthop": "10.61.1.1"}]
    # a new gateway: the peer routes follow it
    r = cloud.c.put(N + f"/subnets/{b['id']}", headers=cloud.admin,
                    json={"subnet": {"gateway_ip": "10.61.2.254", "allocation_pools": [
                        {"start": "10.61.2.2", "end": "10.61.2.200"}]}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["subnet"]["host_routes"] == [
        {"destination": "10.61.1.0/24", "nexthop": "10.61.2.254"}
    ]
    shown = cloud.c.get(N + f"/networks/{net['id']}", headers=cloud.admin).json()["network"]
    assert shown["l2_adjacency"] is False
    # all of a network's subnets are on segments, or none is
    mixed = _subnet(cloud, net["id"], "10.61.3.0/24", 400)
    assert mixed["type"] == "SubnetsNotAllAssociatedWithSegments"
    # a segment with subnets stays
    r = cloud.c.delete(N + f"/segments/{second['id']}", headers=cloud.admin)
    assert (r.status_code, r.json()["NeutronError"]["type"]) == (409, "SegmentInUse")
    assert cloud.c.delete(N + f"/subnets/{b['id']}", headers=cloud.admin).status_code == 204
    a = cloud.c.get(N + f"/subnets/{a['id']}", headers=cloud.admin).json()["subnet"]
    assert a["host_routes"] == []
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


def _agent(cloud: Cloud, host: str, physnet: str) -> None:
    body = {"agent": {"host": host, "configurations": {"bridge_mappings": {physnet: "eth1"}}}}
    r = cloud.c.post("/internal/v1/agents", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text


def _routed(cloud: Cloud) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A routed network: segment 1 on physnet1 (10.65.1.0/24), segment 2 on
    external (10.65.2.0/24); host h1 maps physnet1, h2 external, h3 nothing."""
    net = _net(cloud, network_type="vlan", physical_network="physnet1", segmentation_id=140)
    (seg1,) = cloud.c.get(N + f"/segments?network_id={net['id']}", headers=cloud.admin).json()[
        "segments"
    ]
    seg2 = _segment(
        cloud, net["id"], network_type="vlan", physical_network="external", segmentation_id=141
    )
    a = _subnet(cloud, net["id"], "10.65.1.0/24", segment_id=seg1["id"])
    b = _subnet(cloud, net["id"], "10.65.2.0/24", segment_id=seg2["id"])
    _agent(cloud, "h1", "physnet1")
    _agent(cloud, "h2", "external")
    _agent(cloud, "h3", "elsewhere")
    return net["id"], a, b


def _port(cloud: Cloud, network_id: str, status: int = 201, **attrs: Any) -> Any:
    r = cloud.c.post(N + "/ports", headers=cloud.admin,
                     json={"port": {"network_id": network_id, **attrs}})  # fmt: skip
    assert r.status_code == status, r.text
    return r.json()["port"] if status == 201 else r.json()["NeutronError"]


def _bind(cloud: Cloud, port_id: str, host: str, status: int = 200) -> Any:
    r = cloud.c.put(N + f"/ports/{port_id}", headers=cloud.admin,
                    json={"port": {"binding:host_id": host}})  # fmt: skip
    assert r.status_code == status, r.text
    return r.json()["port"] if status == 200 else r.json()["NeutronError"]


def test_ports_of_a_routed_network_take_addresses_from_their_hosts_segment(cloud: Cloud) -> None:
    net_id, a, b = _routed(cloud)
    # no host yet: the addresses wait for the binding
    waiting = _port(cloud, net_id)
    assert (waiting["ip_allocation"], waiting["fixed_ips"]) == ("deferred", [])
    bound = _bind(cloud, waiting["id"], "h2")
    assert [ip["subnet_id"] for ip in bound["fixed_ips"]] == [b["id"]]
    assert bound["fixed_ips"][0]["ip_address"].startswith("10.65.2.")
    # with a host from the start: that host's segment
    on_h1 = _port(cloud, net_id, **{"binding:host_id": "h1"})
    assert on_h1["ip_allocation"] == "immediate"
    assert [ip["subnet_id"] for ip in on_h1["fixed_ips"]] == [a["id"]]
    # a host with no segment of the network cannot take a port of it
    nowhere = _port(cloud, net_id)
    fault = _bind(cloud, nowhere["id"], "h3", 409)
    assert fault["type"] == "HostNotConnectedToAnySegment"
    fault = _port(cloud, net_id, 409, **{"binding:host_id": "h3"})
    assert fault["type"] == "HostNotConnectedToAnySegment"
    # addresses of one segment do not move to a host on another
    fault = _bind(cloud, on_h1["id"], "h2", 409)
    assert fault["type"] == "HostNotCompatibleWithFixedIps"
    fixed = _port(cloud, net_id, fixed_ips=[{"subnet_id": b["id"]}])
    assert fixed["ip_allocation"] == "immediate"
    assert _bind(cloud, fixed["id"], "h2")["fixed_ips"] == fixed["fixed_ips"]
    # a port asking for no address has none, wherever it is bound
    bare = _port(cloud, net_id, fixed_ips=[])
    assert (bare["ip_allocation"], _bind(cloud, bare["id"], "h1")["fixed_ips"]) == ("none", [])
    # the listing shows the same
    listed = {
        p["id"]: p["ip_allocation"]
        for p in cloud.c.get(N + f"/ports?network_id={net_id}", headers=cloud.admin).json()["ports"]
    }
    assert listed[waiting["id"]] == "deferred" and listed[on_h1["id"]] == "immediate"


def test_ports_of_other_networks_are_immediate(cloud: Cloud) -> None:
    net = _net(cloud)
    _subnet(cloud, net["id"], "10.66.0.0/24")
    port = _port(cloud, net["id"], **{"binding:host_id": "anywhere"})
    assert port["ip_allocation"] == "immediate" and len(port["fixed_ips"]) == 1


def test_a_network_made_with_several_segments(cloud: Cloud) -> None:
    asked = [
        {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
         "provider:segmentation_id": 160},
        {"provider:network_type": "flat", "provider:physical_network": "external",
         "provider:segmentation_id": None},
    ]  # fmt: skip
    net = cloud.post(cloud.admin, "/networks", {"network": {"name": "m", "segments": asked}})
    net = net["network"]
    assert net["segments"] == asked and "provider:network_type" not in net
    assert net["mtu"] == 1500
    found = cloud.c.get(N + f"/segments?network_id={net['id']}", headers=cloud.admin).json()
    assert [s["network_type"] for s in found["segments"]] == ["vlan", "flat"]
    # the flat physical network is taken now
    again = cloud.c.post(N + "/networks", headers=cloud.admin, json={"network": {
        "provider:network_type": "flat", "provider:physical_network": "external"}})  # fmt: skip
    assert again.json()["NeutronError"]["type"] == "FlatNetworkInUse"
    both = cloud.c.post(N + "/networks", headers=cloud.admin, json={"network": {
        "provider:network_type": "vxlan", "segments": [{"provider:network_type": "vxlan"}]}})  # fmt: skip
    assert both.status_code == 400
    twice = cloud.c.post(N + "/networks", headers=cloud.admin, json={"network": {
        "segments": [asked[0], asked[0]]}})  # fmt: skip
    assert twice.status_code == 400
    alice = cloud.member("alice")
    r = cloud.c.post(N + "/networks", headers=alice, json={"network": {
        "segments": [{"provider:network_type": "vxlan"}]}})  # fmt: skip
    assert r.status_code == 403
    # members do not see the segments of a network
    cloud.post(cloud.admin, "/rbac-policies", {"rbac_policy": {
        "object_type": "network", "object_id": net["id"], "action": "access_as_shared",
        "target_tenant": "*"}})  # fmt: skip
    shown = cloud.c.get(N + f"/networks/{net['id']}", headers=alice).json()["network"]
    assert "segments" not in shown
    # deleting it frees its segments
    assert cloud.c.delete(N + f"/networks/{net['id']}", headers=cloud.admin).status_code == 204
    assert cloud.post(cloud.admin, "/networks", {"network": {"segments": asked}})["network"]


def test_the_extensions_are_listed(cloud: Cloud) -> None:
    found = cloud.c.get(N + "/extensions", headers=cloud.member("alice")).json()["extensions"]
    aliases = {e["alias"] for e in found}
    assert {"segment", "segments-peer-subnet-host-routes", "l2_adjacency", "ip_allocation",
            "multi-provider"} <= aliases  # fmt: skip
