"""Router membership is the router's own record, not a port's device fields.

A project may write ``device_owner``/``device_id`` on its own ports (as in
Neutron, a network's owner may set ``network:*`` owners on its network);
claiming another project's router that way makes the port nothing more
than a port: the router is not blocked, does not route the network, the
agents never see it as the router's, and no floating IP goes through it.
"""

from __future__ import annotations

from typing import Any

from kumo.agent.cache import Cache
from kumo.compiler import compile_host
from kumo.compiler import names as n
from kumo.watch import snapshot
from tests.network.conftest import Cloud, N
from tests.network.test_routers import (
    add_if,
    error,
    events,
    external,
    internal,
    put,
    remove_if,
    router,
)

DVR = "network:router_interface_distributed"
HOST = "rp-h1"


def agent_view(cloud: Cloud, host: str) -> Cache:
    """What ``host``'s agent holds: snapshots of its topics until they settle."""
    cache = Cache(host)
    topics = cache.topics()
    for _ in range(10):
        revision, objects = snapshot.take(cloud.rt.db, cloud.rt.settings, topics)
        cache.replace(revision, objects)
        if cache.topics() == topics:
            return cache
        topics = cache.topics()
    raise AssertionError(f"topics never settled: {sorted(topics)}")


def instance(cloud: Cloud, network_id: str, project: str, host: str) -> dict[str, Any]:
    body = {"network_id": network_id, "project_id": project, "device_owner": "compute:nova",
            "device_id": "vm-" + host, "binding:host_id": host}  # fmt: skip
    return dict(cloud.post(cloud.admin, "/ports", {"port": body})["port"])


def forged(cloud: Cloud, h: dict[str, str], net: dict[str, Any], router_id: str) -> Any:
    """A port on ``net`` whose device fields claim to be ``router_id``'s interface."""
    body = {"network_id": net["network"]["id"], "device_owner": DVR, "device_id": router_id,
            "fixed_ips": [{"subnet_id": net["subnet"]["id"],
                           "ip_address": net["subnet"]["gateway_ip"]}]}  # fmt: skip
    return cloud.c.post(N + "/ports", headers=h, json={"port": body})


def test_a_port_claiming_another_projects_router_is_just_a_port(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    reg = {"agent": {"host": HOST, "configurations": {"tunnel_ip": "192.0.2.31"}}}
    assert cloud.c.post("/internal/v1/agents", headers=cloud.admin, json=reg).status_code == 201
    a = internal(cloud, alice, "10.0.1.0/24")
    r = router(cloud, alice)
    itf = add_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"]).json()
    b = internal(cloud, bob, "10.9.0.0/24")
    # Neutron lets a network's owner set network:* owners on it: accepted ...
    made = forged(cloud, bob, b, r["id"])
    assert made.status_code == 201, made.text
    fake = made.json()["port"]
    assert (fake["device_owner"], fake["device_id"]) == (DVR, r["id"])
    instance(cloud, a["network"]["id"], cloud.projects["alice"], HOST)
    instance(cloud, b["network"]["id"], cloud.projects["bob"], HOST)

    # ... but it is no part of alice's router: the host with both instances
    # routes alice's network only
    cache = agent_view(cloud, HOST)
    assert f"router:{r['id']}" in cache.topics()
    plan = compile_host(HOST, cache.view())
    ns = n.router_netns(HOST, r["id"])
    inside = {x.address for x in plan.addresses if x.netns == ns}
    assert inside == {"10.0.1.1/24"}
    legs = {x.master for x in plan.links if x.peer is not None and x.peer.netns == ns}
    assert legs == {n.bridge_name(a["network"]["id"])}

    # not in the router's record, not on its topic
    last = events(cloud, "router", r["id"])[-1]
    assert [m["port_id"] for m in last.body["kumo_ports"]] == [itf["port_id"]]
    assert f"network:{b['network']['id']}" not in last.topics
    assert f"router:{r['id']}" not in events(cloud, "port", fake["id"])[-1].topics
    db, settings = cloud.rt.db, cloud.rt.settings
    _, objects = snapshot.take(db, settings, frozenset({f"router:{r['id']}"}))
    assert fake["id"] not in {o["id"] for o in objects if o["kind"] == "port"}
    _, objects = snapshot.take(db, settings, frozenset({f"network:{b['network']['id']}"}))
    assert [o for o in objects if o["kind"] == "router"] == []

    # alice can still let go of her router; bob's port stays his
    remove_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"])
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}/ports/{fake['id']}", headers=bob).status_code == 200
    assert cloud.c.delete(f"{N}/ports/{fake['id']}", headers=bob).status_code == 204


def test_a_forged_interface_neither_blocks_nor_is_deleted_with_the_router(cloud: Cloud) -> None:
    """The router it claims is still deletable while the forged port exists,
    and the port's owner can delete the port while the router exists."""
    alice, bob = cloud.member("alice"), cloud.member("bob")
    r = router(cloud, alice)
    b = internal(cloud, bob, "10.9.0.0/24")
    fake = forged(cloud, bob, b, r["id"]).json()["port"]
    assert cloud.c.delete(f"{N}/ports/{fake['id']}", headers=bob).status_code == 204
    fake = forged(cloud, bob, b, r["id"]).json()["port"]
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}/ports/{fake['id']}", headers=bob).json()["port"]["id"] == fake["id"]


def test_no_floating_ip_goes_through_a_router_claimed_by_a_forged_port(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    ext = external(cloud)
    gw = {"network_id": ext["network"]["id"]}
    r = router(cloud, alice, external_gateway_info=gw)
    b = internal(cloud, bob, "10.9.0.0/24")
    assert forged(cloud, bob, b, r["id"]).status_code == 201
    vm = cloud.post(bob, "/ports", {"port": {"network_id": b["network"]["id"]}})["port"]
    body = {"floating_network_id": ext["network"]["id"], "port_id": vm["id"]}
    got = cloud.c.post(N + "/floatingips", headers=bob, json={"floatingip": body})
    assert error(got, 404) == "ExternalGatewayForFloatingIPNotFound"


def test_network_owners_alone_may_set_network_owners(cloud: Cloud) -> None:
    """``create_port:device_owner`` / ``update_port:device_owner``: a
    ``network:*`` owner on someone else's (shared) network is refused."""
    bob = cloud.member("bob")
    shared = cloud.post(cloud.admin, "/networks", {"network": {"name": "s", "shared": True}})
    net_id = shared["network"]["id"]
    sub = {"network_id": net_id, "ip_version": 4, "cidr": "10.50.0.0/24"}
    cloud.post(cloud.admin, "/subnets", {"subnet": sub})
    for owner in (DVR, "network:dhcp", "network:router_gateway"):
        body = {"network_id": net_id, "device_owner": owner}
        got = cloud.c.post(N + "/ports", headers=bob, json={"port": body})
        assert error(got, 403) == "PolicyNotAuthorized"
        assert "create_port:device_owner" in got.json()["NeutronError"]["message"]
    mine = cloud.post(bob, "/ports", {"port": {"network_id": net_id, "device_owner": "compute:x"}})
    path = f"/ports/{mine['port']['id']}"
    got = put(cloud, bob, path, {"port": {"device_owner": "network:dhcp"}})
    assert error(got, 403) == "PolicyNotAuthorized"
    assert put(cloud, bob, path, {"port": {"device_owner": "compute:y"}}).status_code == 200
    assert put(
        cloud, cloud.admin, path, {"port": {"device_owner": "network:dhcp"}}
    ).status_code == (200)
    # on a network of their own, as Neutron allows
    own = internal(cloud, bob, "10.9.0.0/24")
    body = {"network_id": own["network"]["id"], "device_owner": "network:dhcp"}
    assert cloud.c.post(N + "/ports", headers=bob, json={"port": body}).status_code == 201


def test_a_router_port_keeps_its_device_and_is_removed_by_the_router_only(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    a = internal(cloud, alice, "10.0.1.0/24")
    r = router(cloud, alice)
    itf = add_if(cloud, alice, r["id"], subnet_id=a["subnet"]["id"]).json()
    path = f"/ports/{itf['port_id']}"
    for h in (alice, cloud.admin):
        for change in ({"device_id": ""}, {"device_owner": "compute:x"}, {"device_id": "other"}):
            got = put(cloud, h, path, {"port": change})
            assert error(got, 409) == "PortInUse"
        assert error(cloud.c.delete(N + path, headers=h), 409) == "ServicePortInUse"
        assert put(cloud, h, path, {"port": {"name": "kept"}}).status_code == 200
    remove_if(cloud, alice, r["id"], port_id=itf["port_id"])
    assert cloud.c.get(N + path, headers=alice).status_code == 404
    assert cloud.c.delete(f"{N}/routers/{r['id']}", headers=alice).status_code == 204
