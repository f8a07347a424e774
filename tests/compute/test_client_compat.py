"""What Nova clients (Tempest, openstacksdk) send and expect: flavor ids,
services per microversion, Keystone's default roles."""

from __future__ import annotations

import uuid

from kumo.compute.keypairs import generate
from kumo.image.images import BUSYBOX_ID
from tests.compute.conftest import Cloud


def _flavor(name: str, **extra: object) -> dict[str, object]:
    return {"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": 0, **extra}}


def test_flavor_ids_as_nova_takes_them(cloud: Cloud) -> None:
    a = cloud.admin
    made = cloud.post(a, "/flavors", _flavor("int", id=12345), status=200)["flavor"]
    assert made["id"] == "12345"
    assert cloud.get(a, "/flavors/12345")["flavor"]["name"] == "int"
    ident = str(uuid.uuid4())
    made = cloud.post(a, "/flavors", _flavor("uuid", id=ident), status=200)["flavor"]
    assert made["id"] == ident
    made = cloud.post(a, "/flavors", _flavor("none", id=None), status=200)["flavor"]
    assert uuid.UUID(made["id"])
    made = cloud.post(a, "/flavors", _flavor("absent"), status=200)["flavor"]
    assert uuid.UUID(made["id"])
    for bad in ("", " lead", "a/b", True, [1]):
        cloud.post(a, "/flavors", _flavor("bad", id=bad), status=400)
    cloud.post(a, "/flavors", _flavor("again", id=12345), status=409)


def test_flavor_is_public_accepts_nova_booleans(cloud: Cloud) -> None:
    a = cloud.admin
    for i, (raw, public) in enumerate([("True", True), ("false", False), ("0", False)]):
        body = _flavor(f"p{i}", **{"os-flavor-access:is_public": raw})
        made = cloud.post(a, "/flavors", body, status=200)["flavor"]
        assert made["os-flavor-access:is_public"] is public
    cloud.post(a, "/flavors", _flavor("x", **{"os-flavor-access:is_public": "maybe"}), status=400)


def test_flavor_access_remove(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    a = cloud.admin
    body = _flavor("private", **{"os-flavor-access:is_public": False})
    fid = cloud.post(a, "/flavors", body, status=200)["flavor"]["id"]
    add = {"addTenantAccess": {"tenant": project}}
    cloud.post(a, f"/flavors/{fid}/action", add, status=200)
    cloud.get(alice, f"/flavors/{fid}")
    remove = {"removeTenantAccess": {"tenant": project}}
    cloud.post(alice, f"/flavors/{fid}/action", remove, status=403)
    out = cloud.post(a, f"/flavors/{fid}/action", remove, status=200)
    assert out["flavor_access"] == []
    cloud.get(alice, f"/flavors/{fid}", status=404)
    cloud.post(a, f"/flavors/{fid}/action", remove, status=404)


def test_services_per_microversion(cloud: Cloud) -> None:
    a = cloud.admin
    cloud.host("host1")
    old = cloud.get(a, "/os-services", version="2.1")["services"]
    assert old and all("forced_down" not in s for s in old)
    assert all(isinstance(s["id"], int) for s in old)  # integers before 2.53
    mid = cloud.get(a, "/os-services", version="2.11")["services"]
    assert all(s["forced_down"] is False for s in mid)
    new = cloud.get(a, "/os-services", version="2.53")["services"]
    assert all(uuid.UUID(s["id"]) for s in new)
    assert sorted(s["host"] for s in old) == sorted(s["host"] for s in new)


def test_service_update_enables_and_disables_a_compute_host(cloud: Cloud) -> None:
    a = cloud.admin
    cloud.host("host1")
    services = cloud.get(a, "/os-services?binary=nova-compute", version="2.53")["services"]
    (compute,) = services
    path = f"/os-services/{compute['id']}"
    out = cloud.call("PUT", a, path, {"status": "disabled"}, version="2.53")["service"]
    assert (out["id"], out["status"]) == (compute["id"], "disabled")
    (hyp,) = cloud.get(a, "/os-hypervisors")["hypervisors"]
    assert hyp["status"] == "disabled"
    out = cloud.call("PUT", a, path, {"status": "enabled"}, version="2.53")["service"]
    assert out["status"] == "enabled"
    cloud.call("PUT", a, f"/os-services/{uuid.uuid4()}", {"status": "enabled"}, 404, "2.53")
    cloud.call("PUT", a, path, {"status": "enabled"}, status=404, version="2.52")
    cloud.call("PUT", cloud.member("alice"), path, {"status": "enabled"}, 403, "2.53")
    scheduler = next(
        s
        for s in cloud.get(a, "/os-services", version="2.53")["services"]
        if s["binary"] == "nova-scheduler"
    )
    cloud.call("PUT", a, f"/os-services/{scheduler['id']}", {"status": "disabled"}, 400, "2.53")


def test_keystone_default_roles_include_manager(cloud: Cloud) -> None:
    """Tempest's project_manager credentials need the ``manager`` role, which
    Keystone bootstraps between admin and member."""
    ident = cloud.rt.identity
    roles = {r.name: r for r in ident.list_rows("role")}
    assert {"admin", "manager", "member", "reader", "service"} <= set(roles)
    project = ident.create_project({"name": "mp"})
    user = ident.create_user({"name": "mgr", "password": "pw-mgr"})
    ident.grant(user.id, "project", project.id, roles["manager"].id)
    token = cloud._token("mgr", "pw-mgr", "mp")
    r = cloud.c.get(
        "/identity/v3/auth/tokens",
        headers={**cloud.admin, "X-Subject-Token": token["X-Auth-Token"]},
    )
    assert r.status_code == 200, r.text
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"manager", "member", "reader"}
    # and a manager works as a member: it may create a server group
    cloud.post(
        token,
        "/os-server-groups",
        {"server_group": {"name": "g", "policy": "affinity"}},
        status=200,
        version="2.64",
    )


def test_quota_update_takes_nova_values_and_legacy_keys(cloud: Cloud) -> None:
    a = cloud.admin
    cloud.member("alice")
    path = f"/os-quota-sets/{cloud.projects['alice']}"
    out = cloud.call("PUT", a, path, {"quota_set": {"ram": "5120", "force": True}}, 200, "2.1")
    assert out["quota_set"]["ram"] == 5120
    legacy = {"fixed_ips": 10, "security_groups": 20, "injected_files": 10}
    out = cloud.call("PUT", a, path, {"quota_set": legacy}, 200, "2.1")["quota_set"]
    assert set(legacy) <= set(out)  # shown at 2.1, never enforced
    cloud.call("PUT", a, path, {"quota_set": {"fixed_ips": 10}}, 400, "2.36")
    cloud.call("PUT", a, path, {"quota_set": {"injected_files": 10}}, 400, "2.57")
    cloud.call("PUT", a, path, {"quota_set": {"ram": "lots"}}, 400, "2.1")
    cloud.call("PUT", a, path, {"quota_set": {"ram": -2}}, 400, "2.1")


def test_admin_creates_a_keypair_for_another_user(cloud: Cloud) -> None:
    cloud.member("alice")
    alice_id = next(u.id for u in cloud.rt.identity.list_rows("user") if u.name == "alice")
    _, public = generate()
    body = {"keypair": {"name": "k", "user_id": alice_id, "public_key": public}}
    made = cloud.post(cloud.admin, "/os-keypairs", body, status=201, version="2.10")["keypair"]
    assert made["user_id"] == alice_id
    shown = cloud.get(cloud.admin, f"/os-keypairs/k?user_id={alice_id}", version="2.10")
    assert shown["keypair"]["user_id"] == alice_id


def test_flavor_extra_spec_keys(cloud: Cloud) -> None:
    a, alice = cloud.admin, cloud.member("alice")
    fid = cloud.post(a, "/flavors", _flavor("specs"), status=200)["flavor"]["id"]
    path = f"/flavors/{fid}/os-extra_specs"
    cloud.post(a, path, {"extra_specs": {"k1": "v1", "k2": "v2"}}, status=200)
    assert cloud.get(alice, f"{path}/k1") == {"k1": "v1"}
    cloud.get(alice, f"{path}/nope", status=404)
    assert cloud.call("PUT", a, f"{path}/k1", {"k1": "v9"}) == {"k1": "v9"}
    cloud.call("PUT", a, f"{path}/k1", {"k2": "v9"}, status=400)
    cloud.call("PUT", a, f"{path}/k1", {"k1": "a", "k2": "b"}, status=400)
    cloud.call("PUT", alice, f"{path}/k1", {"k1": "x"}, status=403)
    cloud.call("DELETE", alice, f"{path}/k1", status=403)
    cloud.call("DELETE", a, f"{path}/k1", status=200)
    cloud.call("DELETE", a, f"{path}/k1", status=404)
    assert cloud.get(a, path)["extra_specs"] == {"k2": "v2"}


def test_hypervisor_search_servers_and_uptime(cloud: Cloud) -> None:
    a = cloud.admin
    cloud.host("host1")
    (hyp,) = cloud.get(a, "/os-hypervisors")["hypervisors"]
    found = cloud.get(a, "/os-hypervisors/host/search", version="2.1")["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == ["host1"]
    cloud.get(a, "/os-hypervisors/nothing/search", status=404, version="2.1")
    cloud.get(a, "/os-hypervisors/host/search", status=404, version="2.53")
    alice = cloud.member("alice")
    body = {"server": {"name": "vm", "imageRef": BUSYBOX_ID, "flavorRef": "1", "networks": "none"}}
    sid = cloud.post(alice, "/servers", body)["server"]["id"]
    (with_servers,) = cloud.get(a, "/os-hypervisors/host1/servers", version="2.1")["hypervisors"]
    assert with_servers["servers"] == [{"uuid": sid, "name": "vm"}]
    cloud.get(alice, "/os-hypervisors/host1/servers", status=403, version="2.1")
    up = cloud.get(a, f"/os-hypervisors/{hyp['id']}/uptime")["hypervisor"]
    assert (up["id"], up["hypervisor_hostname"], up["state"]) == (hyp["id"], "host1", "up")
    assert " up 0 days, " in up["uptime"]
    cloud.get(a, "/os-hypervisors/nothing/uptime", status=404)
    cloud.get(alice, f"/os-hypervisors/{hyp['id']}/uptime", status=403)


def test_extensions_and_migrations(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    names = {e["name"] for e in cloud.get(alice, "/extensions")["extensions"]}
    assert "Hosts" in names
    assert cloud.get(alice, "/extensions/os-consoles")["extension"]["alias"] == "os-consoles"
    cloud.get(alice, "/extensions/nope", status=404)
    assert cloud.get(cloud.admin, "/os-migrations")["migrations"] == []
    cloud.get(alice, "/os-migrations", status=403)


def test_flavor_description_update(cloud: Cloud) -> None:
    a = cloud.admin
    made = cloud.post(a, "/flavors", _flavor("d", description="old"), status=200, version="2.55")
    fid = made["flavor"]["id"]
    out = cloud.call("PUT", a, f"/flavors/{fid}", {"flavor": {"description": "new"}}, 200, "2.55")
    assert out["flavor"]["description"] == "new"
    cloud.call("PUT", a, f"/flavors/{fid}", {"flavor": {"name": "x"}}, 400, "2.55")
    cloud.call("PUT", a, f"/flavors/{fid}", {"flavor": {"description": "x"}}, 404, "2.54")
    cloud.call(
        "PUT",
        cloud.member("alice"),
        f"/flavors/{fid}",
        {"flavor": {"description": "x"}},
        403,
        "2.55",
    )
    cloud.call("PUT", a, "/flavors/nope", {"flavor": {"description": "x"}}, 404, "2.55")


def test_every_compute_response_carries_a_request_id(cloud: Cloud) -> None:
    """Tempest reads ``x-openstack-request-id`` from every compute response:
    successes, faults of the service, of the router (unknown path), of the
    microversion check and of authentication."""
    a = cloud.admin
    answers = [
        cloud.c.get("/compute/"),
        cloud.c.get("/compute/v2.1/flavors", headers=a),
        cloud.c.get("/compute/v2.1/flavors/nope", headers=a),
        cloud.c.get("/compute/v2.1/no-such-thing", headers=a),
        cloud.c.get("/compute/v2.1/flavors", headers={**a, "OpenStack-API-Version": "compute 9.9"}),
        cloud.c.get("/compute/v2.1/flavors"),
        cloud.c.post("/compute/v2.1/flavors", headers=a, content=b"{not json"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 404, 406, 401, 400]
    ids = [r.headers.get("x-openstack-request-id", "") for r in answers]
    assert all(i.startswith("req-") for i in ids), ids
    assert len(set(ids)) == len(ids)
