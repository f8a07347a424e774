"""Keypairs, limits and quotas, hypervisors and services."""

from __future__ import annotations

from kumo.compute.keypairs import generate
from kumo.image.images import BUSYBOX_ID
from tests.compute.conftest import Cloud


def test_keypairs(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    made = cloud.post(alice, "/os-keypairs", {"keypair": {"name": "k1"}}, status=201)["keypair"]
    assert made["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert made["public_key"].startswith("ssh-rsa ") and made["type"] == "ssh"
    assert len(made["fingerprint"].split(":")) == 16
    _, public = generate()
    imported = cloud.post(
        alice, "/os-keypairs", {"keypair": {"name": "k2", "public_key": public}}, status=201
    )["keypair"]
    assert "private_key" not in imported and imported["public_key"] == public
    cloud.post(alice, "/os-keypairs", {"keypair": {"name": "k2", "public_key": public}}, status=409)
    r = cloud.post(
        alice,
        "/os-keypairs",
        {"keypair": {"name": "k3", "public_key": "ssh-rsa garbage"}},
        status=400,
    )
    assert "Keypair data is invalid" in r["badRequest"]["message"]
    cloud.post(alice, "/os-keypairs", {"keypair": {"name": "bad/name"}}, status=400)
    listed = cloud.get(alice, "/os-keypairs")["keypairs"]
    assert [k["keypair"]["name"] for k in listed] == ["k1", "k2"]
    shown = cloud.get(alice, "/os-keypairs/k1")["keypair"]
    assert shown["user_id"] and shown["fingerprint"] == made["fingerprint"]
    cloud.get(bob, "/os-keypairs/k1", status=404)
    assert cloud.get(bob, "/os-keypairs")["keypairs"] == []
    cloud.host("host1")
    body = {
        "server": {
            "name": "vm",
            "imageRef": BUSYBOX_ID,
            "flavorRef": "1",
            "networks": "none",
            "key_name": "k2",
        }
    }
    sid = cloud.post(alice, "/servers", body)["server"]["id"]
    assert cloud.get(alice, f"/servers/{sid}")["server"]["key_name"] == "k2"
    cloud.call("DELETE", alice, "/os-keypairs/k1", status=204)
    cloud.call("DELETE", alice, "/os-keypairs/k1", status=404)
    cloud.call("DELETE", alice, "/os-keypairs/k2", status=202, version="2.1")
    cloud.call(
        "PUT",
        cloud.admin,
        f"/os-quota-sets/{cloud.projects['alice']}",
        {"quota_set": {"key_pairs": 0}},
    )
    r = cloud.post(alice, "/os-keypairs", {"keypair": {"name": "k4"}}, status=403)
    assert "Quota exceeded" in r["forbidden"]["message"]


def test_limits_and_quotas(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    cloud.host("host1")
    limits = cloud.get(alice, "/limits")["limits"]
    assert limits["rate"] == []
    absolute = limits["absolute"]
    assert (
        absolute["maxTotalInstances"],
        absolute["maxTotalCores"],
        absolute["maxTotalRAMSize"],
    ) == (10, 20, 51200)
    assert absolute["totalInstancesUsed"] == 0 and "maxPersonality" not in absolute
    assert "maxSecurityGroups" in cloud.get(alice, "/limits", version="2.1")["limits"]["absolute"]
    body = {"server": {"name": "vm", "imageRef": BUSYBOX_ID, "flavorRef": "2", "networks": "none"}}
    cloud.post(alice, "/servers", body)
    absolute = cloud.get(alice, "/limits")["limits"]["absolute"]
    assert (
        absolute["totalInstancesUsed"],
        absolute["totalCoresUsed"],
        absolute["totalRAMUsed"],
    ) == (1, 1, 2048)

    quota = cloud.get(alice, f"/os-quota-sets/{project}")["quota_set"]
    assert quota["instances"] == 10 and quota["id"] == project and "floating_ips" not in quota
    assert (
        "floating_ips" in cloud.get(alice, f"/os-quota-sets/{project}", version="2.1")["quota_set"]
    )
    cloud.call(
        "PUT", alice, f"/os-quota-sets/{project}", {"quota_set": {"instances": 2}}, status=403
    )
    other = cloud.member("bob")
    cloud.get(other, f"/os-quota-sets/{project}", status=403)
    updated = cloud.call(
        "PUT", cloud.admin, f"/os-quota-sets/{project}", {"quota_set": {"instances": 2}}
    )
    assert updated["quota_set"]["instances"] == 2
    cloud.call(
        "PUT", cloud.admin, f"/os-quota-sets/{project}", {"quota_set": {"bogus": 2}}, status=400
    )
    detail = cloud.get(alice, f"/os-quota-sets/{project}/detail")["quota_set"]
    assert detail["instances"] == {"limit": 2, "in_use": 1, "reserved": 0}
    # max_count trims to what the quota allows; min_count above it is refused
    many = {"server": {**body["server"], "min_count": 1, "max_count": 5}}
    cloud.post(alice, "/servers", many)
    names = sorted(s["name"] for s in cloud.get(alice, "/servers")["servers"])
    assert names == ["vm", "vm"]
    r = cloud.post(alice, "/servers", body, status=403)
    assert r["forbidden"]["message"].startswith("Quota exceeded for instances")
    cloud.call("DELETE", cloud.admin, f"/os-quota-sets/{project}", status=202)
    assert cloud.get(alice, f"/os-quota-sets/{project}/defaults")["quota_set"]["instances"] == 10
    many = {"server": {**body["server"], "name": "multi", "min_count": 3, "max_count": 3}}
    cloud.post(alice, "/servers", many)
    assert {"multi-1", "multi-2", "multi-3"} <= {
        s["name"] for s in cloud.get(alice, "/servers")["servers"]
    }
    meta = {"server": {**body["server"], "metadata": {str(i): "x" for i in range(129)}}}
    cloud.post(alice, "/servers", meta, status=403)


def test_hypervisors_and_services_are_admin_only(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1", vcpus=4, memory_mb=8192, tunnel_ip="192.0.2.11")
    cloud.host("host2")
    for path in ("/os-hypervisors", "/os-hypervisors/detail", "/os-services"):
        assert cloud.get(alice, path, status=403)["forbidden"]["code"] == 403
    hyper = cloud.get(cloud.admin, "/os-hypervisors")["hypervisors"]
    assert [(h["hypervisor_hostname"], h["state"], h["status"]) for h in hyper] == [
        ("host1", "up", "enabled"),
        ("host2", "up", "enabled"),
    ]
    one = cloud.get(cloud.admin, f"/os-hypervisors/{hyper[0]['id']}")["hypervisor"]
    assert (one["vcpus"], one["memory_mb"], one["host_ip"]) == (4, 8192, "192.0.2.11")
    cloud.get(cloud.admin, "/os-hypervisors/nope", status=404)
    stats = cloud.get(cloud.admin, "/os-hypervisors/statistics")["hypervisor_statistics"]
    assert stats["count"] == 2 and stats["vcpus"] == 12
    services = cloud.get(cloud.admin, "/os-services")["services"]
    assert sorted((s["binary"], s["host"]) for s in services) == [
        ("nova-compute", "host1"),
        ("nova-compute", "host2"),
        ("nova-conductor", "controller"),
        ("nova-scheduler", "controller"),
    ]
    assert all(s["state"] == "up" and s["status"] == "enabled" for s in services)
    only = cloud.get(cloud.admin, "/os-services?binary=nova-compute&host=host2")["services"]
    assert [s["host"] for s in only] == ["host2"]


def test_quota_and_keypair_values_the_database_cannot_hold_are_refused(cloud: Cloud) -> None:
    # A quota past 64 bits was a 500 (OverflowError at the database), and so
    # was a keypair's user_id that is not a string.
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    for value in (10**30, 2**31, -2):
        body = {"quota_set": {"instances": value}}
        r = cloud.call("PUT", cloud.admin, f"/os-quota-sets/{project}", body, status=400)
        assert "instances" in r["badRequest"]["message"]
    ok = {"quota_set": {"instances": 2**31 - 1}}
    got = cloud.call("PUT", cloud.admin, f"/os-quota-sets/{project}", ok)
    assert got["quota_set"]["instances"] == 2**31 - 1
    for user_id in (10**30, ["u"], {}):
        body = {"keypair": {"name": "k", "user_id": user_id}}
        r = cloud.post(cloud.admin, "/os-keypairs", body, status=400)
        assert "user_id" in r["badRequest"]["message"]
    cloud.post(alice, "/os-keypairs", {"keypair": {"name": "k"}}, status=201)
