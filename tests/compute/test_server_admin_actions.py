"""Server actions besides power ones: reset state, inject network info,
force delete, restore, migrate (admin), floating IPs (up to 2.43) and
security groups through the Networking API."""

from __future__ import annotations

from tests.compute.conftest import Cloud, N
from tests.compute.test_nova_proxies import _public
from tests.compute.test_servers import boot


def _act(cloud: Cloud, h: dict[str, str], sid: str, body: object, status: int = 202,
         version: str = "2.79") -> object:  # fmt: skip
    return cloud.post(h, f"/servers/{sid}/action", body, status=status, version=version)


def test_reset_state_and_admin_actions(cloud: Cloud) -> None:
    a, alice = cloud.admin, cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", [{"uuid": net}])
    cloud.activate(sid)
    _act(cloud, alice, sid, {"os-resetState": {"state": "error"}}, 403)
    _act(cloud, a, sid, {"os-resetState": {"state": "error"}})
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "ERROR"
    listed = cloud.get(alice, "/servers/detail?status=error")["servers"]
    assert [s["id"] for s in listed] == [sid]
    _act(cloud, a, sid, {"os-resetState": {"state": "active"}})
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "ACTIVE"
    _act(cloud, a, sid, {"os-resetState": {"state": "stopped"}}, 400)
    _act(cloud, a, sid, {"os-resetState": None}, 400)
    _act(cloud, a, "nothing", {"os-resetState": {"state": "error"}}, 404)
    _act(cloud, a, sid, {"injectNetworkInfo": None})
    _act(cloud, alice, sid, {"injectNetworkInfo": None}, 403)
    _act(cloud, a, "nothing", {"migrate": None}, 404)
    _act(cloud, a, sid, {"migrate": None}, 400)  # no other host to move to
    _act(cloud, alice, sid, {"suspend": None})
    _act(cloud, a, sid, {"migrate": None}, 409)
    _act(cloud, alice, sid, {"resume": None})
    _act(cloud, alice, sid, {"restore": None}, 409)  # nothing is soft-deleted
    _act(cloud, alice, sid, {"forceDelete": None})
    cloud.get(alice, f"/servers/{sid}", status=404)


def test_floating_ip_and_security_group_actions(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    public = _public(cloud)
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    subnet = cloud.c.get(f"{N}/subnets?network_id={net}", headers=alice).json()["subnets"][0]
    router = cloud.c.post(
        f"{N}/routers",
        headers=alice,
        json={"router": {"name": "r", "external_gateway_info": {"network_id": public}}},
    ).json()["router"]
    r = cloud.c.put(
        f"{N}/routers/{router['id']}/add_router_interface",
        headers=alice,
        json={"subnet_id": subnet["id"]},
    )
    assert r.status_code == 200, r.text
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", [{"uuid": net}])
    v = "2.43"
    ip1 = cloud.post(alice, "/os-floating-ips", None, 200, version="2.1")["floating_ip"]["ip"]
    ip2 = cloud.post(alice, "/os-floating-ips", None, 200, version="2.1")["floating_ip"]["ip"]
    _act(cloud, alice, sid, {"addFloatingIp": {"address": "0.0.0.0"}}, 404, v)
    _act(cloud, alice, sid, {"removeFloatingIp": {"address": "0.0.0.0"}}, 404, v)
    _act(cloud, alice, sid, {"removeFloatingIp": {"address": ip1}}, 409, v)
    _act(cloud, alice, sid, {"addFloatingIp": {"address": ip1}}, 202, v)
    (port,) = cloud.ports_of(sid)
    fips = cloud.c.get(f"{N}/floatingips?floating_ip_address={ip1}", headers=alice).json()
    assert fips["floatingips"][0]["port_id"] == port["id"]
    addrs = cloud.get(alice, f"/servers/{sid}/ips")["addresses"]["net1"]
    assert {a["addr"] for a in addrs} >= {ip1}
    _act(cloud, alice, sid, {"addFloatingIp": {"address": ip2}}, 400, v)  # one per address
    _act(cloud, alice, sid, {"removeFloatingIp": {"address": ip1}}, 202, v)
    fips = cloud.c.get(f"{N}/floatingips?floating_ip_address={ip1}", headers=alice).json()
    assert fips["floatingips"][0]["port_id"] is None
    _act(cloud, alice, sid, {"addFloatingIp": {"address": ip1}}, 400, "2.44")
    # security groups by name, on the server's ports
    sg = cloud.c.post(
        f"{N}/security-groups", headers=alice, json={"security_group": {"name": "web"}}
    ).json()["security_group"]
    _act(cloud, alice, sid, {"addSecurityGroup": {"name": "nope"}}, 404)
    _act(cloud, alice, sid, {"addSecurityGroup": {"name": "web"}})
    (port,) = cloud.ports_of(sid)
    assert sg["id"] in port["security_groups"]
    names = {g["name"] for g in cloud.get(alice, f"/servers/{sid}/os-security-groups")[
        "security_groups"]}  # fmt: skip
    assert names == {"default", "web"}
    _act(cloud, alice, sid, {"addSecurityGroup": {"name": "web"}}, 400)
    _act(cloud, alice, sid, {"removeSecurityGroup": {"name": "web"}})
    (port,) = cloud.ports_of(sid)
    assert sg["id"] not in port["security_groups"]
    _act(cloud, alice, sid, {"removeSecurityGroup": {"name": "web"}}, 400)
    _act(cloud, cloud.member("bob"), sid, {"addSecurityGroup": {"name": "web"}}, 404)


def test_list_filters_ip_tags_and_project(cloud: Cloud) -> None:
    alice, a = cloud.member("alice"), cloud.admin
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    s1 = boot(cloud, alice, "vm1", [{"uuid": net, "fixed_ip": "10.1.0.10"}], tags=["x", "y"])
    s2 = boot(cloud, alice, "vm2", [{"uuid": net, "fixed_ip": "10.1.0.100"}], tags=["y"])

    def ids(query: str, h: dict[str, str] = alice) -> set[str]:
        return {s["id"] for s in cloud.get(h, f"/servers/detail?{query}")["servers"]}

    assert ids("ip=10.1.0.100") == {s2}
    assert ids("ip=10.1.0.10") == {s1, s2}  # a regular expression, as in Nova
    assert ids("ip6=10.1") == set()
    assert ids("tags=x,y") == {s1} and ids("tags-any=x,y") == {s1, s2}
    assert ids("not-tags=x,y") == {s2} and ids("not-tags-any=x") == {s2}
    project = cloud.get(alice, f"/servers/{s1}")["server"]["tenant_id"]
    assert ids(f"tenant_id={project}", a) == set()  # ignored without all_tenants
    assert ids(f"all_tenants=1&tenant_id={project}", a) == {s1, s2}


def test_update_and_rebuild_answers(cloud: Cloud) -> None:
    from kumo.image.images import BUSYBOX_ID

    alice = cloud.member("alice")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", "none")
    cloud.activate(sid)
    out = cloud.call("PUT", alice, f"/servers/{sid}", {"server": {"name": "n"}}, version="2.74")
    assert out["server"]["name"] == "n"
    assert not any(k.startswith("OS-EXT-") or k == "key_name" for k in out["server"])
    full = cloud.call("PUT", alice, f"/servers/{sid}", {"server": {"name": "m"}}, version="2.75")
    assert "OS-EXT-STS:vm_state" in full["server"]
    body = {"rebuild": {"imageRef": BUSYBOX_ID, "name": "r", "metadata": {"k": "v"},
                        "accessIPv4": "192.0.2.1", "adminPass": "pw"}}  # fmt: skip
    r = _act(cloud, alice, sid, body, version="2.57")
    assert isinstance(r, dict)
    got = r["server"]
    assert (got["name"], got["metadata"], got["accessIPv4"], got["adminPass"]) == (
        "r", {"k": "v"}, "192.0.2.1", "pw",
    )  # fmt: skip
    assert "user_data" in got and "key_name" in got and "OS-EXT-STS:vm_state" not in got
    _act(cloud, alice, sid, {"os-stop": None})
    _act(cloud, alice, sid, {"rebuild": {"imageRef": BUSYBOX_ID}})
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "SHUTOFF"


def test_resize_quota_and_confirm_status(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1", vcpus=64, memory_mb=65536)
    sid = boot(cloud, alice, "vm1", "none")
    cloud.activate(sid)
    project = cloud.get(alice, f"/servers/{sid}")["server"]["tenant_id"]
    body = {"flavor": {"name": "big", "ram": 512, "vcpus": 8, "disk": 1}}
    big = cloud.post(cloud.admin, "/flavors", body, status=200)["flavor"]["id"]
    quota = {"quota_set": {"cores": 2}}
    cloud.call("PUT", cloud.admin, f"/os-quota-sets/{project}", quota)
    _act(cloud, alice, sid, {"resize": {"flavorRef": big}}, 403)  # over the cores quota
    _act(cloud, alice, sid, {"resize": {"flavorRef": "2"}})
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "VERIFY_RESIZE"
    _act(cloud, alice, sid, {"confirmResize": None}, 204)
    assert cloud.get(alice, f"/servers/{sid}")["server"]["status"] == "ACTIVE"
