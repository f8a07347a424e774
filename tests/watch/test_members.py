"""A port a host holds for its addresses alone comes as its member body,
in lists and on the watch; brought by any other topic, it comes whole."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kumo.watch import members
from tests.live import LiveServer
from tests.watch.test_feed import Watcher

pytestmark = pytest.mark.slow

N = "/networking/v2.0"


def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, r.text
    return r.json()


def _network(api: httpx.Client, cidr: str) -> tuple[str, str]:
    net = _ok(api.post(f"{N}/networks", json={"network": {}}))["network"]["id"]
    body = {"subnet": {"network_id": net, "ip_version": 4, "cidr": cidr}}
    return net, _ok(api.post(f"{N}/subnets", json=body))["subnet"]["id"]


def _port(api: httpx.Client, net: str, host: str, groups: list[str]) -> dict[str, Any]:
    body = {"port": {"network_id": net, "binding:host_id": host, "security_groups": groups}}
    port: dict[str, Any] = _ok(api.post(f"{N}/ports", json=body))["port"]
    return port


def _next_port(watcher: Watcher, port_id: str) -> dict[str, Any]:
    while True:
        event = watcher.next_change()
        if event["kind"] == "port" and event["object"]["id"] == port_id:
            return event


def test_a_port_held_for_its_addresses_alone_comes_as_its_member_body(
    live_server: LiveServer,
) -> None:
    api = httpx.Client(
        base_url=live_server.base, headers={"X-Auth-Token": live_server.token()}, timeout=30
    )
    a, sub_a = _network(api, "10.71.0.0/24")
    b, _ = _network(api, "10.72.0.0/24")
    c, sub_c = _network(api, "10.73.0.0/24")
    local = _ok(api.post(f"{N}/security-groups", json={"security_group": {"name": "l"}}))
    remote = _ok(api.post(f"{N}/security-groups", json={"security_group": {"name": "r"}}))
    local_id, remote_id = local["security_group"]["id"], remote["security_group"]["id"]
    rule = {"security_group_id": local_id, "direction": "ingress", "remote_group_id": remote_id}
    _ok(api.post(f"{N}/security-group-rules", json={"security_group_rule": rule}))
    # a router joins a and c: a host with a port on a serves c too
    router = _ok(api.post(f"{N}/routers", json={"router": {}}))["router"]["id"]
    for sub in (sub_a, sub_c):
        _ok(api.put(f"{N}/routers/{router}/add_router_interface", json={"subnet_id": sub}))
    _port(api, a, "h1", [local_id])
    far = _port(api, b, "h2", [remote_id])  # a member, on no network h1 serves
    near = _port(api, a, "h3", [remote_id])  # a member on h1's network
    routed = _port(api, c, "h4", [remote_id])  # a member on the router's other network

    whole = _ok(api.get("/internal/v1/list", params={"topics": "host:h1", "host": "h1"}))
    assert {f"members:{remote_id}", f"network:{c}"} <= set(whole["topics"])
    ports = {o["id"]: o for o in whole["objects"] if o["kind"] == "port"}
    assert ports[far["id"]] == {"kind": "port", **members.body(far)}
    assert set(ports[far["id"]]) == {"kind", *members.KEYS, members.MARK}
    assert ports[far["id"]]["fixed_ips"] == far["fixed_ips"]
    for kept in (near, routed):
        assert members.MARK not in ports[kept["id"]] and ports[kept["id"]]["name"] == ""
    assert len(ports) == len([o for o in whole["objects"] if o["kind"] == "port"])

    watcher = Watcher(
        live_server.base, live_server.token(), whole["revision"], ",".join(whole["topics"])
    )
    try:
        body = {"port": {"name": "renamed", "fixed_ips": [{"ip_address": "10.72.0.77"}]}}
        _ok(api.put(f"{N}/ports/{far['id']}", json=body))
        sent = _next_port(watcher, far["id"])["object"]
        assert sent[members.MARK] is True and "name" not in sent
        assert [f["ip_address"] for f in sent["fixed_ips"]] == ["10.72.0.77"]
        _ok(api.put(f"{N}/ports/{near['id']}", json={"port": {"name": "seen"}}))
        sent = _next_port(watcher, near["id"])["object"]
        assert members.MARK not in sent and sent["name"] == "seen"
        # leaving the group reaches the hosts that held it, which then drop it
        _ok(api.put(f"{N}/ports/{far['id']}", json={"port": {"security_groups": []}}))
        sent = _next_port(watcher, far["id"])["object"]
        assert sent[members.MARK] is True and sent["security_groups"] == []
    finally:
        watcher.close()


def test_a_later_round_brings_the_whole_port_in_the_member_bodys_place() -> None:
    from kumo.watch.fragments import keyed
    from kumo.watch.snapshot import _Held

    held = _Held()
    port = {"id": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01", "name": "x"}
    member = {"kind": "port", **members.body(port)}
    held.add([*keyed([{"kind": "network", "id": "n0"}, member, {"kind": "port", "id": "p0"}])])
    held.add([*keyed([{"kind": "port", **port}, member])])
    assert held.objects == [
        {"kind": "network", "id": "n0"},
        {"kind": "port", **port},
        {"kind": "port", "id": "p0"},
    ]
    assert held.by_kind["port"]["p1"]["name"] == "x"
