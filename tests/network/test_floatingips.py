"""Floating IPs over HTTP: allocation, association, errors, policy, quotas, events."""

from __future__ import annotations

from typing import Any

from kumo.watch import snapshot
from tests.network.conftest import Cloud, N
from tests.network.test_routers import (
    add_if,
    error,
    events,
    external,
    internal,
    put,
    register_agent,
    remove_if,
    router,
)

FIP_KEYS = {
    "id", "floating_ip_address", "floating_network_id", "router_id", "port_id",
    "fixed_ip_address", "status", "project_id", "tenant_id", "description", "tags",
    "port_details", "port_forwardings", "dns_domain", "dns_name", "qos_policy_id",
    "qos_network_policy_id",
    "revision_number", "created_at", "updated_at",
}  # fmt: skip


def fip(cloud: Cloud, h: dict[str, str], net_id: str, status: int = 201, **body: Any) -> Any:
    r = cloud.c.post(
        N + "/floatingips", headers=h, json={"floatingip": {"floating_network_id": net_id, **body}}
    )
    assert r.status_code == status, r.text
    return r.json()["floatingip"] if status == 201 else str(r.json()["NeutronError"]["type"])


def topology(cloud: Cloud, h: dict[str, str]) -> dict[str, Any]:
    """An external network, a router with a gateway on it and one interface, a port."""
    ext = external(cloud)
    inner = internal(cloud, h, "10.0.1.0/24")
    r = router(cloud, h, external_gateway_info={"network_id": ext["network"]["id"]})
    assert add_if(cloud, h, r["id"], subnet_id=inner["subnet"]["id"]).status_code == 200
    port = cloud.post(h, "/ports", {"port": {"network_id": inner["network"]["id"]}})["port"]
    return {"ext": ext, "inner": inner, "router": r, "port": port}


def test_allocate_associate_disassociate_delete(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    t = topology(cloud, alice)
    ext_id = t["ext"]["network"]["id"]
    f = fip(cloud, alice, ext_id)
    assert set(f) == FIP_KEYS
    assert f["status"] == "DOWN" and f["port_id"] is None and f["router_id"] is None
    assert f["port_details"] is None and f["port_forwardings"] == []
    assert f["dns_name"] == f["dns_domain"] == "" and f["qos_policy_id"] is None
    assert f["floating_ip_address"] == "203.0.113.3"  # .2 is the router's gateway
    assert f["project_id"] == cloud.projects["alice"]
    r = cloud.c.get(N + "/ports", headers=cloud.admin, params={"device_id": f["id"]})
    (own,) = r.json()["ports"]
    assert own["device_owner"] == "network:floatingip" and own["project_id"] == ""
    assert own["fixed_ips"][0]["ip_address"] == f["floating_ip_address"]
    assert error(cloud.c.delete(f"{N}/ports/{own['id']}", headers=cloud.admin), 409) == (
        "ServicePortInUse"
    )

    port = t["port"]
    done = put(cloud, alice, f"/floatingips/{f['id']}", {"floatingip": {"port_id": port["id"]}})
    assert done.status_code == 200, done.text
    body = done.json()["floatingip"]
    assert body["status"] == "ACTIVE" and body["router_id"] == t["router"]["id"]
    assert body["port_id"] == port["id"]
    assert body["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert body["port_details"] == {
        "name": "",
        "network_id": port["network_id"],
        "mac_address": port["mac_address"],
        "admin_state_up": True,
        "status": "DOWN",
        "device_id": "",
        "device_owner": "",
    }
    busy = remove_if(cloud, alice, t["router"]["id"], subnet_id=t["inner"]["subnet"]["id"])
    assert error(busy, 409) == "RouterInterfaceInUseByFloatingIP"
    clear = put(cloud, alice, f"/routers/{t['router']['id']}", {"router": {"external_gateway_info": None}})  # fmt: skip
    assert error(clear, 409) == "RouterExternalGatewayInUseByFloatingIp"

    undone = put(cloud, alice, f"/floatingips/{f['id']}", {"floatingip": {"port_id": None}})
    body = undone.json()["floatingip"]
    assert body["status"] == "DOWN" and body["port_id"] is None and body["router_id"] is None
    assert body["fixed_ip_address"] is None and body["port_details"] is None

    listed = cloud.c.get(N + "/floatingips", headers=alice).json()["floatingips"]
    assert [x["id"] for x in listed] == [f["id"]]
    bob = cloud.member("bob")
    assert cloud.c.get(N + "/floatingips", headers=bob).json()["floatingips"] == []
    assert error(cloud.c.get(f"{N}/floatingips/{f['id']}", headers=bob), 404) == (
        "FloatingIPNotFound"
    )
    assert cloud.c.delete(f"{N}/floatingips/{f['id']}", headers=alice).status_code == 204
    assert (
        cloud.c.get(N + "/ports", headers=cloud.admin, params={"device_id": f["id"]}).json()[
            "ports"
        ]
        == []
    )


def test_create_with_port_and_address_choices(cloud: Cloud) -> None:
    h = cloud.admin
    t = topology(cloud, h)
    ext_id = t["ext"]["network"]["id"]
    inner = t["inner"]
    two = cloud.post(
        h,
        "/ports",
        {
            "port": {
                "network_id": inner["network"]["id"],
                "fixed_ips": [
                    {"subnet_id": inner["subnet"]["id"], "ip_address": "10.0.1.20"},
                    {"subnet_id": inner["subnet"]["id"], "ip_address": "10.0.1.21"},
                ],
            }
        },
    )["port"]
    first = fip(cloud, h, ext_id, port_id=two["id"], floating_ip_address="203.0.113.50")
    assert first["fixed_ip_address"] == "10.0.1.20" and first["status"] == "ACTIVE"
    assert first["floating_ip_address"] == "203.0.113.50"
    second = fip(cloud, h, ext_id, port_id=two["id"], fixed_ip_address="10.0.1.21")
    assert second["fixed_ip_address"] == "10.0.1.21"
    # errors
    assert fip(cloud, h, ext_id, 409, floating_ip_address="203.0.113.50") == (
        "IpAddressAlreadyAllocated"
    )
    assert fip(cloud, h, ext_id, 409, port_id=two["id"]) == "FloatingIPPortAlreadyAssociated"
    assert fip(cloud, h, ext_id, 400, port_id=two["id"], fixed_ip_address="10.0.1.99") == (
        "BadRequest"
    )
    assert fip(cloud, h, inner["network"]["id"], 400) == "BadRequest"
    assert fip(cloud, h, "00000000-0000-0000-0000-000000000000", 404) == "NetworkNotFound"
    lonely = internal(cloud, h, "10.0.9.0/24")
    stray = cloud.post(h, "/ports", {"port": {"network_id": lonely["network"]["id"]}})["port"]
    assert fip(cloud, h, ext_id, 404, port_id=stray["id"]) == (
        "ExternalGatewayForFloatingIPNotFound"
    )
    v6net = cloud.post(h, "/networks", {"network": {"name": "v6"}})["network"]
    v6sub = {"network_id": v6net["id"], "ip_version": 6, "cidr": "2001:db8::/64"}
    cloud.post(h, "/subnets", {"subnet": v6sub})
    v6port = cloud.post(h, "/ports", {"port": {"network_id": v6net["id"]}})["port"]
    assert fip(cloud, h, ext_id, 400, port_id=v6port["id"]) == "BadRequest"


def test_non_admins_use_external_networks_they_do_not_own(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    bob = cloud.member("bob")
    t = topology(cloud, alice)
    ext_id = t["ext"]["network"]["id"]
    f = fip(cloud, bob, ext_id)
    assert f["project_id"] == cloud.projects["bob"]
    # bob cannot see (so cannot use) alice's port
    taken = put(cloud, bob, f"/floatingips/{f['id']}", {"floatingip": {"port_id": t["port"]["id"]}})
    assert error(taken, 404) == "PortNotFound"


def test_floatingip_quota(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    ext = external(cloud)
    project = cloud.projects["alice"]
    put(cloud, cloud.admin, f"/quotas/{project}", {"quota": {"floatingip": 1}})
    fip(cloud, alice, ext["network"]["id"])
    assert fip(cloud, alice, ext["network"]["id"], 409) == "OverQuota"


def test_deleting_the_port_disassociates(cloud: Cloud) -> None:
    h = cloud.admin
    t = topology(cloud, h)
    f = fip(cloud, h, t["ext"]["network"]["id"], port_id=t["port"]["id"])
    assert cloud.c.delete(f"{N}/ports/{t['port']['id']}", headers=h).status_code == 204
    after = cloud.c.get(f"{N}/floatingips/{f['id']}", headers=h).json()["floatingip"]
    assert after["port_id"] is None and after["status"] == "DOWN" and after["router_id"] is None
    last = events(cloud, "floatingip", f["id"])[-1]
    assert f"router:{t['router']['id']}" in last.topics and last.body["port_id"] is None


def test_floatingip_events_and_router_snapshot(cloud: Cloud) -> None:
    h = cloud.admin
    register_agent(cloud, "gw-a")
    t = topology(cloud, h)
    rid = t["router"]["id"]
    port = t["port"]
    put(cloud, h, f"/ports/{port['id']}", {"port": {"binding:host_id": "compute1"}})
    f = fip(cloud, h, t["ext"]["network"]["id"])
    made = events(cloud, "floatingip", f["id"])
    assert [(e.op, e.topics) for e in made] == [("upsert", [])]
    put(cloud, h, f"/floatingips/{f['id']}", {"floatingip": {"port_id": port["id"]}})
    joined = events(cloud, "floatingip", f["id"])[-1]
    assert set(joined.topics) == {f"router:{rid}", "host:compute1"}
    assert joined.body["port_details"]["device_id"] == ""
    put(cloud, h, f"/ports/{port['id']}", {"port": {"binding:host_id": "compute2"}})
    moved = events(cloud, "floatingip", f["id"])[-1]
    assert set(moved.topics) == {f"router:{rid}", "host:compute1", "host:compute2"}

    rt = cloud.rt
    _, objects = snapshot.take(rt.db, rt.settings, frozenset({f"router:{rid}"}))
    kinds = sorted((o["kind"], o.get("device_owner", "")) for o in objects)
    assert kinds == [
        ("floatingip", ""),
        ("port", "network:router_centralized_snat"),
        ("port", "network:router_gateway"),
        ("port", "network:router_interface_distributed"),
        ("router", ""),
    ]
    _, objects = snapshot.take(rt.db, rt.settings, frozenset({"host:compute2"}))
    assert sorted(o["kind"] for o in objects) == ["floatingip", "port"]

    put(cloud, h, f"/floatingips/{f['id']}", {"floatingip": {"port_id": None}})
    left = events(cloud, "floatingip", f["id"])[-1]
    assert set(left.topics) == {f"router:{rid}", "host:compute2"}
    assert cloud.c.delete(f"{N}/floatingips/{f['id']}", headers=h).status_code == 204
    gone = events(cloud, "floatingip", f["id"])[-1]
    assert gone.op == "delete" and gone.body["id"] == f["id"]


def test_deleting_an_external_network_deletes_its_floating_ips(cloud: Cloud) -> None:
    h = cloud.admin
    ext = external(cloud)
    net_id = ext["network"]["id"]
    f = fip(cloud, h, net_id)
    r = router(cloud, h, external_gateway_info={"network_id": net_id})
    assert error(cloud.c.delete(f"{N}/networks/{net_id}", headers=h), 409) == "NetworkInUse"
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": None}})
    assert cloud.c.delete(f"{N}/networks/{net_id}", headers=h).status_code == 204
    assert error(cloud.c.get(f"{N}/floatingips/{f['id']}", headers=h), 404) == (
        "FloatingIPNotFound"
    )
    assert events(cloud, "floatingip", f["id"])[-1].op == "delete"


def test_racing_associations_of_one_fixed_ip_have_one_winner(cloud: Cloud) -> None:
    import threading

    from kumo.context import RequestContext
    from kumo.errors import Conflict
    from kumo.network.l3 import floatingip_service

    h = cloud.admin
    t = topology(cloud, h)
    ext_id = t["ext"]["network"]["id"]
    fips = [fip(cloud, h, ext_id)["id"] for _ in range(6)]
    admin = RequestContext(user_id="a", project_id="p-admin", roles=frozenset({"admin"}))
    svc = cloud.rt.network
    barrier = threading.Barrier(len(fips))
    won: list[str] = []
    lost: list[BaseException] = []

    def associate(fip_id: str) -> None:
        barrier.wait()
        try:
            body = {"port_id": t["port"]["id"]}
            floatingip_service.update_floatingip(svc, admin, fip_id, body)
            won.append(fip_id)
        except BaseException as exc:  # noqa: BLE001
            lost.append(exc)

    threads = [threading.Thread(target=associate, args=(f,)) for f in fips]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(won) == 1 and len(lost) == len(fips) - 1
    assert all(isinstance(e, Conflict) for e in lost), lost
    assert {e.kind for e in lost if isinstance(e, Conflict)} == {"FloatingIPPortAlreadyAssociated"}
    listed = cloud.c.get(N + "/floatingips", headers=h, params={"port_id": t["port"]["id"]})
    assert [f["id"] for f in listed.json()["floatingips"]] == won


def test_blank_update_disassociates_and_other_updates_keep_the_port(cloud: Cloud) -> None:
    h = cloud.admin
    t = topology(cloud, h)
    f = fip(cloud, h, t["ext"]["network"]["id"], port_id=t["port"]["id"])
    url = f"/floatingips/{f['id']}"
    kept = put(cloud, h, url, {"floatingip": {"description": "web"}}).json()["floatingip"]
    assert kept["port_id"] == t["port"]["id"] and kept["description"] == "web"
    address = t["port"]["fixed_ips"][0]["ip_address"]
    r = put(cloud, h, url, {"floatingip": {"fixed_ip_address": address}})
    assert r.status_code == 400
    assert r.json()["NeutronError"]["message"].startswith(
        "Bad floatingip request: fixed_ip_address cannot be specified without a port_id"
    )
    cleared = put(cloud, h, url, {"floatingip": {}})
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()["floatingip"]
    assert body["port_id"] is None and body["fixed_ip_address"] is None
    assert body["router_id"] is None and body["status"] == "DOWN"
    assert cloud.c.get(N + url, headers=h).json()["floatingip"]["port_id"] is None
