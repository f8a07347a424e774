"""Servers and their ports: create, status from port status, actions, delete, isolation."""

from __future__ import annotations

from typing import Any

from kumo.image.images import BUSYBOX_ID
from tests.compute.conftest import Cloud


def boot(
    cloud: Cloud, h: dict[str, str], name: str, networks: Any, status: int = 202, **extra: Any
) -> Any:
    body = {
        "server": {
            "name": name,
            "imageRef": BUSYBOX_ID,
            "flavorRef": "1",
            "networks": networks,
            **extra,
        }
    }
    out = cloud.post(h, "/servers", body, status=status)
    return out["server"]["id"] if status == 202 and "server" in out else out


def test_server_lifecycle_with_ports(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    r = cloud.c.post(
        "/compute/v2.1/servers",
        headers={**alice, "OpenStack-API-Version": "compute 2.79"},
        json={
            "server": {
                "name": "vm1",
                "imageRef": BUSYBOX_ID,
                "flavorRef": "1",
                "networks": [{"uuid": net}],
                "metadata": {"a": "b"},
            }
        },
    )
    assert r.status_code == 202, r.text
    made = r.json()["server"]
    assert made["adminPass"] and made["security_groups"] == [{"name": "default"}]
    assert r.headers["Location"].endswith(f"/servers/{made['id']}")
    sid = made["id"]
    (port,) = cloud.ports_of(sid)
    assert port["device_owner"] == "compute:nova"
    assert port["binding:host_id"] == "host1"
    assert len(port["security_groups"]) == 1

    server = cloud.get(alice, f"/servers/{sid}")["server"]
    assert server["status"] == "BUILD"
    assert server["OS-EXT-STS:vm_state"] == "building"
    assert "OS-EXT-SRV-ATTR:host" not in server
    cloud.activate(sid)
    server = cloud.get(alice, f"/servers/{sid}")["server"]
    assert server["status"] == "ACTIVE"
    assert (server["OS-EXT-STS:vm_state"], server["OS-EXT-STS:power_state"]) == ("active", 1)
    assert server["OS-EXT-STS:task_state"] is None
    (addr,) = server["addresses"]["net1"]
    assert addr["addr"] == port["fixed_ips"][0]["ip_address"]
    assert addr["OS-EXT-IPS:type"] == "fixed"
    assert addr["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]
    assert server["flavor"]["original_name"] == "m1.tiny"
    assert server["metadata"] == {"a": "b"} and server["tenant_id"] == cloud.projects["alice"]
    assert server["OS-EXT-AZ:availability_zone"] == "nova" and server["hostId"]
    assert server["security_groups"] == [{"name": "default"}]
    assert server["locked"] is False and server["description"] is None

    admin_view = cloud.get(cloud.admin, f"/servers/{sid}")["server"]
    assert admin_view["OS-EXT-SRV-ATTR:host"] == "host1"
    assert admin_view["OS-EXT-SRV-ATTR:hypervisor_hostname"] == "host1"
    assert admin_view["OS-EXT-SRV-ATTR:instance_name"].startswith("instance-")
    old = cloud.get(alice, f"/servers/{sid}", version="2.1")["server"]
    assert old["flavor"]["id"] == "1" and "locked" not in old and "description" not in old

    cloud.post(alice, f"/servers/{sid}/action", {"os-start": None}, status=409)
    cloud.post(alice, f"/servers/{sid}/action", {"os-stop": None})
    server = cloud.get(alice, f"/servers/{sid}")["server"]
    assert (server["status"], server["OS-EXT-STS:power_state"]) == ("SHUTOFF", 4)
    assert server["addresses"]["net1"][0]["addr"] == addr["addr"]
    r = cloud.post(alice, f"/servers/{sid}/action", {"reboot": {"type": "SOFT"}}, status=409)
    assert r["conflictingRequest"]["code"] == 409
    cloud.post(alice, f"/servers/{sid}/action", {"os-start": None})
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "ACTIVE"
    cloud.post(alice, f"/servers/{sid}/action", {"reboot": {"type": "HARD"}})
    cloud.post(alice, f"/servers/{sid}/action", {"reboot": {"type": "bogus"}}, status=400)
    cloud.post(
        alice, f"/servers/{sid}/action", {"addFloatingIp": {"address": "1.2.3.4"}}, status=400
    )

    upd = cloud.call(
        "PUT", alice, f"/servers/{sid}", {"server": {"name": "vm1b", "description": "d"}}
    )
    assert (upd["server"]["name"], upd["server"]["description"]) == ("vm1b", "d")
    cloud.call("PUT", alice, f"/servers/{sid}", {"server": {"flavorRef": "2"}}, status=400)

    cloud.call("DELETE", alice, f"/servers/{sid}", status=204)
    assert cloud.ports_of(sid) == []
    r = cloud.get(alice, f"/servers/{sid}", status=404)
    assert r["itemNotFound"]["message"] == f"Instance {sid} could not be found."


def test_given_port_is_kept_and_unbound(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    r = cloud.c.post(
        "/networking/v2.0/ports", headers=alice, json={"port": {"network_id": net, "name": "mine"}}
    )
    port_id = r.json()["port"]["id"]
    sid = boot(cloud, alice, "vm", [{"port": port_id}])
    (port,) = cloud.ports_of(sid)
    assert port["id"] == port_id and port["binding:host_id"] == "host1"
    boot(cloud, alice, "vm2", [{"port": port_id}], status=409)
    cloud.call("DELETE", alice, f"/servers/{sid}", status=204)
    kept = cloud.c.get(f"/networking/v2.0/ports/{port_id}", headers=cloud.admin).json()["port"]
    assert (kept["device_id"], kept["device_owner"], kept["binding:host_id"]) == ("", "", "")


def test_network_choices_and_bad_requests(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1")
    r = boot(cloud, alice, "vm", "auto", status=400)
    assert "automatically allocate" in r["badRequest"]["message"]
    sid = boot(cloud, alice, "vm", "none")
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "ACTIVE"
    assert cloud.get(alice, f"/servers/{sid}")["server"]["addresses"] == {}
    net = cloud.net(alice, "only", "10.2.0.0/24")
    sid = boot(cloud, alice, "auto1", "auto")
    assert [p["network_id"] for p in cloud.ports_of(sid)] == [net]
    cloud.net(alice, "second", "10.3.0.0/24")
    assert boot(cloud, alice, "vm", "auto", status=409)["conflictingRequest"]["code"] == 409
    # networks is required from 2.37, optional before
    body = {"server": {"name": "x", "imageRef": BUSYBOX_ID, "flavorRef": "1"}}
    cloud.post(alice, "/servers", body, status=400)
    cloud.post(alice, "/servers", body, status=409, version="2.36")
    bob = cloud.member("bob")
    boot(cloud, bob, "vm", [{"uuid": net}], status=400)
    boot(cloud, alice, "vm", [{"uuid": net, "fixed_ip": "10.2.0.77"}])
    boot(cloud, alice, "vm", [{"uuid": net, "fixed_ip": "10.2.0.77"}], status=409)
    boot(cloud, alice, "vm", "none", security_groups=[{"name": "nope"}], status=202)
    boot(cloud, alice, "vm", [{"uuid": net}], security_groups=[{"name": "nope"}], status=400)
    boot(cloud, alice, "vm", "none", key_name="missing", status=400)
    boot(cloud, alice, "vm", "none", user_data="%%%not-base64", status=400)
    boot(cloud, alice, "vm", "none", bogus=1, status=400)
    bad = {"server": {"name": "x", "imageRef": BUSYBOX_ID, "flavorRef": "99", "networks": "none"}}
    assert "Flavor 99" in cloud.post(alice, "/servers", bad, status=400)["badRequest"]["message"]
    bad["server"]["flavorRef"], bad["server"]["imageRef"] = "1", "nope"
    cloud.post(alice, "/servers", bad, status=400)
    cloud.get(alice, "/os-volumes_boot", status=404)


def test_project_isolation_and_listing(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    cloud.host("host1")
    a1 = boot(cloud, alice, "web-1", "none")
    a2 = boot(cloud, alice, "db-1", "none")
    b1 = boot(cloud, bob, "web-b", "none")
    cloud.get(bob, f"/servers/{a1}", status=404)
    cloud.call("DELETE", bob, f"/servers/{a1}", status=404)
    cloud.post(bob, f"/servers/{a1}/action", {"os-stop": None}, status=404)
    assert {s["id"] for s in cloud.get(alice, "/servers")["servers"]} == {a1, a2}
    assert [s["id"] for s in cloud.get(alice, "/servers/detail?name=^web")["servers"]] == [a1]
    cloud.get(alice, "/servers/detail?all_tenants=1", status=403)
    everyone = cloud.get(cloud.admin, "/servers/detail?all_tenants=1")["servers"]
    assert {s["id"] for s in everyone} == {a1, a2, b1}
    assert {
        s["id"]
        for s in cloud.get(cloud.admin, "/servers/detail?all_tenants=1&host=host1")["servers"]
    } == {a1, a2, b1}
    assert cloud.get(cloud.admin, "/servers/detail?all_tenants=1&host=other")["servers"] == []
    cloud.post(alice, f"/servers/{a2}/action", {"os-stop": None})
    assert [s["id"] for s in cloud.get(alice, "/servers/detail?status=SHUTOFF")["servers"]] == [a2]
    assert len(cloud.get(alice, "/servers/detail?image=" + BUSYBOX_ID)["servers"]) == 2
    assert cloud.get(alice, "/servers/detail?flavor=2")["servers"] == []
    assert (
        len(cloud.get(alice, "/servers/detail?changes-since=2000-01-01T00:00:00Z")["servers"]) == 2
    )
    assert cloud.get(alice, "/servers/detail?changes-since=2999-01-01T00:00:00Z")["servers"] == []
    first = cloud.get(alice, "/servers?limit=1")
    assert len(first["servers"]) == 1 and first["servers_links"][0]["rel"] == "next"
    rest = cloud.get(alice, f"/servers?marker={first['servers'][0]['id']}")["servers"]
    assert len(rest) == 1 and rest[0]["id"] != first["servers"][0]["id"]
    cloud.get(alice, "/servers?marker=nope", status=400)


def test_interfaces_keep_the_order_the_server_was_given(cloud: Cloud) -> None:
    """A server lists its ports in the order of its ``networks`` at create,
    then those attached later: not by the ports' ids (their creation time,
    stored to the second, ties within one create). A namespace server's
    first network is the one ``kumo exec`` runs in."""
    alice = cloud.member("alice")
    nets = [cloud.net(alice, f"net{i}", f"10.{i}.0.0/24") for i in range(1, 7)]
    cloud.host("host1")
    wanted = nets[::-1]
    sid = boot(cloud, alice, "vm", [{"uuid": n} for n in wanted[:5]])
    cloud.activate(sid)
    cloud.post(alice, f"/servers/{sid}/os-interface",
               {"interfaceAttachment": {"net_id": wanted[5]}}, status=200)  # fmt: skip
    listed = cloud.get(alice, f"/servers/{sid}/os-interface")["interfaceAttachments"]
    assert [a["net_id"] for a in listed] == wanted
    names = {n: f"net{i}" for i, n in enumerate(nets, 1)}
    shown = cloud.get(alice, f"/servers/{sid}")["server"]["addresses"]
    assert list(shown) == [names[n] for n in wanted]


def test_interfaces_attach_detach(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    net2 = cloud.net(alice, "net2", "10.2.0.0/24")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm", [{"uuid": net}])
    cloud.post(
        alice, f"/servers/{sid}/os-interface", {"interfaceAttachment": {"net_id": net2}}, status=409
    )
    cloud.activate(sid)
    made = cloud.post(
        alice, f"/servers/{sid}/os-interface", {"interfaceAttachment": {"net_id": net2}}, status=200
    )
    att = made["interfaceAttachment"]
    assert att["net_id"] == net2 and att["fixed_ips"][0]["ip_address"].startswith("10.2.0.")
    r = cloud.c.post("/networking/v2.0/ports", headers=alice, json={"port": {"network_id": net2}})
    given = r.json()["port"]["id"]
    cloud.post(
        alice,
        f"/servers/{sid}/os-interface",
        {"interfaceAttachment": {"port_id": given}},
        status=200,
    )
    listed = cloud.get(alice, f"/servers/{sid}/os-interface")["interfaceAttachments"]
    assert len(listed) == 3
    assert (
        cloud.get(alice, f"/servers/{sid}/os-interface/{given}")["interfaceAttachment"]["port_id"]
        == given
    )
    assert set(cloud.get(alice, f"/servers/{sid}")["server"]["addresses"]) == {"net1", "net2"}
    cloud.call("DELETE", alice, f"/servers/{sid}/os-interface/{att['port_id']}", status=202)
    cloud.call("DELETE", alice, f"/servers/{sid}/os-interface/{given}", status=202)
    cloud.call("DELETE", alice, f"/servers/{sid}/os-interface/{given}", status=404)
    assert cloud.c.get(f"/networking/v2.0/ports/{att['port_id']}", headers=alice).status_code == 404
    assert (
        cloud.c.get(f"/networking/v2.0/ports/{given}", headers=alice).json()["port"]["device_id"]
        == ""
    )
    assert len(cloud.ports_of(sid)) == 1


def test_wrongly_typed_server_fields_are_bad_requests(cloud: Cloud) -> None:
    # A list as key_name reached the database query (500); so did an integer
    # block_device_mapping_v2 (iterated: TypeError).
    alice = cloud.member("alice")
    cloud.host("host1")
    r = boot(cloud, alice, "vm", "none", key_name=[], status=400)
    assert "key_name" in r["badRequest"]["message"]
    r = boot(cloud, alice, "vm", "none", block_device_mapping_v2=-1, status=400)
    assert "block_device_mapping_v2" in r["badRequest"]["message"]
    boot(cloud, alice, "vm", "none", block_device_mapping_v2=[])
