"""Get me a network: ``networks: auto`` and the auto-allocated topology."""

from __future__ import annotations

from typing import Any

from kumo.image.images import BUSYBOX_ID
from tests.compute.conftest import Cloud, N

ALIAS = "auto-allocated-topology"


def _public(cloud: Cloud, *, default: bool = True) -> str:
    body = {"network": {"name": "public", "router:external": True, "is_default": default}}
    r = cloud.c.post(N + "/networks", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    net_id: str = r.json()["network"]["id"]
    assert r.json()["network"]["is_default"] is default
    sub = {"network_id": net_id, "cidr": "203.0.113.0/24", "ip_version": 4, "enable_dhcp": False}
    r = cloud.c.post(N + "/subnets", headers=cloud.admin, json={"subnet": sub})
    assert r.status_code == 201, r.text
    return net_id


def _aliases(cloud: Cloud, h: dict[str, str]) -> set[str]:
    return {e["alias"] for e in cloud.c.get(N + "/extensions", headers=h).json()["extensions"]}


def _list(cloud: Cloud, h: dict[str, str], what: str) -> list[dict[str, Any]]:
    r = cloud.c.get(f"{N}/{what}", headers=h)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()[what.split("?")[0].replace("-", "_")]
    return items


def _own_networks(cloud: Cloud, h: dict[str, str]) -> list[dict[str, Any]]:
    return [n for n in _list(cloud, h, "networks") if not n["router:external"]]


def _own_subnets(cloud: Cloud, h: dict[str, str]) -> list[dict[str, Any]]:
    """The project's subnets: a reader also sees the subnets of the external
    networks it may use (``subnet-external-network``)."""
    return [s for s in _list(cloud, h, "subnets") if not s["router:external"]]


def _server(cloud: Cloud, h: dict[str, str], version: str, **extra: Any) -> dict[str, Any]:
    body = {"server": {"name": "vm", "imageRef": BUSYBOX_ID, "flavorRef": "1", **extra}}
    r = cloud.c.post(
        "/compute/v2.1/servers", headers={**h, "OpenStack-API-Version": f"compute {version}"},
        json=body,
    )  # fmt: skip
    return {"status": r.status_code, **r.json()}


def test_extension_listed_only_with_a_default_external_network(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    assert ALIAS not in _aliases(cloud, alice)
    public = _public(cloud, default=False)
    assert ALIAS not in _aliases(cloud, alice)
    r = cloud.c.put(
        f"{N}/networks/{public}", headers=cloud.admin, json={"network": {"is_default": True}}
    )
    assert r.status_code == 200 and r.json()["network"]["is_default"] is True
    assert ALIAS in _aliases(cloud, alice)
    assert cloud.c.get(f"{N}/extensions/{ALIAS}", headers=alice).status_code == 200
    # one default external network only; members may not mark one
    body = {"network": {"name": "p2", "router:external": True, "is_default": True}}
    r = cloud.c.post(N + "/networks", headers=cloud.admin, json=body)
    assert r.status_code == 409 and "DefaultExternalNetworkExists" in r.text
    r = cloud.c.post(N + "/networks", headers=alice, json={"network": {"is_default": True}})
    assert r.status_code == 403


def test_topology_is_made_on_first_get_and_taken_apart_on_delete(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    path = f"{N}/auto-allocated-topology/{project}"
    r = cloud.c.get(path + "?fields=dry-run", headers=alice)
    assert r.status_code == 409 and "No default router:external network" in r.text
    public = _public(cloud)
    r = cloud.c.get(path + "?fields=dry-run", headers=alice)
    assert r.status_code == 200 and r.json() == {"auto_allocated_topology": {"dry-run": "pass"}}
    assert _own_networks(cloud, alice) == []  # a dry run makes nothing
    r = cloud.c.get(path, headers=alice)
    assert r.status_code == 200, r.text
    topo = r.json()["auto_allocated_topology"]
    assert (topo["project_id"], topo["tenant_id"]) == (project, project)
    (net,) = _own_networks(cloud, alice)
    assert net["id"] == topo["id"] and net["project_id"] == project
    (sub,) = _own_subnets(cloud, alice)
    assert sub["network_id"] == net["id"] and sub["cidr"] == "10.0.0.0/24"
    (router,) = _list(cloud, alice, "routers")
    assert router["external_gateway_info"]["network_id"] == public
    ports = _list(cloud, alice, f"ports?device_id={router['id']}")
    assert any(p["fixed_ips"][0]["subnet_id"] == sub["id"] for p in ports)
    # the same topology every time, for the project's reader too
    assert cloud.c.get(path, headers=alice).json()["auto_allocated_topology"]["id"] == net["id"]
    ann = cloud.c.get(path, headers=cloud.admin).json()["auto_allocated_topology"]
    assert ann["id"] == net["id"]
    # another project's member may neither see nor delete it
    bob = cloud.member("bob")
    assert cloud.c.get(path, headers=bob).status_code == 403
    assert cloud.c.delete(path, headers=bob).status_code == 403
    assert cloud.c.delete(path, headers=alice).status_code == 204
    assert _own_networks(cloud, alice) == []
    assert _list(cloud, alice, "routers") == [] and _own_subnets(cloud, alice) == []
    assert cloud.c.delete(path, headers=alice).status_code == 404
    # asked again, it is made again
    again = cloud.c.get(path, headers=alice).json()["auto_allocated_topology"]
    assert again["id"] != net["id"]


def test_networks_auto_gets_the_project_a_network(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1")
    out = _server(cloud, alice, "2.37", networks="auto")
    assert out["status"] == 400
    assert "Unable to automatically allocate a network" in out["badRequest"]["message"]
    _public(cloud)
    out = _server(cloud, alice, "2.37", networks="auto")
    assert out["status"] == 202, out
    (port,) = cloud.ports_of(out["server"]["id"])
    (net,) = _own_networks(cloud, alice)
    assert port["network_id"] == net["id"] and net["name"] == "auto_allocated_network"
    # a second server joins the same network: one topology per project
    out = _server(cloud, alice, "2.37", networks="auto", min_count=2)
    assert out["status"] == 202, out
    assert len(_own_networks(cloud, alice)) == 1
    assert len(_list(cloud, alice, "routers")) == 1


def test_networks_omitted_before_237_boots_without_one(cloud: Cloud) -> None:
    """As Nova: no ``networks`` and no network of the project's own (and a
    default external network to allocate with): the server has no port."""
    alice = cloud.member("alice")
    cloud.host("host1")
    _public(cloud)
    out = _server(cloud, alice, "2.1")
    assert out["status"] == 202, out
    assert cloud.ports_of(out["server"]["id"]) == []
    assert _own_networks(cloud, alice) == []
    # with exactly one network, that one
    net = cloud.net(alice, "mine", "10.7.0.0/24")
    out = _server(cloud, alice, "2.1")
    (port,) = cloud.ports_of(out["server"]["id"])
    assert port["network_id"] == net
    cloud.net(alice, "second", "10.8.0.0/24")
    out = _server(cloud, alice, "2.1")
    assert out["status"] == 409 and "Multiple possible networks" in str(out)
    r = _server(cloud, alice, "2.37")
    assert r["status"] == 400  # networks is required from 2.37


def test_a_topology_whose_network_was_deleted_is_made_again(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    _public(cloud)
    path = f"{N}/auto-allocated-topology/{cloud.projects['alice']}"
    first = cloud.c.get(path, headers=alice).json()["auto_allocated_topology"]["id"]
    (router,) = _list(cloud, alice, "routers")
    (sub,) = _own_subnets(cloud, alice)
    r = cloud.c.put(
        f"{N}/routers/{router['id']}/remove_router_interface",
        headers=alice,
        json={"subnet_id": sub["id"]},
    )
    assert r.status_code == 200, r.text
    assert cloud.c.delete(f"{N}/routers/{router['id']}", headers=alice).status_code == 204
    assert cloud.c.delete(f"{N}/networks/{first}", headers=alice).status_code == 204
    r = cloud.c.get(path + "?fields=dry-run", headers=alice)
    assert r.status_code == 200  # a dry run writes nothing
    again = cloud.c.get(path, headers=alice).json()["auto_allocated_topology"]["id"]
    assert again != first and [n["id"] for n in _own_networks(cloud, alice)] == [again]
