"""subnet-service-types: subnets that serve chosen device owners, and IPAM honouring them."""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.network.conftest import Cloud, N


def _subnet(cloud: Cloud, net: str, cidr: str, types: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"network_id": net, "cidr": cidr, "ip_version": 4}
    if types is not None:
        body["service_types"] = types
    return cloud.post(cloud.admin, "/subnets", {"subnet": body})["subnet"]


def _in(address: str, cidr: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)


def test_service_types_validated_shown_updated_filtered(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {}})["network"]
    sub = _subnet(cloud, net["id"], "10.0.0.0/24", ["compute:nova", "network:router_interface"])
    assert sub["service_types"] == ["compute:nova", "network:router_interface"]
    plain = _subnet(cloud, net["id"], "10.0.1.0/24")
    assert plain["service_types"] == []
    for bad, kind in (
        (["nova"], "InvalidSubnetServiceType"),
        ([42], "InvalidInputSubnetServiceType"),
        ("compute:nova", "BadRequest"),
        (["compute:nova", "compute:nova"], "InvalidInput"),
    ):
        r = cloud.c.post(f"{N}/subnets", headers=h, json={"subnet": {
            "network_id": net["id"], "cidr": "10.0.2.0/24", "ip_version": 4,
            "service_types": bad}})  # fmt: skip
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["NeutronError"]["type"] == kind, r.text
    r = cloud.c.put(f"{N}/subnets/{plain['id']}", headers=h,
                    json={"subnet": {"service_types": ["network:floatingip"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["subnet"]["service_types"] == ["network:floatingip"]
    listed = cloud.c.get(f"{N}/subnets?service_types=compute:nova", headers=h).json()["subnets"]
    assert [s["id"] for s in listed] == [sub["id"]]
    # a member may not set them (admin only, as Neutron's default policy)
    m = cloud.member("alice")
    own = cloud.post(m, "/networks", {"network": {}})["network"]
    r = cloud.c.post(f"{N}/subnets", headers=m, json={"subnet": {
        "network_id": own["id"], "cidr": "10.9.0.0/24", "ip_version": 4,
        "service_types": ["compute:nova"]}})  # fmt: skip
    assert r.status_code == 403, r.text
    mine = cloud.post(m, "/subnets", {"subnet": {
        "network_id": own["id"], "cidr": "10.9.0.0/24", "ip_version": 4}})["subnet"]  # fmt: skip
    r = cloud.c.put(f"{N}/subnets/{mine['id']}", headers=m,
                    json={"subnet": {"service_types": ["compute:nova"]}})  # fmt: skip
    assert r.status_code == 403, r.text
    exts = cloud.c.get(N + "/extensions", headers=h).json()["extensions"]
    assert "subnet-service-types" in {e["alias"] for e in exts}


def test_ports_take_addresses_from_subnets_serving_their_owner(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {}})["network"]
    plain = _subnet(cloud, net["id"], "10.0.0.0/24")
    compute = _subnet(cloud, net["id"], "10.0.1.0/24", ["compute:nova"])
    # a distributed router's interfaces are network:router_interface_distributed
    owners = ["network:router_interface", "network:router_interface_distributed"]
    routers = _subnet(cloud, net["id"], "10.0.2.0/24", owners)

    def port(owner: str, **extra: Any) -> Any:
        body = {"network_id": net["id"], "device_owner": owner, **extra}
        return cloud.c.post(f"{N}/ports", headers=h, json={"port": body})

    r = port("compute:nova")
    assert r.status_code == 201, r.text
    assert [ip["subnet_id"] for ip in r.json()["port"]["fixed_ips"]] == [compute["id"]]
    r = port("")
    assert [ip["subnet_id"] for ip in r.json()["port"]["fixed_ips"]] == [plain["id"]]
    r = port("compute:other-zone")
    assert [ip["subnet_id"] for ip in r.json()["port"]["fixed_ips"]] == [plain["id"]]
    # a requested subnet that does not serve the owner: as a subnet of another network
    r = port("compute:nova", fixed_ips=[{"subnet_id": routers["id"]}])
    assert r.status_code == 400, r.text
    assert r.json()["NeutronError"]["type"] == "InvalidInput"
    assert "invalid subnet" in r.json()["NeutronError"]["message"]
    r = port("compute:nova", fixed_ips=[{"ip_address": "10.0.2.50"}])
    assert r.status_code == 400, r.text
    r = port("compute:nova", fixed_ips=[{"subnet_id": plain["id"]}])
    assert r.status_code == 201, r.text
    # a router interface by subnet takes the router subnet's gateway
    router = cloud.post(h, "/routers", {"router": {}})["router"]
    r = cloud.c.put(f"{N}/routers/{router['id']}/add_router_interface", headers=h,
                    json={"subnet_id": routers["id"]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = cloud.c.put(f"{N}/routers/{router['id']}/add_router_interface", headers=h,
                    json={"subnet_id": compute["id"]})  # fmt: skip
    assert r.status_code == 400, r.text
    # only typed subnets, none for this owner: no address at all
    only = cloud.post(h, "/networks", {"network": {}})["network"]
    _subnet(cloud, only["id"], "10.1.0.0/24", ["compute:nova"])
    r = cloud.c.post(f"{N}/ports", headers=h, json={"port": {"network_id": only["id"]}})
    assert r.status_code == 409, r.text
    assert r.json()["NeutronError"]["type"] == "IpAddressGenerationFailureNoMatchingSubnet", r.text
    # DHCP ports may use any subnet with DHCP on
    r = cloud.c.post(f"{N}/ports", headers=h, json={"port": {
        "network_id": only["id"], "device_owner": "network:dhcp"}})  # fmt: skip
    assert r.status_code == 201, r.text


def test_floating_ips_and_gateways_use_their_subnets(cloud: Cloud) -> None:
    h = cloud.admin
    ext = cloud.post(h, "/networks", {"network": {"router:external": True}})["network"]
    fips = _subnet(cloud, ext["id"], "203.0.113.0/24", ["network:floatingip"])
    gws = _subnet(cloud, ext["id"], "198.51.100.0/24", ["network:router_gateway"])
    router = cloud.post(h, "/routers", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})["router"]  # fmt: skip
    gw_ips = router["external_gateway_info"]["external_fixed_ips"]
    assert [ip["subnet_id"] for ip in gw_ips] == [gws["id"]]
    assert _in(gw_ips[0]["ip_address"], gws["cidr"])
    fip = cloud.post(h, "/floatingips", {"floatingip": {
        "floating_network_id": ext["id"]}})["floatingip"]  # fmt: skip
    assert _in(fip["floating_ip_address"], fips["cidr"])
    # a floating IP asked of the gateways' subnet is refused
    r = cloud.c.post(f"{N}/floatingips", headers=h, json={"floatingip": {
        "floating_network_id": ext["id"], "subnet_id": gws["id"]}})  # fmt: skip
    assert r.status_code == 400, r.text
    # an instance port on the external network finds no subnet for it
    r = cloud.c.post(f"{N}/ports", headers=h, json={"port": {
        "network_id": ext["id"], "device_owner": "compute:nova"}})  # fmt: skip
    assert r.status_code == 409, r.text


def test_changing_service_types_keeps_the_addresses_ports_hold(cloud: Cloud) -> None:
    """As Neutron: a subnet's service types steer new allocations only. A
    change that no longer serves a port's device owner is accepted; the port
    keeps its address (and may restate it), while a new address for it, or
    a new port of that owner, is refused."""
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {}})["network"]
    sub = _subnet(cloud, net["id"], "10.3.0.0/24")
    port = cloud.post(h, "/ports", {"port": {"network_id": net["id"],
                                             "device_owner": "compute:nova"}})["port"]  # fmt: skip
    held = port["fixed_ips"][0]
    assert held["subnet_id"] == sub["id"]
    r = cloud.c.put(f"{N}/subnets/{sub['id']}", headers=h,
                    json={"subnet": {"service_types": ["network:router_interface"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    shown = cloud.c.get(f"{N}/ports/{port['id']}", headers=h).json()["port"]
    assert shown["fixed_ips"] == [held]
    r = cloud.c.put(f"{N}/ports/{port['id']}", headers=h, json={"port": {"name": "still"}})
    assert r.status_code == 200, r.text
    assert r.json()["port"]["fixed_ips"] == [held]
    # a second address on the subnet for this owner, or a new port of the
    # owner: no subnet of the network serves it
    for method, path, body in (
        ("PUT", f"/ports/{port['id']}", {"fixed_ips": [held, {"subnet_id": sub["id"]}]}),
        ("POST", "/ports", {"network_id": net["id"], "device_owner": "compute:nova"}),
    ):
        r = cloud.c.request(method, f"{N}{path}", headers=h, json={"port": body})
        assert r.status_code == 409, r.text
        assert r.json()["NeutronError"]["type"] == "IpAddressGenerationFailureNoMatchingSubnet"
    # a port of the owner the subnet serves now is made there
    router_port = cloud.post(h, "/ports", {"port": {
        "network_id": net["id"], "device_owner": "network:router_interface"}})["port"]  # fmt: skip
    assert router_port["fixed_ips"][0]["subnet_id"] == sub["id"]
    assert cloud.c.delete(f"{N}/ports/{router_port['id']}", headers=h).status_code == 204
    # the subnet is deleted only once the port is gone
    r = cloud.c.delete(f"{N}/subnets/{sub['id']}", headers=h)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "SubnetInUse"
    assert cloud.c.delete(f"{N}/ports/{port['id']}", headers=h).status_code == 204
    assert cloud.c.delete(f"{N}/subnets/{sub['id']}", headers=h).status_code == 204
