"""Routers over HTTP: CRUD, gateways, interfaces, extra routes, policy, quotas,
gateway-agent scheduling, SNAT ports, events and the ``router:R`` snapshot."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kumo.cli.serve import add_l3_options, l3_arguments, settings_from_args, settings_json
from kumo.db.outbox_models import OutboxEvent
from kumo.watch import snapshot
from tests.network.conftest import Cloud, N, open_cloud

ROUTER_KEYS = {
    "id", "name", "description", "project_id", "tenant_id", "admin_state_up", "status",
    "external_gateway_info", "routes", "distributed", "ha", "availability_zone_hints",
    "availability_zones", "flavor_id", "tags", "revision_number", "created_at", "updated_at",
    "kumo_distributed_snat", "kumo_snat_leases",
}  # fmt: skip
ADMIN_ONLY = {"distributed", "ha", "kumo_distributed_snat", "kumo_snat_leases"}
INTERFACE_KEYS = {
    "id", "subnet_id", "subnet_ids", "port_id", "tenant_id", "project_id", "network_id", "tags",
}  # fmt: skip


def error(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    return str(r.json()["NeutronError"]["type"])


def external(cloud: Cloud, cidr: str = "203.0.113.0/24", name: str = "public") -> dict[str, Any]:
    """An external network (admin-owned, not shared) with one subnet: (network, subnet)."""
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": name, "router:external": True}})
    sub = cloud.post(
        h,
        "/subnets",
        {"subnet": {"network_id": net["network"]["id"], "ip_version": 4, "cidr": cidr}},
    )
    return {"network": net["network"], "subnet": sub["subnet"]}


def internal(cloud: Cloud, h: dict[str, str], cidr: str, **subnet: Any) -> dict[str, Any]:
    net = cloud.post(h, "/networks", {"network": {"name": "n-" + cidr}})["network"]
    body = {"network_id": net["id"], "ip_version": 4, "cidr": cidr, **subnet}
    sub = cloud.post(h, "/subnets", {"subnet": body})["subnet"]
    return {"network": net, "subnet": sub}


def router(cloud: Cloud, h: dict[str, str], **body: Any) -> dict[str, Any]:
    return dict(cloud.post(h, "/routers", {"router": {"name": "r", **body}})["router"])


def put(cloud: Cloud, h: dict[str, str], path: str, body: Any) -> Any:
    return cloud.c.put(N + path, headers=h, json=body)


def add_if(cloud: Cloud, h: dict[str, str], router_id: str, **body: Any) -> Any:
    return put(cloud, h, f"/routers/{router_id}/add_router_interface", body)


def remove_if(cloud: Cloud, h: dict[str, str], router_id: str, **body: Any) -> Any:
    return put(cloud, h, f"/routers/{router_id}/remove_router_interface", body)


def ports_of(cloud: Cloud, device_id: str) -> list[dict[str, Any]]:
    r = cloud.c.get(N + "/ports", headers=cloud.admin, params={"device_id": device_id})
    assert r.status_code == 200, r.text
    return list(r.json()["ports"])


def register_agent(cloud: Cloud, host: str, *, gateway: bool = True) -> dict[str, Any]:
    body = {"agent": {"host": host, "configurations": {"gateway": gateway}}}
    r = cloud.c.post("/internal/v1/agents", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json()["agent"])


def events(cloud: Cloud, kind: str, object_id: str) -> list[OutboxEvent]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == kind, OutboxEvent.object_id == object_id)
        return list(s.scalars(q.order_by(OutboxEvent.revision)))


# -- CRUD ----------------------------------------------------------------------------


def test_router_create_show_update_delete(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    r = router(cloud, alice, description="d")
    assert set(r) == ROUTER_KEYS - ADMIN_ONLY
    assert r["status"] == "ACTIVE" and r["admin_state_up"] is True
    assert r["external_gateway_info"] is None and r["routes"] == []
    assert r["project_id"] == r["tenant_id"] == cloud.projects["alice"]
    assert r["flavor_id"] is None and r["revision_number"] == 0
    admin_view = cloud.c.get(f"{N}/routers/{r['id']}", headers=cloud.admin).json()["router"]
    assert set(admin_view) == ROUTER_KEYS
    assert admin_view["distributed"] is True and admin_view["ha"] is False

    up = put(cloud, alice, f"/routers/{r['id']}", {"router": {"name": "r2"}})
    assert up.status_code == 200 and up.json()["router"]["name"] == "r2"
    assert up.json()["router"]["revision_number"] == 1
    assert [x["id"] for x in cloud.c.get(N + "/routers", headers=alice).json()["routers"]] == [
        r["id"]
    ]
    bob = cloud.member("bob")
    assert cloud.c.get(N + "/routers", headers=bob).json()["routers"] == []
    assert error(cloud.c.get(f"{N}/routers/{r['id']}", headers=bob), 404) == "RouterNotFound"
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204
    assert error(cloud.c.get(f"{N}/routers/{r['id']}", headers=alice), 404) == "RouterNotFound"


def test_router_distributed_setting_is_the_default(db_url: str, tmp_path: Path) -> None:
    """``router_distributed`` off (Neutron's default): routers made without
    ``distributed`` are centralized, their interfaces ``network:router_interface``."""
    with open_cloud(db_url, tmp_path, router_distributed=False) as c:
        bob = c.member("bob")
        made = router(c, bob)
        shown = c.c.get(f"{N}/routers/{made['id']}", headers=c.admin).json()["router"]
        assert shown["distributed"] is False
        assert router(c, c.admin, distributed=True)["distributed"] is True
        inner = internal(c, bob, "10.9.0.0/24")
        assert add_if(c, bob, made["id"], subnet_id=inner["subnet"]["id"]).status_code == 200
        (port,) = ports_of(c, made["id"])
        assert port["device_owner"] == "network:router_interface"
    # kumo up passes the setting on to kumo serve, which hands it to its workers
    assert l3_arguments(None, None, router_distributed=False) == ["--no-router-distributed"]
    assert l3_arguments(None, None) == []
    parser = argparse.ArgumentParser()
    add_l3_options(parser)
    args = parser.parse_args(["--no-router-distributed"])
    args.state_dir, args.database_url, args.host, args.port, args.public_url = (
        str(tmp_path), None, "127.0.0.1", 1, None
    )  # fmt: skip
    settings = settings_from_args(args)
    assert settings.router_distributed is False
    assert json.loads(settings_json(settings))["router_distributed"] is False


def test_router_admin_only_attributes_and_validation(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    for attr in ("distributed", "ha"):
        r = cloud.c.post(N + "/routers", headers=alice, json={"router": {attr: False}})
        assert error(r, 403) == "PolicyNotAuthorized"
    r = router(cloud, cloud.admin, distributed=False, ha=True)
    assert (r["distributed"], r["ha"]) == (False, True)
    r2 = cloud.c.post(N + "/routers", headers=alice, json={"router": {"routes": []}})
    assert error(r2, 400) == "BadRequest"
    r3 = cloud.c.post(N + "/routers", headers=alice, json={"router": {"bogus": 1}})
    assert error(r3, 400) == "BadRequest"
    active = put(cloud, cloud.admin, f"/routers/{r['id']}", {"router": {"distributed": True}})
    assert error(active, 400) == "BadRequest"
    assert active.json()["NeutronError"]["message"] == (
        "Bad router request: Cannot change the 'distributed' attribute of active routers. "
        "Please set router admin_state_up to False prior to upgrade."
    )
    both = {"router": {"distributed": True, "admin_state_up": False}}
    assert error(put(cloud, cloud.admin, f"/routers/{r['id']}", both), 400) == "BadRequest"
    put(cloud, cloud.admin, f"/routers/{r['id']}", {"router": {"admin_state_up": False}})
    moved = put(cloud, cloud.admin, f"/routers/{r['id']}", {"router": {"distributed": True}})
    assert moved.status_code == 200 and moved.json()["router"]["distributed"] is True


def test_router_quota(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    r = put(cloud, cloud.admin, f"/quotas/{project}", {"quota": {"router": 1}})
    assert r.status_code == 200, r.text
    router(cloud, alice)
    assert error(cloud.c.post(N + "/routers", headers=alice, json={"router": {}}), 409) == (
        "OverQuota"
    )
    details = cloud.c.get(f"{N}/quotas/{project}/details", headers=alice).json()["quota"]
    assert details["router"]["used"] == 1


# -- external networks and gateways ----------------------------------------------------


def test_external_networks_are_admin_made_and_visible_to_all(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    body = {"network": {"name": "x", "router:external": True}}
    assert error(cloud.c.post(N + "/networks", headers=alice, json=body), 403) == (
        "PolicyNotAuthorized"
    )
    own = cloud.post(alice, "/networks", {"network": {"name": "mine"}})["network"]
    up = put(cloud, alice, f"/networks/{own['id']}", {"network": {"router:external": True}})
    assert error(up, 403) == "PolicyNotAuthorized"
    ext = external(cloud)
    seen = cloud.c.get(N + "/networks", headers=alice, params={"router:external": "True"})
    assert [n["id"] for n in seen.json()["networks"]] == [ext["network"]["id"]]
    # its subnets are readable by the projects that may use it (subnet-external-network)
    shown = cloud.c.get(f"{N}/subnets/{ext['subnet']['id']}", headers=alice)
    assert shown.status_code == 200, shown.text
    shared = cloud.post(cloud.admin, "/networks", {"network": {"name": "s", "shared": True}})
    body = {"network_id": shared["network"]["id"], "ip_version": 4, "cidr": "10.8.0.0/24"}
    sub = cloud.post(cloud.admin, "/subnets", {"subnet": body})["subnet"]
    assert {x["id"] for x in cloud.c.get(N + "/subnets", headers=alice).json()["subnets"]} == {
        sub["id"],
        ext["subnet"]["id"],
    }


def test_gateway_set_clear_and_errors(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    ext = external(cloud)
    net_id = ext["network"]["id"]
    r = router(cloud, alice, external_gateway_info={"network_id": net_id})
    gw = r["external_gateway_info"]
    assert gw["network_id"] == net_id and gw["enable_snat"] is True
    assert gw["external_fixed_ips"] == [
        {"subnet_id": ext["subnet"]["id"], "ip_address": "203.0.113.2"}
    ]
    (port,) = ports_of(cloud, r["id"])
    assert port["device_owner"] == "network:router_gateway" and port["project_id"] == ""
    # the gateway port belongs to the router: the port API refuses to delete it
    assert error(cloud.c.delete(f"{N}/ports/{port['id']}", headers=cloud.admin), 409) == (
        "ServicePortInUse"
    )
    # a network with a router port on it is in use
    assert error(cloud.c.delete(f"{N}/networks/{net_id}", headers=cloud.admin), 409) == (
        "NetworkInUse"
    )
    internal_now = put(cloud, cloud.admin, f"/networks/{net_id}", {"network": {"router:external": False}})  # fmt: skip
    assert error(internal_now, 409) == "ExternalNetworkInUse"

    for info in ({"network_id": net_id, "enable_snat": False},
                 {"network_id": net_id, "external_fixed_ips": [{"ip_address": "203.0.113.9"}]}):  # fmt: skip
        denied = put(
            cloud, alice, f"/routers/{r['id']}", {"router": {"external_gateway_info": info}}
        )
        assert error(denied, 403) == "PolicyNotAuthorized"
    info = {"network_id": net_id, "enable_snat": False,
            "external_fixed_ips": [{"ip_address": "203.0.113.9"}]}  # fmt: skip
    done = put(
        cloud, cloud.admin, f"/routers/{r['id']}", {"router": {"external_gateway_info": info}}
    )
    assert done.status_code == 200, done.text
    gw = done.json()["router"]["external_gateway_info"]
    assert gw["enable_snat"] is False and gw["external_fixed_ips"][0]["ip_address"] == "203.0.113.9"
    assert [p["id"] for p in ports_of(cloud, r["id"])] != [port["id"]]  # a new gateway port

    inner = internal(cloud, alice, "10.0.0.0/24")
    bad = {"network_id": inner["network"]["id"]}
    r2 = put(cloud, alice, f"/routers/{r['id']}", {"router": {"external_gateway_info": bad}})
    assert error(r2, 400) == "BadRequest"
    assert "not an external network" in r2.json()["NeutronError"]["message"]
    missing = {"network_id": "00000000-0000-0000-0000-000000000000"}
    r3 = put(cloud, alice, f"/routers/{r['id']}", {"router": {"external_gateway_info": missing}})
    assert error(r3, 404) == "NetworkNotFound"

    cleared = put(cloud, alice, f"/routers/{r['id']}", {"router": {"external_gateway_info": {}}})
    assert cleared.json()["router"]["external_gateway_info"] is None
    assert ports_of(cloud, r["id"]) == []
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204


def test_gateway_on_an_external_network_without_subnets_has_no_address(cloud: Cloud) -> None:
    """As in Neutron: the gateway port has no fixed IPs; clearing the gateway
    or deleting the router takes it away, and the network can go."""
    alice = cloud.member("alice")
    net = cloud.post(cloud.admin, "/networks", {"network": {"router:external": True}})["network"]
    info = {"network_id": net["id"]}
    r = router(cloud, alice, external_gateway_info=info)
    gw = r["external_gateway_info"]
    assert (gw["network_id"], gw["external_fixed_ips"], gw["enable_snat"]) == (net["id"], [], True)
    (port,) = ports_of(cloud, r["id"])
    assert port["device_owner"] == "network:router_gateway" and port["fixed_ips"] == []
    shown = cloud.c.get(f"{N}/routers/{r['id']}", headers=alice).json()["router"]
    assert shown["external_gateway_info"]["external_fixed_ips"] == []
    # setting the same gateway again keeps the port
    again = put(cloud, alice, f"/routers/{r['id']}", {"router": {"external_gateway_info": info}})
    assert again.status_code == 200, again.text
    assert [p["id"] for p in ports_of(cloud, r["id"])] == [port["id"]]
    cleared = put(cloud, alice, f"/routers/{r['id']}", {"router": {"external_gateway_info": None}})
    assert cleared.json()["router"]["external_gateway_info"] is None
    assert ports_of(cloud, r["id"]) == []
    r2 = router(cloud, alice, external_gateway_info=info)
    assert cloud.c.delete(f"{N}/routers/{r2['id']}", headers=alice).status_code == 204
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204
    assert cloud.c.delete(f"{N}/networks/{net['id']}", headers=cloud.admin).status_code == 204


# -- interfaces ----------------------------------------------------------------------


def test_a_routed_gateway_ip_is_neither_moved_nor_dropped(cloud: Cloud) -> None:
    """As Neutron: a subnet's gateway IP held by a router interface stays
    (409 GatewayIpInUse); without the router it may change again."""
    alice = cloud.member("alice")
    pools = [{"start": "10.5.0.10", "end": "10.5.0.20"}]
    sid = internal(cloud, alice, "10.5.0.0/24", allocation_pools=pools)["subnet"]["id"]
    moved = put(cloud, alice, f"/subnets/{sid}", {"subnet": {"gateway_ip": "10.5.0.2"}})
    assert moved.status_code == 200, moved.text  # no router port yet
    r = router(cloud, alice)
    assert add_if(cloud, alice, r["id"], subnet_id=sid).status_code == 200
    for gateway in ("10.5.0.3", None):
        refused = put(cloud, alice, f"/subnets/{sid}", {"subnet": {"gateway_ip": gateway}})
        assert error(refused, 409) == "GatewayIpInUse"
        assert "10.5.0.2" in refused.json()["NeutronError"]["message"]
    same = put(cloud, alice, f"/subnets/{sid}", {"subnet": {"gateway_ip": "10.5.0.2"}})
    assert same.status_code == 200, same.text
    assert remove_if(cloud, alice, r["id"], subnet_id=sid).status_code == 200
    again = put(cloud, alice, f"/subnets/{sid}", {"subnet": {"gateway_ip": None}})
    assert again.status_code == 200 and again.json()["subnet"]["gateway_ip"] is None


def test_interface_by_subnet_and_by_port(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    a = internal(cloud, alice, "10.0.1.0/24")
    b = internal(cloud, alice, "10.0.2.0/24")
    r = router(cloud, alice)
    got = add_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"])
    assert got.status_code == 200, got.text
    body = got.json()
    assert set(body) == INTERFACE_KEYS
    assert body["id"] == r["id"] and body["subnet_id"] == a["subnet"]["id"]
    assert body["subnet_ids"] == [a["subnet"]["id"]]
    assert body["network_id"] == a["network"]["id"] and body["tags"] == []
    port = cloud.c.get(f"{N}/ports/{body['port_id']}", headers=cloud.admin).json()["port"]
    assert port["device_owner"] == "network:router_interface_distributed"
    assert port["device_id"] == r["id"] and port["port_security_enabled"] is False
    assert port["security_groups"] == [] and port["binding:host_id"] == ""
    assert port["fixed_ips"] == [{"subnet_id": a["subnet"]["id"], "ip_address": "10.0.1.1"}]
    assert port["project_id"] == cloud.projects["alice"]

    plain = cloud.post(alice, "/ports", {"port": {"network_id": b["network"]["id"]}})["port"]
    got = add_if(cloud, alice, r["id"], port_id=plain["id"])
    assert got.status_code == 200, got.text
    assert got.json()["port_id"] == plain["id"] and got.json()["subnet_ids"] == [b["subnet"]["id"]]
    owner = cloud.c.get(f"{N}/ports/{plain['id']}", headers=alice).json()["port"]
    assert (owner["device_owner"], owner["device_id"]) == (
        "network:router_interface_distributed",
        r["id"],
    )

    # errors
    assert error(add_if(cloud, alice, r["id"]), 400) == "BadRequest"
    both = add_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"], port_id=plain["id"])
    assert error(both, 400) == "BadRequest"
    assert error(add_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"]), 400) == "BadRequest"
    assert error(add_if(cloud, alice, r["id"], port_id=plain["id"]), 409) == "PortInUse"
    overlap = internal(cloud, alice, "10.0.1.0/25")
    r_overlap = add_if(cloud, alice, r["id"], subnet_id=overlap["subnet"]["id"])
    assert error(r_overlap, 400) == "BadRequest"
    assert "overlaps" in r_overlap.json()["NeutronError"]["message"]
    nogw = internal(cloud, alice, "10.0.3.0/24", gateway_ip=None)
    assert error(add_if(cloud, alice, r["id"], subnet_id=nogw["subnet"]["id"]), 400) == (
        "BadRequest"
    )
    other = router(cloud, alice)
    taken = add_if(cloud, alice, other["id"], subnet_id=a["subnet"]["id"])
    assert error(taken, 409) == "IpAddressAlreadyAllocated"
    noip = cloud.post(
        alice, "/ports", {"port": {"network_id": nogw["network"]["id"], "fixed_ips": []}}
    )["port"]
    assert error(add_if(cloud, alice, r["id"], port_id=noip["id"]), 400) == "BadRequest"

    # in use: router, subnet and the interface port itself
    assert error(cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice), 409) == "RouterInUse"
    sub_del = cloud.c.delete(f"{N}/subnets/{a['subnet']['id']}", headers=alice)
    assert error(sub_del, 409) == "SubnetInUse"
    port_del = cloud.c.delete(f"{N}/ports/{body['port_id']}", headers=alice)
    assert error(port_del, 409) == "ServicePortInUse"

    # removal
    unknown = remove_if(cloud, alice, r["id"], subnet_id=overlap["subnet"]["id"])
    assert error(unknown, 404) == "RouterInterfaceNotFoundForSubnet"
    unknown = remove_if(cloud, alice, r["id"], port_id=noip["id"])
    assert error(unknown, 404) == "RouterInterfaceNotFound"
    gone = remove_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"])
    assert gone.status_code == 200 and gone.json()["port_id"] == body["port_id"]
    gone = remove_if(cloud, alice, r["id"], port_id=plain["id"])
    assert gone.status_code == 200 and gone.json()["subnet_ids"] == [b["subnet"]["id"]]
    assert ports_of(cloud, r["id"]) == []
    assert cloud.c.get(f"{N}/ports/{plain['id']}", headers=alice).status_code == 404
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204


def test_interfaces_of_a_centralized_router(cloud: Cloud) -> None:
    r = router(cloud, cloud.admin, distributed=False)
    a = internal(cloud, cloud.admin, "10.0.1.0/24")
    body = add_if(cloud, cloud.admin, r["id"], subnet_id=a["subnet"]["id"]).json()
    port = cloud.c.get(f"{N}/ports/{body['port_id']}", headers=cloud.admin).json()["port"]
    assert port["device_owner"] == "network:router_interface"


# -- extra routes --------------------------------------------------------------------


def test_extra_routes(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    a = internal(cloud, alice, "10.0.1.0/24")
    r = router(cloud, alice)
    add_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"])
    path = f"/routers/{r['id']}"
    route = {"destination": "192.168.0.0/16", "nexthop": "10.0.1.10"}
    done = put(cloud, alice, path, {"router": {"routes": [route]}})
    assert done.status_code == 200 and done.json()["router"]["routes"] == [route]
    for bad in ({"destination": "192.168.0.0/16", "nexthop": "10.9.9.9"},
                {"destination": "192.168.0.0/16", "nexthop": "10.0.1.1"}):  # fmt: skip
        refused = put(cloud, alice, path, {"router": {"routes": [bad]}})
        assert error(refused, 400) == "InvalidRoutes"
    malformed = put(cloud, alice, path, {"router": {"routes": [{"destination": "x"}]}})
    assert error(malformed, 400) == "InvalidInput"
    busy = remove_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"])
    assert error(busy, 409) == "RouterInterfaceInUseByRoute"

    more = {"destination": "172.16.0.0/12", "nexthop": "10.0.1.11"}
    added = put(cloud, alice, path + "/add_extraroutes", {"router": {"routes": [more, route]}})
    assert added.status_code == 200, added.text
    assert added.json()["router"]["routes"] == [route, more]
    removed = put(cloud, alice, path + "/remove_extraroutes", {"router": {"routes": [route]}})
    assert removed.json()["router"]["routes"] == [more]
    put(cloud, alice, path, {"router": {"routes": []}})
    assert remove_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"]).status_code == 200


def test_l3_extensions_are_listed(cloud: Cloud) -> None:
    exts = cloud.c.get(N + "/extensions", headers=cloud.admin).json()["extensions"]
    aliases = {e["alias"] for e in exts}
    assert {
        "router", "ext-gw-mode", "extraroute", "extraroute-atomic", "dvr", "l3-ha",
        "fip-port-details", "l3_agent_scheduler",
    } <= aliases  # fmt: skip


# -- gateway agents ------------------------------------------------------------------


def _host_of(cloud: Cloud, port_id: str) -> str:
    port = cloud.c.get(f"{N}/ports/{port_id}", headers=cloud.admin).json()["port"]
    return str(port["binding:host_id"])


def _owned(cloud: Cloud, router_id: str, owner: str) -> list[dict[str, Any]]:
    return [p for p in ports_of(cloud, router_id) if p["device_owner"] == owner]


def _l3_agents(cloud: Cloud, router_id: str) -> list[str]:
    r = cloud.c.get(f"{N}/routers/{router_id}/l3-agents", headers=cloud.admin)
    assert r.status_code == 200, r.text
    agents = r.json()["agents"]
    assert all(a["ha_state"] is None and "configurations" in a for a in agents)
    return [a["host"] for a in agents]


def test_no_gateway_agent_leaves_the_router_unbound(cloud: Cloud) -> None:
    register_agent(cloud, "compute1", gateway=False)
    ext = external(cloud)
    r = router(cloud, cloud.admin, external_gateway_info={"network_id": ext["network"]["id"]})
    (gw,) = ports_of(cloud, r["id"])
    assert gw["binding:host_id"] == "" and _l3_agents(cloud, r["id"]) == []


def test_least_loaded_gateway_agent_hosts_each_router(cloud: Cloud) -> None:
    a = register_agent(cloud, "gw-a")
    b = register_agent(cloud, "gw-b")
    register_agent(cloud, "compute1", gateway=False)
    ext = external(cloud)
    gw_info = {"network_id": ext["network"]["id"]}
    hosts = []
    for _ in range(3):
        r = router(cloud, cloud.admin, external_gateway_info=gw_info)
        hosts.append(_l3_agents(cloud, r["id"]))
        (gw,) = ports_of(cloud, r["id"])
        assert gw["binding:host_id"] == hosts[-1][0]
        assert gw["binding:vif_type"] != "unbound"
    assert hosts == [["gw-a"], ["gw-b"], ["gw-a"]]
    hosted = cloud.c.get(f"{N}/agents/{a['id']}/l3-routers", headers=cloud.admin).json()
    assert len(hosted["routers"]) == 2
    plain = router(cloud, cloud.admin)  # distributed, no gateway: not scheduled
    assert _l3_agents(cloud, plain["id"]) == []
    central = router(cloud, cloud.admin, distributed=False)  # centralized: scheduled
    assert _l3_agents(cloud, central["id"]) == ["gw-b"]
    assert b["id"] != a["id"]


def test_snat_ports_and_centralized_interfaces_follow_the_gateway_host(cloud: Cloud) -> None:
    register_agent(cloud, "gw-a")
    ext = external(cloud)
    h = cloud.admin
    sub_a = internal(cloud, h, "10.0.1.0/24")["subnet"]
    sub_b = internal(cloud, h, "10.0.2.0/24")["subnet"]
    r = router(cloud, h)
    add_if(cloud, h, r["id"], subnet_id=sub_a["id"])
    assert _owned(cloud, r["id"], "network:router_centralized_snat") == []  # no gateway yet
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": {"network_id": ext["network"]["id"]}}})  # fmt: skip
    add_if(cloud, h, r["id"], subnet_id=sub_b["id"])
    snat = _owned(cloud, r["id"], "network:router_centralized_snat")
    assert sorted(p["fixed_ips"][0]["subnet_id"] for p in snat) == sorted(
        [sub_a["id"], sub_b["id"]]
    )
    assert {p["fixed_ips"][0]["ip_address"] for p in snat} == {"10.0.1.2", "10.0.2.2"}
    assert all(p["binding:host_id"] == "gw-a" and p["project_id"] == "" for p in snat)
    interfaces = _owned(cloud, r["id"], "network:router_interface_distributed")
    assert [p["binding:host_id"] for p in interfaces] == ["", ""]

    remove_if(cloud, h, r["id"], subnet_id=sub_b["id"])
    snat = _owned(cloud, r["id"], "network:router_centralized_snat")
    assert [p["fixed_ips"][0]["subnet_id"] for p in snat] == [sub_a["id"]]
    no_snat = {"network_id": ext["network"]["id"], "enable_snat": False}
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": no_snat}})
    assert _owned(cloud, r["id"], "network:router_centralized_snat") == []

    # centralized: no SNAT ports, interfaces on the gateway host
    put(cloud, h, f"/routers/{r['id']}", {"router": {"admin_state_up": False}})
    put(cloud, h, f"/routers/{r['id']}", {"router": {"distributed": False}})
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": {"network_id": ext["network"]["id"]}}})  # fmt: skip
    assert _owned(cloud, r["id"], "network:router_centralized_snat") == []
    (itf,) = _owned(cloud, r["id"], "network:router_interface")
    assert itf["binding:host_id"] == "gw-a"


def test_admin_moves_and_unschedules_routers(cloud: Cloud) -> None:
    a = register_agent(cloud, "gw-a")
    b = register_agent(cloud, "gw-b")
    compute = register_agent(cloud, "compute1", gateway=False)
    ext = external(cloud)
    r = router(cloud, cloud.admin, external_gateway_info={"network_id": ext["network"]["id"]})
    (gw,) = ports_of(cloud, r["id"])
    assert _l3_agents(cloud, r["id"]) == ["gw-a"]
    path = f"{N}/agents/{b['id']}/l3-routers"
    moved = cloud.c.post(path, headers=cloud.admin, json={"router_id": r["id"]})
    assert moved.status_code == 201, moved.text
    assert _l3_agents(cloud, r["id"]) == ["gw-b"] and _host_of(cloud, gw["id"]) == "gw-b"
    listed = cloud.c.get(path, headers=cloud.admin).json()["routers"]
    assert [x["id"] for x in listed] == [r["id"]]

    alice = cloud.member("alice")
    assert error(cloud.c.get(path, headers=alice), 403) == "PolicyNotAuthorized"
    assert error(cloud.c.get(f"{N}/routers/{r['id']}/l3-agents", headers=alice), 403) == (
        "PolicyNotAuthorized"
    )
    bad = cloud.c.post(
        f"{N}/agents/{compute['id']}/l3-routers", headers=cloud.admin, json={"router_id": r["id"]}
    )
    assert error(bad, 404) == "InvalidL3Agent"

    gone = cloud.c.delete(f"{path}/{r['id']}", headers=cloud.admin)
    assert gone.status_code == 204
    assert _l3_agents(cloud, r["id"]) == [] and _host_of(cloud, gw["id"]) == ""
    again = cloud.c.delete(f"{path}/{r['id']}", headers=cloud.admin)
    assert error(again, 409) == "RouterNotHostedByL3Agent"
    # the next router update schedules it again, on the least loaded agent
    put(cloud, cloud.admin, f"/routers/{r['id']}", {"router": {"name": "again"}})
    assert _l3_agents(cloud, r["id"]) == ["gw-a"] and _host_of(cloud, gw["id"]) == "gw-a"

    # a dead agent's routers move on the next update
    from kumo.db.agent_models import Agent
    from kumo.db.base import utcnow

    with cloud.rt.db.write_session() as s:
        row = s.get(Agent, a["id"])
        assert row is not None
        row.heartbeat_timestamp = utcnow().replace(year=2000)
        s.commit()
    put(cloud, cloud.admin, f"/routers/{r['id']}", {"router": {"name": "moved"}})
    assert _l3_agents(cloud, r["id"]) == ["gw-b"] and _host_of(cloud, gw["id"]) == "gw-b"


# -- events --------------------------------------------------------------------------


def test_router_and_router_port_events(cloud: Cloud) -> None:
    h = cloud.admin
    register_agent(cloud, "gw-a")
    ext = external(cloud)
    inner = internal(cloud, h, "10.0.1.0/24")
    r = router(cloud, h)
    made = events(cloud, "router", r["id"])
    assert [(e.op, e.topics) for e in made] == [("upsert", [f"router:{r['id']}"])]
    assert made[0].body == {**r, "kumo_gateway_hosts": [], "kumo_ports": []}  # unbound
    info = {"network_id": ext["network"]["id"]}
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": info}})
    last = events(cloud, "router", r["id"])[-1]
    assert last.body["external_gateway_info"]["network_id"] == ext["network"]["id"]
    # scheduled: its gateway host sees it
    assert last.body["kumo_gateway_hosts"] == ["gw-a"]
    assert last.topics == [f"router:{r['id']}", "host:gw-a"]
    assert last.body["distributed"] is True  # the admin body
    (gw,) = ports_of(cloud, r["id"])
    gw_event = events(cloud, "port", gw["id"])[-1]
    assert set(gw_event.topics) == {
        f"network:{ext['network']['id']}",
        "host:gw-a",
        f"router:{r['id']}",
    }
    itf = add_if(cloud, h, r["id"], subnet_id=inner["subnet"]["id"]).json()
    itf_event = events(cloud, "port", itf["port_id"])[-1]
    assert set(itf_event.topics) == {f"network:{inner['network']['id']}", f"router:{r['id']}"}
    with_itf = events(cloud, "router", r["id"])[-1]
    assert with_itf.body["revision_number"] == 2
    (snat,) = [p for p in ports_of(cloud, r["id"]) if p["device_owner"].endswith("snat")]
    # the router's ports as its records say, and the routed network hears of it
    net_id = inner["network"]["id"]
    assert with_itf.body["kumo_ports"] == sorted(
        [
            {"port_id": gw["id"], "port_type": "network:router_gateway",
             "network_id": ext["network"]["id"]},
            {"port_id": itf["port_id"], "port_type": "network:router_interface_distributed",
             "network_id": net_id},
            {"port_id": snat["id"], "port_type": "network:router_centralized_snat",
             "network_id": net_id},
        ],
        key=lambda m: m["port_id"],
    )  # fmt: skip
    assert with_itf.topics == [f"router:{r['id']}", "host:gw-a", f"network:{net_id}"]
    snat_event = events(cloud, "port", snat["id"])[-1]
    assert set(snat_event.topics) == {
        f"network:{inner['network']['id']}",
        "host:gw-a",
        f"router:{r['id']}",
    }
    remove_if(cloud, h, r["id"], subnet_id=inner["subnet"]["id"])
    assert events(cloud, "port", itf["port_id"])[-1].op == "delete"
    assert events(cloud, "port", snat["id"])[-1].op == "delete"
    left = events(cloud, "router", r["id"])[-1]  # the network it left hears it too
    assert left.topics == [f"router:{r['id']}", "host:gw-a", f"network:{net_id}"]
    assert [m["port_type"] for m in left.body["kumo_ports"]] == ["network:router_gateway"]
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": None}})
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=h).status_code == 204
    gone = events(cloud, "router", r["id"])[-1]
    assert gone.op == "delete" and gone.topics == [f"router:{r['id']}"]
    _, objects = snapshot.take(cloud.rt.db, cloud.rt.settings, frozenset({f"router:{r['id']}"}))
    assert objects == []


def test_router_and_floatingip_tags(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    r = router(cloud, alice)
    assert cloud.c.put(f"{N}/routers/{r['id']}/tags/blue", headers=alice).status_code == 201
    shown = cloud.c.get(f"{N}/routers/{r['id']}", headers=alice).json()["router"]
    assert shown["tags"] == ["blue"] and shown["revision_number"] == 1
    assert events(cloud, "router", r["id"])[-1].body["tags"] == ["blue"]
    listed = cloud.c.get(N + "/routers", headers=alice, params={"tags": "blue"}).json()
    assert [x["id"] for x in listed["routers"]] == [r["id"]]
    ext = external(cloud)
    f = cloud.post(
        alice, "/floatingips", {"floatingip": {"floating_network_id": ext["network"]["id"]}}
    )["floatingip"]
    tagged = cloud.c.put(f"{N}/floatingips/{f['id']}/tags", headers=alice, json={"tags": ["x"]})
    assert tagged.status_code == 200, tagged.text
    assert cloud.c.get(f"{N}/floatingips/{f['id']}", headers=alice).json()["floatingip"][
        "tags"
    ] == ["x"]


def test_non_admins_list_no_agents_and_are_not_refused(cloud: Cloud) -> None:
    agent = register_agent(cloud, "host1")
    alice = cloud.member("alice")
    listed = cloud.c.get(N + "/agents", headers=cloud.admin).json()["agents"]
    assert [a["id"] for a in listed] == [agent["id"]]
    r = cloud.c.get(N + "/agents", headers=alice)
    assert r.status_code == 200, r.text
    assert r.json() == {"agents": []}
    assert error(cloud.c.get(f"{N}/agents/{agent['id']}", headers=alice), 403) == (
        "PolicyNotAuthorized"
    )
