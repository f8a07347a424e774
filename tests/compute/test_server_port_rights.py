"""A server's ports are made with its user's own rights: what the user could
not do through the Networking API, booting or ``os-interface`` cannot do
either. Only the host binding is compute's own."""

from __future__ import annotations

from typing import Any

from tests.compute.conftest import Cloud, N
from tests.compute.test_servers import boot


def _admin_net(cloud: Cloud, name: str, cidr: str, **attrs: Any) -> str:
    r = cloud.c.post(
        N + "/networks", headers=cloud.admin, json={"network": {"name": name, **attrs}}
    )
    assert r.status_code == 201, r.text
    net_id: str = r.json()["network"]["id"]
    body = {"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4}}
    r = cloud.c.post(N + "/subnets", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    return net_id


def _attach(cloud: Cloud, h: dict[str, str], sid: str, what: dict[str, str], status: int) -> Any:
    body = {"interfaceAttachment": what}
    return cloud.post(h, f"/servers/{sid}/os-interface", body, status=status)


def test_members_cannot_plug_servers_into_an_external_network(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1")
    public = _admin_net(cloud, "public", "203.0.113.0/24", **{"router:external": True})
    message = f"It is not allowed to create an interface on external network {public}"
    r = boot(cloud, alice, "vm", [{"uuid": public}], status=403)
    assert r == {"forbidden": {"code": 403, "message": message}}
    assert cloud.get(alice, "/servers")["servers"] == []
    ports = cloud.c.get(N + f"/ports?network_id={public}", headers=cloud.admin).json()["ports"]
    assert ports == []

    own = cloud.net(alice, "net1", "10.1.0.0/24")
    sid = boot(cloud, alice, "vm", [{"uuid": own}])
    cloud.activate(sid)
    r = _attach(cloud, alice, sid, {"net_id": public}, status=403)
    assert r["forbidden"]["message"] == message
    assert [p["network_id"] for p in cloud.ports_of(sid)] == [own]

    # an admin may, and anyone may use a shared external network
    sid = boot(cloud, cloud.admin, "edge", [{"uuid": public}])
    (port,) = cloud.ports_of(sid)
    assert port["binding:host_id"] == "host1"
    shared = _admin_net(
        cloud, "provider", "198.51.100.0/24", shared=True, **{"router:external": True}
    )
    sid = boot(cloud, alice, "vm2", [{"uuid": shared}])
    (port,) = cloud.ports_of(sid)
    assert port["project_id"] == cloud.projects["alice"] and port["binding:host_id"] == "host1"


def test_a_network_owner_cannot_take_another_projects_port(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    cloud.host("host1")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    body = {"port": {"network_id": net, "project_id": cloud.projects["bob"], "name": "bobs"}}
    r = cloud.c.post(N + "/ports", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    bobs = r.json()["port"]["id"]
    # alice sees the port (it is on her network) but it is not hers to use
    assert cloud.c.get(N + f"/ports/{bobs}", headers=alice).status_code == 200
    r = boot(cloud, alice, "vm", [{"port": bobs}], status=400)
    assert r["badRequest"]["message"].startswith(f"Port {bobs} not usable for instance ")
    assert cloud.get(alice, "/servers")["servers"] == []
    sid = boot(cloud, alice, "vm", [{"uuid": net}])
    cloud.activate(sid)
    r = _attach(cloud, alice, sid, {"port_id": bobs}, status=400)
    assert r["badRequest"]["message"] == f"Port {bobs} not usable for instance {sid}."
    kept = cloud.c.get(N + f"/ports/{bobs}", headers=cloud.admin).json()["port"]
    assert (kept["device_id"], kept["device_owner"], kept["binding:host_id"]) == ("", "", "")
    assert len(cloud.ports_of(sid)) == 1
    # bob, whose port it is, may plug it into his own server
    sid = boot(cloud, bob, "vm", [{"port": bobs}])
    assert [p["id"] for p in cloud.ports_of(sid)] == [bobs]


def test_other_projects_networks_and_ports_are_not_found(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    cloud.host("host1")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    r = cloud.c.post(N + "/ports", headers=alice, json={"port": {"network_id": net}})
    alices = r.json()["port"]["id"]
    r = boot(cloud, bob, "vm", [{"uuid": net}], status=400)
    assert r["badRequest"]["message"] == f"Network {net} could not be found."
    r = boot(cloud, bob, "vm", [{"port": alices}], status=400)
    assert r["badRequest"]["message"] == f"Port id {alices} could not be found."
    own = cloud.net(bob, "bnet", "10.2.0.0/24")
    sid = boot(cloud, bob, "vm", [{"uuid": own}])
    cloud.activate(sid)
    r = _attach(cloud, bob, sid, {"net_id": net}, status=404)
    assert r["itemNotFound"]["message"] == f"Network {net} could not be found."
    r = _attach(cloud, bob, sid, {"port_id": alices}, status=404)
    assert r["itemNotFound"]["message"] == f"Port id {alices} could not be found."
