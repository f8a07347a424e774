"""Routers over HTTP: CRUD, gateways, interfaces, extra routes, policy, quotas,
gateway-agent scheduling, SNAT ports, events and the ``router:R`` snapshot."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N

ROUTER_KEYS = {
    "id", "name", "description", "project_id", "tenant_id", "admin_state_up", "status",
    "external_gateway_info", "routes", "distributed", "ha", "availability_zone_hints",
    "availability_zones", "flavor_id", "tags", "revision_number", "created_at", "updated_at",
}  # fmt: skip
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
    assert set(r) == ROUTER_KEYS - {"distributed", "ha"}  # admin-only attributes
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
