"""Networking v2.0 over HTTP with real tokens: shapes, policy, errors, list queries."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from kumo.db.network_models import Port
from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N


def test_network_defaults_and_admin_only_attributes(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    assert net["mtu"] == 1450 and net["status"] == "ACTIVE" and net["shared"] is False
    assert net["router:external"] is False and net["port_security_enabled"] is True
    assert net["project_id"] == net["tenant_id"] == cloud.projects["alice"]
    assert "provider:segmentation_id" not in net
    assert net["revision_number"] == 0 and net["created_at"].endswith("Z")
    as_admin = cloud.c.get(f"{N}/networks/{net['id']}", headers=cloud.admin).json()["network"]
    assert as_admin["provider:network_type"] == "vxlan"
    assert as_admin["provider:segmentation_id"] >= 1001

    r = cloud.c.post(N + "/networks", headers=alice, json={"network": {"shared": True}})
    assert r.status_code == 403
    assert r.json()["NeutronError"]["type"] == "PolicyNotAuthorized"


def test_other_projects_resources_are_not_found(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    r = cloud.c.get(f"{N}/networks/{net['id']}", headers=bob)
    assert r.status_code == 404
    assert r.json()["NeutronError"] == {
        "type": "NetworkNotFound",
        "message": f"Network {net['id']} could not be found.",
        "detail": "",
    }
    assert cloud.c.get(N + "/networks", headers=bob).json()["networks"] == []
    shared = cloud.post(cloud.admin, "/networks", {"network": {"name": "s", "shared": True}})
    names = [n["name"] for n in cloud.c.get(N + "/networks", headers=bob).json()["networks"]]
    assert names == ["s"] and shared["network"]["shared"] is True


def test_subnet_defaults_and_validation(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    sub = cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.1.0.0/24"}}
    )["subnet"]
    assert sub["gateway_ip"] == "10.1.0.1"
    assert sub["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert sub["enable_dhcp"] is True and sub["ipv6_ra_mode"] is None

    def bad(body: dict[str, Any], status: int = 400) -> str:
        r = cloud.c.post(
            N + "/subnets", headers=h, json={"subnet": {"network_id": net["id"], **body}}
        )
        assert r.status_code == status, r.text
        return str(r.json()["NeutronError"]["type"])

    assert bad({"ip_version": 4, "cidr": "10.1.0.128/25"}) == "InvalidInput"  # overlaps
    assert bad({"ip_version": 4, "cidr": "10.2.0.1/24"}) == "InvalidInput"  # host bits
    assert bad({"ip_version": 4, "cidr": "nonsense"}) == "InvalidInput"
    assert bad({"ip_version": 6, "cidr": "10.3.0.0/24"}) == "InvalidInput"
    assert bad({"ip_version": 4, "cidr": "10.4.0.0/24", "gateway_ip": "10.5.0.1"}) == "InvalidInput"
    assert (
        bad(
            {
                "ip_version": 4,
                "cidr": "10.6.0.0/24",
                "allocation_pools": [{"start": "10.6.0.1", "end": "10.6.0.9"}],
            },
            409,
        )
        == "GatewayConflictWithAllocationPools"
    )
    none_gw = cloud.post(
        h,
        "/subnets",
        {
            "subnet": {
                "network_id": net["id"],
                "ip_version": 4,
                "cidr": "10.7.0.0/24",
                "gateway_ip": None,
            }
        },
    )["subnet"]
    assert none_gw["gateway_ip"] is None
    assert none_gw["allocation_pools"] == [{"start": "10.7.0.1", "end": "10.7.0.254"}]
    other = cloud.post(h, "/networks", {"network": {"name": "o"}})["network"]
    cloud.post(
        h,
        "/subnets",
        {"subnet": {"network_id": other["id"], "ip_version": 4, "cidr": "10.1.0.0/24"}},
    )


def test_ports_ipam_dual_stack_and_errors(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    v4 = cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.1.0.0/29"}}
    )["subnet"]
    v6 = cloud.post(
        h,
        "/subnets",
        {
            "subnet": {
                "network_id": net["id"],
                "ip_version": 6,
                "cidr": "2001:db8:1::/64",
                "ipv6_ra_mode": "slaac",
                "ipv6_address_mode": "slaac",
            }
        },
    )["subnet"]
    port = cloud.post(
        h, "/ports", {"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}}
    )["port"]
    ips = {f["subnet_id"]: f["ip_address"] for f in port["fixed_ips"]}
    assert ips == {v4["id"]: "10.1.0.2", v6["id"]: "2001:db8:1:0:f816:3eff:fe00:1"}
    assert port["status"] == "DOWN" and port["binding:vif_type"] == "unbound"
    # mac_address null regenerates it (port-mac-address-regenerate); the
    # SLAAC address follows the new MAC
    r = cloud.c.put(N + f"/ports/{port['id']}", headers=h, json={"port": {"mac_address": None}})
    assert r.status_code == 200, r.text
    fresh = r.json()["port"]
    assert fresh["mac_address"] != "fa:16:3e:00:00:01"
    assert fresh["mac_address"].startswith("fa:16:3e:")
    v6_ip = {f["subnet_id"]: f["ip_address"] for f in fresh["fixed_ips"]}[v6["id"]]
    assert v6_ip != "2001:db8:1:0:f816:3eff:fe00:1"
    assert v6_ip.endswith(fresh["mac_address"].replace(":", "")[-4:].lstrip("0"))
    put = {"port": {"mac_address": "fa:16:3e:00:00:01"}}
    port = cloud.c.put(N + f"/ports/{port['id']}", headers=h, json=put).json()["port"]
    assert {f["ip_address"] for f in port["fixed_ips"]} == {
        "10.1.0.2",
        "2001:db8:1:0:f816:3eff:fe00:1",
    }

    r = cloud.c.post(
        N + "/ports",
        headers=h,
        json={"port": {"network_id": net["id"], "mac_address": "fa:16:3e:00:00:01"}},
    )
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "MacAddressInUse"
    fixed = {"subnet_id": v4["id"], "ip_address": "10.1.0.2"}
    r = cloud.c.post(
        N + "/ports", headers=h, json={"port": {"network_id": net["id"], "fixed_ips": [fixed]}}
    )
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    outside = {"subnet_id": v4["id"], "ip_address": "10.9.9.9"}
    r = cloud.c.post(
        N + "/ports", headers=h, json={"port": {"network_id": net["id"], "fixed_ips": [outside]}}
    )
    assert r.status_code == 400 and r.json()["NeutronError"]["type"] == "InvalidIpForSubnet"
    r = cloud.c.post(N + "/ports", headers=h, json={"port": {"network_id": net["id"], "bogus": 1}})
    assert r.status_code == 400 and "bogus" in r.json()["NeutronError"]["message"]
    r = cloud.c.post(
        N + "/ports",
        headers=h,
        content=b"{",
    )
    assert r.status_code == 400

    for _ in range(4):  # .3 .4 .5 .6: the /29 pool is then full
        cloud.post(
            h, "/ports", {"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": v4["id"]}]}}
        )
    r = cloud.c.post(
        N + "/ports",
        headers=h,
        json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": v4["id"]}]}},
    )
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "IpAddressGenerationFailure"

    r = cloud.c.delete(f"{N}/networks/{net['id']}", headers=h)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "NetworkInUse"
    r = cloud.c.delete(f"{N}/subnets/{v4['id']}", headers=h)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "SubnetInUse"


def _outbox(cloud: Cloud, kind: str, object_id: str) -> list[OutboxEvent]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == kind, OutboxEvent.object_id == object_id)
        return list(s.scalars(q.order_by(OutboxEvent.revision)))


def test_port_create_response_equals_show_and_outbox_event(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    v4 = cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.2.0.0/24"}}
    )["subnet"]
    v6 = cloud.post(
        h,
        "/subnets",
        {"subnet": {"network_id": net["id"], "ip_version": 6, "cidr": "2001:db8:2::/64"}},
    )["subnet"]
    group = cloud.post(h, "/security-groups", {"security_group": {"name": "g"}})["security_group"]
    body = {
        "network_id": net["id"],
        "name": "p",
        "description": "d",
        "admin_state_up": False,
        "device_id": "dev",
        "device_owner": "compute:nova",
        "dns_name": "host1",
        "binding:host_id": "h1",
        "binding:vnic_type": "direct",
        "binding:profile": {"k": "v"},
        "security_groups": [group["id"]],
        "allowed_address_pairs": [{"ip_address": "10.2.0.200"}],
        "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": 1400}],
        "fixed_ips": [{"subnet_id": v6["id"]}, {"ip_address": "10.2.0.9"}],
    }
    made = cloud.post(h, "/ports", {"port": body})["port"]
    shown = cloud.c.get(f"{N}/ports/{made['id']}", headers=h).json()["port"]
    assert made == shown
    assert [f["subnet_id"] for f in made["fixed_ips"]] == [v6["id"], v4["id"]]
    assert made["fixed_ips"][1]["ip_address"] == "10.2.0.9"
    assert made["binding:vif_type"] == "bridge" and made["revision_number"] == 0
    assert made["allowed_address_pairs"] == [
        {"ip_address": "10.2.0.200", "mac_address": made["mac_address"]}
    ]
    (event,) = _outbox(cloud, "port", made["id"])
    # the watch body adds the instance's hostname (no server "dev": the port's name);
    # resource_request (read at each request) is the API's only
    api_only = {k: v for k, v in shown.items() if k != "resource_request"}
    assert event.body == {**api_only, "kumo_hostname": "p"} and event.op == "upsert"
    assert set(event.topics) == {f"network:{net['id']}", "host:h1", f"members:{group['id']}"}

    # A member's first port makes the project's default group; the next one reuses it.
    alice = cloud.member("alice")
    own = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    cloud.post(
        alice,
        "/subnets",
        {"subnet": {"network_id": own["id"], "ip_version": 4, "cidr": "10.3.0.0/24"}},
    )
    first = cloud.post(alice, "/ports", {"port": {"network_id": own["id"]}})["port"]
    second = cloud.post(alice, "/ports", {"port": {"network_id": own["id"]}})["port"]
    assert first == cloud.c.get(f"{N}/ports/{first['id']}", headers=alice).json()["port"]
    assert "binding:host_id" not in first
    assert len(first["security_groups"]) == 1
    assert first["security_groups"] == second["security_groups"]
    assert [f["ip_address"] for f in first["fixed_ips"] + second["fixed_ips"]] == [
        "10.3.0.2",
        "10.3.0.3",
    ]


def test_default_addresses_skip_taken_ones_and_keep_subnet_order(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    v6 = cloud.post(
        h,
        "/subnets",
        {
            "subnet": {
                "network_id": net["id"],
                "ip_version": 6,
                "cidr": "2001:db8:3::/64",
                "ipv6_ra_mode": "slaac",
                "ipv6_address_mode": "slaac",
            }
        },
    )["subnet"]
    v4 = cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.4.0.0/24"}}
    )["subnet"]

    def port(**extra: Any) -> dict[str, Any]:
        made: dict[str, Any] = cloud.post(
            h, "/ports", {"port": {"network_id": net["id"], **extra}}
        )["port"]
        assert made == cloud.c.get(f"{N}/ports/{made['id']}", headers=h).json()["port"]
        return made

    def v4_address(p: dict[str, Any]) -> str:
        return next(f["ip_address"] for f in p["fixed_ips"] if f["subnet_id"] == v4["id"])

    first = port()
    # One address per subnet, in the order the network lists its subnets.
    subnets = cloud.c.get(f"{N}/networks/{net['id']}", headers=h).json()["network"]["subnets"]
    assert [f["subnet_id"] for f in first["fixed_ips"]] == subnets
    assert sorted(subnets) == sorted([v4["id"], v6["id"]])
    assert v4_address(first) == "10.4.0.2"
    port(fixed_ips=[{"ip_address": "10.4.0.3"}, {"ip_address": "10.4.0.4"}])
    # The address after the last one given out is taken: the next free one.
    assert v4_address(port()) == "10.4.0.5"


def test_port_create_errors_quota_and_their_order(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    pid = cloud.projects["alice"]
    net = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    other = {"network_id": net["id"], "project_id": cloud.projects["bob"]}
    # The network is checked before the project asked for.
    r = cloud.c.post(N + "/ports", headers=bob, json={"port": other})
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "NetworkNotFound"
    r = cloud.c.post(N + "/ports", headers=alice, json={"port": other})
    assert r.status_code == 400 and r.json()["NeutronError"]["type"] == "HTTPBadRequest"
    missing = "00000000-0000-4000-8000-000000000000"
    r = cloud.c.post(N + "/ports", headers=alice, json={"port": {"network_id": missing}})
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "NetworkNotFound"

    # Quota: an override of the project, then the configured default again.
    cloud.c.put(f"{N}/quotas/{pid}", headers=cloud.admin, json={"quota": {"port": 2}})
    for _ in range(2):
        cloud.post(alice, "/ports", {"port": {"network_id": net["id"]}})
    r = cloud.c.post(N + "/ports", headers=alice, json={"port": {"network_id": net["id"]}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "OverQuota"
    assert r.json()["NeutronError"]["message"] == "Quota exceeded for resources: ['port']."
    cloud.c.delete(f"{N}/quotas/{pid}", headers=cloud.admin)
    cloud.post(alice, "/ports", {"port": {"network_id": net["id"]}})
    with cloud.rt.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Port)) == 3


def test_binding_is_admin_only_and_sets_vif_type(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    r = cloud.c.post(
        N + "/ports",
        headers=alice,
        json={"port": {"network_id": net["id"], "binding:host_id": "h1"}},
    )
    assert r.status_code == 403
    port = cloud.post(alice, "/ports", {"port": {"network_id": net["id"]}})["port"]
    assert "binding:host_id" not in port and port["binding:vnic_type"] == "normal"
    r = cloud.c.put(
        f"{N}/ports/{port['id']}", headers=cloud.admin, json={"port": {"binding:host_id": "h1"}}
    )
    assert r.status_code == 200
    assert r.json()["port"]["binding:vif_type"] == "bridge"
    assert r.json()["port"]["revision_number"] == 1


def test_list_filters_fields_sorting_paging_and_tags(cloud: Cloud) -> None:
    h = cloud.admin
    ids = [
        cloud.post(h, "/networks", {"network": {"name": f"n{i}"}})["network"]["id"]
        for i in range(5)
    ]
    listed = cloud.c.get(N + "/networks", headers=h, params=[("name", "n1"), ("name", "n3")]).json()
    assert sorted(n["name"] for n in listed["networks"]) == ["n1", "n3"]
    only = cloud.c.get(
        N + "/networks", headers=h, params=[("fields", "id"), ("fields", "name")]
    ).json()
    assert all(set(n) == {"id", "name"} for n in only["networks"])
    desc = cloud.c.get(
        N + "/networks", headers=h, params={"sort_key": "name", "sort_dir": "desc"}
    ).json()
    assert [n["name"] for n in desc["networks"]] == ["n4", "n3", "n2", "n1", "n0"]
    page = cloud.c.get(
        N + "/networks", headers=h, params={"sort_key": "name", "sort_dir": "asc", "limit": 2}
    ).json()
    assert [n["name"] for n in page["networks"]] == ["n0", "n1"]
    nxt = next(link for link in page["networks_links"] if link["rel"] == "next")["href"]
    page2 = cloud.c.get(nxt, headers=h).json()
    assert [n["name"] for n in page2["networks"]] == ["n2", "n3"]
    r = cloud.c.get(N + "/networks", headers=h, params={"no_such_attr": "x"})
    assert r.status_code == 400

    assert (
        cloud.c.put(
            f"{N}/networks/{ids[0]}/tags", headers=h, json={"tags": ["red", "blue"]}
        ).status_code
        == 200
    )
    assert cloud.c.put(f"{N}/networks/{ids[1]}/tags/red", headers=h).status_code == 201
    assert cloud.c.get(f"{N}/networks/{ids[1]}/tags/red", headers=h).status_code == 204
    tagged = cloud.c.get(N + "/networks", headers=h, params={"tags": "red"}).json()["networks"]
    assert sorted(n["id"] for n in tagged) == sorted(ids[:2])
    both = cloud.c.get(N + "/networks", headers=h, params={"tags": "red,blue"}).json()["networks"]
    assert [n["id"] for n in both] == [ids[0]]
    assert cloud.c.get(f"{N}/networks/{ids[0]}", headers=h).json()["network"]["tags"] == [
        "blue",
        "red",
    ]
    r = cloud.c.delete(f"{N}/networks/{ids[1]}/tags/green", headers=h)
    assert r.status_code == 404


def test_quotas_and_over_quota(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    pid = cloud.projects["alice"]
    r = cloud.c.put(f"{N}/quotas/{pid}", headers=cloud.admin, json={"quota": {"network": 1}})
    assert r.status_code == 200 and r.json()["quota"]["network"] == 1
    cloud.post(alice, "/networks", {"network": {"name": "a"}})
    r = cloud.c.post(N + "/networks", headers=alice, json={"network": {"name": "b"}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "OverQuota"
    details = cloud.c.get(f"{N}/quotas/{pid}/details", headers=alice).json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert (
        cloud.c.put(f"{N}/quotas/{pid}", headers=alice, json={"quota": {"network": 9}}).status_code
        == 403
    )


def test_extensions_and_versions(cloud: Cloud) -> None:
    versions = cloud.c.get("/networking").json()["versions"]
    assert versions[0]["id"] == "v2.0" and versions[0]["status"] == "CURRENT"
    aliases = {
        e["alias"] for e in cloud.c.get(N + "/extensions", headers=cloud.admin).json()["extensions"]
    }
    assert {"provider", "external-net", "port-security", "standard-attr-tag", "quotas"} <= aliases
    assert "router" in aliases and "l3_agent_scheduler" in aliases
    assert cloud.c.get(N + "/extensions/provider", headers=cloud.admin).status_code == 200
    assert cloud.c.get(N + "/extensions/nope", headers=cloud.admin).status_code == 404


def test_ip_availability(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.1.0.0/28"}}
    )
    cloud.post(h, "/ports", {"port": {"network_id": net["id"]}})
    avail = cloud.c.get(f"{N}/network-ip-availabilities/{net['id']}", headers=h).json()
    assert avail["network_ip_availability"]["total_ips"] == 13
    assert avail["network_ip_availability"]["used_ips"] == 1


def test_ip_availability_details(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "nd"}})["network"]
    v4 = cloud.post(h, "/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.2.0.0/28",
        "allocation_pools": [{"start": "10.2.0.2", "end": "10.2.0.10"}]}})["subnet"]  # fmt: skip
    cloud.post(h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 6,
                                          "cidr": "2001:db8::/124"}})  # fmt: skip
    cloud.post(h, "/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": v4["id"], "ip_address": "10.2.0.5"}]}})  # fmt: skip
    cloud.post(h, "/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": v4["id"], "ip_address": "10.2.0.12"}]}})  # outside the pool  # fmt: skip
    avail = cloud.c.get(f"{N}/network-ip-availabilities/{net['id']}", headers=h).json()[
        "network_ip_availability"]  # fmt: skip
    by_version = {x["ip_version"]: x for x in avail["subnet_ip_availability"]}
    assert by_version[4]["ip_availability_details"] == {
        "total_ips_in_subnet": 14, "total_ips_in_allocation_pool": 9,
        "used_ips_in_subnet": 2, "used_ips_in_allocation_pool": 1}  # fmt: skip
    six = by_version[6]["ip_availability_details"]
    assert six["total_ips_in_subnet"] == 16 and six["used_ips_in_subnet"] == 0
    total = avail["ip_availability_details"]
    assert total["total_ips_in_subnet"] == 30 and total["used_ips_in_allocation_pool"] == 1
    listed = cloud.c.get(f"{N}/network-ip-availabilities?ip_version=4", headers=h).json()
    (mine,) = [x for x in listed["network_ip_availabilities"] if x["network_id"] == net["id"]]
    assert mine["ip_availability_details"]["total_ips_in_subnet"] == 14
    aliases = {e["alias"] for e in cloud.c.get(f"{N}/extensions", headers=h).json()["extensions"]}
    assert "network-ip-availability-details" in aliases


def test_json_body_without_content_type_is_read_as_json(cloud: Cloud) -> None:
    h = cloud.admin
    r = cloud.c.post(N + "/networks", headers=h, content=json.dumps({"network": {"name": "a"}}))
    assert "content-type" not in r.request.headers
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    r = cloud.c.put(
        f"{N}/networks/{net['id']}", headers=h, content=json.dumps({"network": {"name": "b"}})
    )
    assert r.status_code == 200, r.text
    assert r.json()["network"]["name"] == "b"
    r = cloud.c.put(f"{N}/networks/{net['id']}", headers=h, content=b"{not json")
    assert r.status_code == 400
    assert r.json()["NeutronError"]["type"] == "BadRequest"


def test_quota_update_flags_are_not_resources(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    pid = cloud.projects["alice"]
    cloud.post(alice, "/networks", {"network": {"name": "a"}})
    cloud.post(alice, "/networks", {"network": {"name": "b"}})
    url = f"{N}/quotas/{pid}"
    r = cloud.c.put(url, headers=cloud.admin, json={"quota": {"network": 1, "force": True}})
    assert r.status_code == 200, r.text
    assert r.json()["quota"]["network"] == 1 and "force" not in r.json()["quota"]
    r = cloud.c.put(url, headers=cloud.admin, json={"quota": {"network": 1, "check_limit": True}})
    assert r.status_code == 400
    assert r.json()["NeutronError"]["message"] == (
        "Quota limit 1 for network must be greater than or equal to already used 2"
    )
    r = cloud.c.put(url, headers=cloud.admin, json={"quota": {"network": 2, "check_limit": True}})
    assert r.status_code == 200 and r.json()["quota"]["network"] == 2
    r = cloud.c.put(url, headers=cloud.admin, json={"quota": {"bogus": 2}})
    assert r.status_code == 400


def test_a_foreign_project_in_a_body_is_a_bad_request_for_non_admins(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    bobs = cloud.projects["bob"]
    net = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    group = cloud.post(alice, "/security-groups", {"security_group": {"name": "g"}})
    bodies = {
        "networks": {"network": {"name": "x"}},
        "subnets": {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.9.0.0/24"}},
        "ports": {"port": {"network_id": net["id"]}},
        "routers": {"router": {"name": "r"}},
        "security-groups": {"security_group": {"name": "s"}},
        "security-group-rules": {
            "security_group_rule": {
                "security_group_id": group["security_group"]["id"],
                "direction": "ingress",
            }
        },
    }
    message = (
        "Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
        "request requires admin privileges"
    )
    for path, body in bodies.items():
        for key in ("project_id", "tenant_id"):
            inner = next(iter(body.values()))
            r = cloud.c.post(
                f"{N}/{path}", headers=alice, json={**{k: {**inner, key: bobs} for k in body}}
            )
            assert r.status_code == 400, (path, key, r.text)
            assert r.json()["NeutronError"] == {
                "type": "HTTPBadRequest",
                "message": message,
                "detail": "",
            }, path
    # naming one's own project is fine, and admins name any
    mine = {"network": {"name": "y", "project_id": cloud.projects["alice"]}}
    assert cloud.c.post(N + "/networks", headers=alice, json=mine).status_code == 201
    theirs = {"network": {"name": "z", "project_id": bobs}}
    made = cloud.post(cloud.admin, "/networks", theirs)["network"]
    assert made["project_id"] == bobs
    assert cloud.c.get(N + "/networks", headers=bob).json()["networks"][0]["name"] == "z"


def test_port_security_and_address_pairs_on_a_shared_network_are_its_owners(
    cloud: Cloud,
) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = cloud.post(alice, "/networks", {"network": {"name": "s"}})["network"]
    cloud.c.put(
        f"{N}/networks/{net['id']}", headers=cloud.admin, json={"network": {"shared": True}}
    )
    sub = {"network_id": net["id"], "ip_version": 4, "cidr": "10.5.0.0/24"}
    cloud.post(alice, "/subnets", {"subnet": sub})
    pairs = [{"ip_address": "10.5.0.200"}]
    for attrs in ({"port_security_enabled": False}, {"allowed_address_pairs": pairs}):
        key = next(iter(attrs))
        r = cloud.c.post(
            N + "/ports", headers=bob, json={"port": {"network_id": net["id"], **attrs}}
        )
        assert r.status_code == 403, r.text
        assert r.json()["NeutronError"] == {
            "type": "PolicyNotAuthorized",
            "message": f"(rule:create_port:{key}) is disallowed by policy",
            "detail": "",
        }
        # the network's owner and admins may
        cloud.post(alice, "/ports", {"port": {"network_id": net["id"], **attrs}})
        cloud.post(cloud.admin, "/ports", {"port": {"network_id": net["id"], **attrs}})
    # bob's own port on the shared network: plain, and its security stays on
    port = cloud.post(bob, "/ports", {"port": {"network_id": net["id"]}})["port"]
    assert port["port_security_enabled"] is True
    r = cloud.c.put(
        f"{N}/ports/{port['id']}", headers=bob, json={"port": {"allowed_address_pairs": pairs}}
    )
    assert r.status_code == 403
    assert r.json()["NeutronError"]["message"] == (
        "(rule:update_port:allowed_address_pairs) is disallowed by policy"
    )


def test_small_mtus_refuse_subnets_as_neutron_does(cloud: Cloud) -> None:
    h = cloud.admin

    def subnet(net_id: str, version: int) -> Any:
        cidr = "10.8.0.0/24" if version == 4 else "2001:db8:8::/64"
        body = {"subnet": {"network_id": net_id, "ip_version": version, "cidr": cidr}}
        return cloud.c.post(N + "/subnets", headers=h, json=body)

    def conflict(r: Any, net_id: str, needed: int) -> None:
        assert r.status_code == 409, r.text
        assert r.json()["NeutronError"] == {
            "type": "NetworkMTUSubnetConflict",
            "message": f"MTU of {net_id} is not valid, subnet requires a minimum of {needed}",
            "detail": "",
        }

    # below IPv4's minimum: the network is made, any subnet refused
    tiny = cloud.post(h, "/networks", {"network": {"name": "tiny", "mtu": 60}})["network"]
    assert tiny["mtu"] == 60
    conflict(subnet(tiny["id"], 4), tiny["id"], 68)
    conflict(subnet(tiny["id"], 6), tiny["id"], 68)
    # below IPv6's: IPv4 subnets only
    small = cloud.post(h, "/networks", {"network": {"name": "small", "mtu": 1000}})["network"]
    conflict(subnet(small["id"], 6), small["id"], 1280)
    assert subnet(small["id"], 4).status_code == 201
    # lowering the MTU under a network's subnets is refused the same way
    full = cloud.post(h, "/networks", {"network": {"name": "full"}})["network"]
    assert subnet(full["id"], 6).status_code == 201
    r = cloud.c.put(f"{N}/networks/{full['id']}", headers=h, json={"network": {"mtu": 1200}})
    conflict(r, full["id"], 1280)
    r = cloud.c.put(f"{N}/networks/{small['id']}", headers=h, json={"network": {"mtu": 50}})
    conflict(r, small["id"], 68)
    r = cloud.c.post(N + "/networks", headers=h, json={"network": {"mtu": -1}})
    assert r.status_code == 400 and r.json()["NeutronError"]["type"] == "InvalidInput"
    zero = cloud.post(h, "/networks", {"network": {"name": "zero", "mtu": 0}})["network"]
    assert zero["mtu"] == 1450


def test_values_no_store_keeps_are_bad_requests(cloud: Cloud) -> None:
    # Each was a 500: a quota past 64 bits (OverflowError at the database) and
    # a fixed IP naming neither subnet nor address (an assertion in IPAM).
    alice = cloud.member("alice")
    pid = cloud.projects["alice"]
    for value in (10**30, 2**31):
        r = cloud.c.put(f"{N}/quotas/{pid}", headers=cloud.admin, json={"quota": {"port": value}})
        assert r.status_code == 400, r.text
        assert "too large" in r.json()["NeutronError"]["message"]
    r = cloud.c.put(f"{N}/quotas/{pid}", headers=cloud.admin, json={"quota": {"port": 2**31 - 1}})
    assert r.status_code == 200 and r.json()["quota"]["port"] == 2**31 - 1
    net = cloud.post(alice, "/networks", {"network": {"name": "n"}})["network"]
    sub = cloud.post(
        alice,
        "/subnets",
        {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.4.0.0/24"}},
    )["subnet"]
    port = cloud.post(alice, "/ports", {"port": {"network_id": net["id"]}})["port"]
    for fixed in ([{"subnet_id": None}], [{"subnet_id": None, "ip_address": None}]):
        for method, path, body in (
            ("PUT", f"/ports/{port['id']}", {"port": {"fixed_ips": fixed}}),
            ("POST", "/ports", {"port": {"network_id": net["id"], "fixed_ips": fixed}}),
        ):
            r = cloud.c.request(method, N + path, headers=alice, json=body)
            assert r.status_code == 400, (method, r.text)
            assert r.json()["NeutronError"]["type"] == "InvalidInput"
    r = cloud.c.put(
        f"{N}/ports/{port['id']}",
        headers=alice,
        json={"port": {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.4.0.50"}]}},
    )
    assert r.status_code == 200 and r.json()["port"]["fixed_ips"][0]["ip_address"] == "10.4.0.50"


def test_ip_availability_pages_by_network_id(cloud: Cloud) -> None:
    # Its items have no "id": paging links were a KeyError (500).
    h = cloud.admin
    nets = [cloud.post(h, "/networks", {"network": {"name": f"n{i}"}})["network"] for i in range(3)]
    for i, net in enumerate(nets):
        body = {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": f"10.{i}.0.0/28"}}
        cloud.post(h, "/subnets", body)
    first = cloud.c.get(f"{N}/network-ip-availabilities?limit=1", headers=h)
    assert first.status_code == 200, first.text
    (item,) = first.json()["network_ip_availabilities"]
    links = {link["rel"]: link for link in first.json()["network_ip_availabilities_links"]}
    assert f"marker={item['network_id']}" in links["next"]["href"]
    second = cloud.c.get(
        f"{N}/network-ip-availabilities?limit=1&marker={item['network_id']}", headers=h
    )
    assert second.status_code == 200, second.text
    assert second.json()["network_ip_availabilities"][0]["network_id"] != item["network_id"]
    back = cloud.c.get(f"{N}/network-ip-availabilities?limit=1&page_reverse=true", headers=h)
    assert back.status_code == 200, back.text
    assert "previous" in {link["rel"] for link in back.json()["network_ip_availabilities_links"]}


def test_network_update_bumps_its_revision(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.post(alice, "/networks", {"network": {"name": "a"}})["network"]
    revisions = [net["revision_number"]]
    for change in ({"name": "b"}, {"port_security_enabled": False}, {"dns_domain": "x.test."}):
        r = cloud.c.put(f"{N}/networks/{net['id']}", headers=alice, json={"network": change})
        assert r.status_code == 200, r.text
        revisions.append(r.json()["network"]["revision_number"])
    assert revisions == sorted(set(revisions)) and len(revisions) == 4
    shown = cloud.c.get(f"{N}/networks/{net['id']}", headers=alice).json()["network"]
    assert shown["revision_number"] == revisions[-1]
    # the revision it now has is what If-Match must name
    r = cloud.c.put(f"{N}/networks/{net['id']}", headers={**alice, "If-Match": "revision_number=0"},
                    json={"network": {"name": "c"}})  # fmt: skip
    assert r.status_code == 412
