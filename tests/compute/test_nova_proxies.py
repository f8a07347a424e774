"""Nova's deprecated APIs kumo still serves at 2.1: ``os-hosts`` (to 2.42) and
the network proxies (to 2.35), each 404 from the version Nova dropped it."""

from __future__ import annotations

import uuid

from kumo.image.images import BUSYBOX_ID
from tests.compute.conftest import Cloud, N

V = "2.1"


def _public(cloud: Cloud) -> str:
    body = {"network": {"name": "public", "router:external": True, "is_default": True}}
    net: str = cloud.c.post(N + "/networks", headers=cloud.admin, json=body).json()["network"]["id"]
    sub = {"network_id": net, "cidr": "203.0.113.0/24", "ip_version": 4, "enable_dhcp": False}
    assert (
        cloud.c.post(N + "/subnets", headers=cloud.admin, json={"subnet": sub}).status_code == 201
    )
    return net


def test_os_hosts(cloud: Cloud) -> None:
    a = cloud.admin
    cloud.host("host1", vcpus=4, memory_mb=4096)
    hosts = cloud.get(a, "/os-hosts", version=V)["hosts"]
    assert {(h["host_name"], h["service"], h["zone"]) for h in hosts} == {
        ("controller", "scheduler", "internal"),
        ("controller", "conductor", "internal"),
        ("host1", "compute", "nova"),
    }
    assert [h["host_name"] for h in cloud.get(a, "/os-hosts?zone=nova", version=V)["hosts"]] == [
        "host1"
    ]
    assert cloud.get(a, "/os-hosts?zone=xxx", version=V)["hosts"] == []
    assert len(cloud.get(a, "/os-hosts?zone=", version=V)["hosts"]) == 3
    detail = cloud.get(a, "/os-hosts/host1", version=V)["host"]
    total = detail[0]["resource"]
    assert (total["host"], total["project"], total["cpu"], total["memory_mb"]) == (
        "host1",
        "(total)",
        4,
        4096,
    )
    cloud.get(a, "/os-hosts/nowhere", status=404, version=V)
    alice = cloud.member("alice")
    cloud.get(alice, "/os-hosts", status=403, version=V)
    cloud.call("PUT", alice, "/os-hosts/host1", {"status": "enable"}, 403, V)
    cloud.call("PUT", a, "/os-hosts/host1", {"status": "invalid"}, 400, V)
    cloud.call("PUT", a, "/os-hosts/host1", {}, 400, V)
    cloud.call("PUT", a, "/os-hosts/nowhere", {"status": "enable"}, 404, V)
    out = cloud.call("PUT", a, "/os-hosts/host1", {"status": "disable"}, 200, V)
    assert out == {"host": "host1", "status": "disabled"}
    (hyp,) = cloud.get(a, "/os-hypervisors")["hypervisors"]
    assert hyp["status"] == "disabled"
    cloud.get(a, "/os-hosts/host1/reboot", status=501, version=V)
    cloud.get(a, "/os-hosts/nowhere/reboot", status=404, version=V)
    cloud.get(a, "/os-hosts", status=200, version="2.42")
    cloud.get(a, "/os-hosts", status=404, version="2.43")


def test_security_group_proxy(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    body = {"security_group": {"name": "web", "description": "d"}}
    group = cloud.post(alice, "/os-security-groups", body, status=200, version=V)["security_group"]
    assert (group["name"], group["description"], group["rules"]) == ("web", "d", [])
    assert group["tenant_id"] == cloud.projects["alice"]
    # the same group through the Networking API
    r = cloud.c.get(f"{N}/security-groups/{group['id']}", headers=alice)
    assert r.status_code == 200 and r.json()["security_group"]["name"] == "web"
    names = {
        g["name"] for g in cloud.get(alice, "/os-security-groups", version=V)["security_groups"]
    }
    assert names == {"default", "web"}
    for bad in ("", " ", "x" * 256):
        cloud.post(alice, "/os-security-groups", {"security_group": {"name": bad, "description": ""}}, 400, version=V)  # fmt: skip
    rule = {"parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 22, "to_port": 22}
    made = cloud.post(alice, "/os-security-group-rules", {"security_group_rule": rule}, 200, version=V)["security_group_rule"]  # fmt: skip
    assert (made["ip_protocol"], made["from_port"], made["ip_range"]) == (
        "tcp",
        22,
        {"cidr": "0.0.0.0/0"},
    )
    cloud.post(alice, "/os-security-group-rules", {"security_group_rule": rule}, 400, version=V)
    default = next(g for g in cloud.get(alice, "/os-security-groups", version=V)["security_groups"] if g["name"] == "default")  # fmt: skip
    by_group = {"parent_group_id": group["id"], "ip_protocol": "icmp", "from_port": -1, "to_port": -1, "group_id": default["id"]}  # fmt: skip
    made2 = cloud.post(alice, "/os-security-group-rules", {"security_group_rule": by_group}, 200, version=V)["security_group_rule"]  # fmt: skip
    assert made2["group"] == {"name": "default", "tenant_id": cloud.projects["alice"]}
    shown = cloud.get(alice, f"/os-security-groups/{group['id']}", version=V)["security_group"]
    assert {r["id"] for r in shown["rules"]} == {made["id"], made2["id"]}  # ingress rules only
    for port in (70000, "x"):
        bad = dict(rule, from_port=port)
        cloud.post(alice, "/os-security-group-rules", {"security_group_rule": bad}, 400, version=V)
    bad = dict(rule, ip_protocol="gre")
    cloud.post(alice, "/os-security-group-rules", {"security_group_rule": bad}, 400, version=V)
    missing = dict(rule, parent_group_id=str(uuid.uuid4()))
    cloud.post(alice, "/os-security-group-rules", {"security_group_rule": missing}, 404, version=V)
    invalid = dict(rule, parent_group_id="not-a-uuid")
    cloud.post(alice, "/os-security-group-rules", {"security_group_rule": invalid}, 400, version=V)
    cloud.call("DELETE", alice, f"/os-security-group-rules/{made['id']}", status=202, version=V)
    cloud.call("DELETE", alice, f"/os-security-group-rules/{made['id']}", status=404, version=V)
    upd = {"security_group": {"name": "web2", "description": "e"}}
    out = cloud.call("PUT", alice, f"/os-security-groups/{group['id']}", upd, 200, V)
    assert out["security_group"]["name"] == "web2"
    # another project sees nothing of it; the default group stays
    cloud.get(bob, f"/os-security-groups/{group['id']}", status=404, version=V)
    cloud.call("DELETE", bob, f"/os-security-groups/{group['id']}", status=404, version=V)
    cloud.call("DELETE", alice, f"/os-security-groups/{default['id']}", status=400, version=V)
    cloud.call("DELETE", alice, "/os-security-groups/", status=404, version=V)
    odd = dict(rule, cidr="10.2.3.124/24", from_port=80, to_port=80)
    kept = cloud.post(
        alice, "/os-security-group-rules", {"security_group_rule": odd}, 200, version=V
    )
    # the Networking API keeps a prefix as given, as Neutron does
    assert kept["security_group_rule"]["ip_range"] == {"cidr": "10.2.3.124/24"}
    cloud.get(alice, f"/os-security-groups/{uuid.uuid4()}", status=404, version=V)
    cloud.call("DELETE", alice, f"/os-security-groups/{group['id']}", status=202, version=V)
    cloud.get(alice, "/os-security-groups", status=404, version="2.36")


def test_floating_ip_proxy_and_pools(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    _public(cloud)
    pools = cloud.get(alice, "/os-floating-ip-pools", version=V)["floating_ip_pools"]
    assert pools == [{"name": "public"}]
    fip = cloud.post(alice, "/os-floating-ips", {"pool": "public"}, 200, version=V)["floating_ip"]
    assert fip["ip"].startswith("203.0.113.") and fip["pool"] == "public"
    assert (fip["fixed_ip"], fip["instance_id"]) == (None, None)
    default = cloud.post(alice, "/os-floating-ips", None, 200, version=V)["floating_ip"]
    assert default["pool"] == "public"  # no pool: the default external network
    cloud.post(alice, "/os-floating-ips", {"pool": "nope"}, 404, version=V)
    listed = cloud.get(alice, "/os-floating-ips", version=V)["floating_ips"]
    assert {f["id"] for f in listed} == {fip["id"], default["id"]}
    assert cloud.get(bob, "/os-floating-ips", version=V)["floating_ips"] == []
    cloud.get(bob, f"/os-floating-ips/{fip['id']}", status=404, version=V)
    assert cloud.get(alice, f"/os-floating-ips/{fip['id']}", version=V)["floating_ip"] == fip
    cloud.call("DELETE", alice, f"/os-floating-ips/{fip['id']}", status=202, version=V)
    cloud.call("DELETE", alice, f"/os-floating-ips/{fip['id']}", status=404, version=V)
    r = cloud.c.get(f"{N}/floatingips/{default['id']}", headers=alice)
    assert r.status_code == 200  # the Networking API's own floating IP
    cloud.get(alice, "/os-floating-ips", status=404, version="2.36")
    cloud.get(alice, "/os-floating-ip-pools", status=404, version="2.36")


def test_network_proxies_and_server_groups(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = cloud.net(alice, "mine", "10.5.0.0/24")
    nets = cloud.get(alice, "/os-tenant-networks", version=V)["networks"]
    assert {"id": net, "label": "mine", "cidr": "10.5.0.0/24"} in nets
    shown = cloud.get(alice, f"/os-tenant-networks/{net}", version=V)["network"]
    assert shown["label"] == "mine"
    full = cloud.get(alice, f"/os-networks/{net}", version=V)["network"]
    assert (full["cidr"], full["netmask"], full["gateway"]) == (
        "10.5.0.0/24",
        "255.255.255.0",
        "10.5.0.1",
    )
    assert net in {n["id"] for n in cloud.get(alice, "/os-networks", version=V)["networks"]}
    cloud.get(bob, f"/os-networks/{net}", status=404, version=V)
    cloud.get(alice, "/os-networks", status=404, version="2.36")
    cloud.get(alice, "/os-tenant-networks", status=404, version="2.36")
    cloud.host("host1")
    body = {"server": {"name": "vm", "imageRef": BUSYBOX_ID, "flavorRef": "1", "networks": "none"}}
    sid = cloud.post(alice, "/servers", body)["server"]["id"]
    groups = cloud.get(alice, f"/servers/{sid}/os-security-groups")["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    cloud.get(bob, f"/servers/{sid}/os-security-groups", status=404)


def test_image_proxy(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    listed = cloud.get(alice, "/images", version=V)["images"]
    assert any(i["id"] == BUSYBOX_ID and i["name"] == "busybox" for i in listed)
    assert set(listed[0]) == {"id", "name", "links"}
    shown = cloud.get(alice, f"/images/{BUSYBOX_ID}", version=V)["image"]
    assert (shown["status"], shown["progress"], shown["minRam"]) == ("ACTIVE", 100, 0)
    detail = cloud.get(alice, "/images/detail", version=V)["images"]
    assert shown in detail
    cloud.get(alice, f"/images/{uuid.uuid4()}", status=404, version=V)
    r = cloud.c.post(
        "/image/v2/images",
        headers=alice,
        json={"name": "mine", "disk_format": "raw", "container_format": "bare", "a": "1"},
    )
    assert r.status_code == 201, r.text
    mine = r.json()["id"]
    assert cloud.get(alice, f"/images/{mine}", version=V)["image"]["status"] == "SAVING"
    path = f"/images/{mine}/metadata"
    assert cloud.get(alice, path, version=V)["metadata"] == {"a": "1"}
    out = cloud.post(alice, path, {"metadata": {"b": "2"}}, status=200, version=V)
    assert out["metadata"] == {"a": "1", "b": "2"}
    out = cloud.call("PUT", alice, path, {"metadata": {"c": "3"}}, 200, V)
    assert out["metadata"] == {"c": "3"}
    assert cloud.get(alice, f"{path}/c", version=V)["meta"] == {"c": "3"}
    cloud.call("PUT", alice, f"{path}/d", {"meta": {"d": "4"}}, 200, V)
    cloud.call("PUT", alice, f"{path}/d", {"meta": {"e": "4"}}, 400, V)
    cloud.call("DELETE", alice, f"{path}/c", status=204, version=V)
    cloud.get(alice, f"{path}/c", status=404, version=V)
    assert cloud.get(alice, path, version=V)["metadata"] == {"d": "4"}
    # another project sees nothing of a private image
    cloud.get(bob, f"/images/{mine}", status=404, version=V)
    cloud.call("DELETE", bob, f"/images/{mine}", status=404, version=V)
    cloud.call("DELETE", alice, f"/images/{mine}", status=204, version=V)
    cloud.get(alice, f"/images/{mine}", status=404, version=V)
    cloud.get(alice, "/images", status=404, version="2.36")
