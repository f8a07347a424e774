"""A host's whole-interest list, the fast way (port views kept per revision,
each round reading only the topics it adds, JSON written once per view),
against the straightforward way, on the same database state: the same
revision, topics and objects, before and after changes, and in a second
API server (its own views) after the first one's writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kumo.api.render import json_response
from kumo.db.engine import Database
from kumo.watch import agent_views, encoded, port_views, snapshot
from tests.network.conftest import Cloud, N, open_cloud

HOSTS = ("h1", "h2", "h3")


@pytest.fixture
def cloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    with open_cloud(db_url, tmp_path) as made:
        yield made


def _ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def _port(cloud: Cloud, network: str, host: str, groups: list[str], **extra: Any) -> str:
    body = {"network_id": network, "binding:host_id": host, "security_groups": groups, **extra}
    return str(cloud.post(cloud.admin, "/ports", {"port": body})["port"]["id"])


def _build(cloud: Cloud) -> dict[str, Any]:
    """Two routed networks, two groups (the first naming the second as
    remote), ports on three hosts, a QoS policy, a tag and a trunk."""
    a = cloud.admin
    nets, subnets = [], []
    for i in (1, 2):
        net = cloud.post(a, "/networks", {"network": {"name": f"n{i}"}})["network"]["id"]
        body = {"network_id": net, "ip_version": 4, "cidr": f"10.7{i}.0.0/24"}
        subnets.append(cloud.post(a, "/subnets", {"subnet": body})["subnet"]["id"])
        nets.append(net)
    router = cloud.post(a, "/routers", {"router": {"name": "r"}})["router"]["id"]
    for sub in subnets:
        _ok(cloud.c.put(f"{N}/routers/{router}/add_router_interface", headers=a,
                        json={"subnet_id": sub}))  # fmt: skip
    g1, g2 = (
        cloud.post(a, "/security-groups", {"security_group": {"name": n}})["security_group"]["id"]
        for n in ("g1", "g2")
    )
    rule = {"security_group_id": g1, "direction": "ingress", "remote_group_id": g2}
    cloud.post(a, "/security-group-rules", {"security_group_rule": rule})
    policy = cloud.post(a, "/qos/policies", {"policy": {"name": "q"}})["policy"]["id"]
    limit = cloud.post(a, f"/qos/policies/{policy}/bandwidth_limit_rules",
                       {"bandwidth_limit_rule": {"max_kbps": 1000}})["bandwidth_limit_rule"]  # fmt: skip
    ports = {
        "p1": _port(cloud, nets[0], "h1", [g1], qos_policy_id=policy),
        "p2": _port(cloud, nets[1], "h2", [g2], name="second"),
        "p3": _port(cloud, nets[0], "h2", [g1, g2]),
        "p4": _port(cloud, nets[1], "", [g2]),
        "parent": _port(cloud, nets[0], "h3", [g2]),
        "sub": _port(cloud, nets[1], "h3", [g2]),
    }
    _ok(cloud.c.put(f"{N}/ports/{ports['p2']}/tags/blue", headers=a), 201)
    trunk = {"port_id": ports["parent"], "sub_ports": [
        {"port_id": ports["sub"], "segmentation_type": "vlan", "segmentation_id": 10}]}  # fmt: skip
    cloud.post(a, "/trunks", {"trunk": trunk})
    agents = {
        h: _ok(cloud.c.post("/internal/v1/agents", headers=a,
                            json={"agent": {"host": h, "configurations": _config(i)}}), 201)
        for i, h in enumerate(HOSTS)
    }  # fmt: skip
    return {
        "agents": {h: body["agent"]["id"] for h, body in agents.items()},
        "nets": nets,
        "groups": (g1, g2),
        "policy": policy,
        "limit": limit["id"],
        **ports,
    }


def _config(i: int, **more: Any) -> dict[str, Any]:
    return {"tunnel_ip": f"192.0.2.{i + 1}", "underlay_device": "eth0", "ports": 1, **more}


def _keyed(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], str(o["id"])): dict(o) for o in objects}


def _same(cloud: Cloud, db: Database, host: str) -> list[dict[str, Any]]:
    """The fast list of ``host`` through ``db``, checked against the
    straightforward one (the same snapshot: nothing is written between)."""
    rt = cloud.rt
    topics = frozenset({f"host:{host}"})
    revision, reached, objects = snapshot.take_for(db, rt.settings, topics, host)
    plain = snapshot.take_for(rt.db, rt.settings, topics, host, fast=False)
    assert (revision, reached) == plain[:2]
    assert len(objects) == len(plain[2])
    assert _keyed(objects) == _keyed(plain[2])
    # each object's JSON is the one the plain answer holds, and so the answer
    for o in objects:
        if isinstance(o, encoded.Encoded):
            assert o.json == encoded.dumps(dict(o))
    answer = {"revision": revision, "objects": objects, "topics": sorted(reached)}
    whole = json.loads(encoded.answer(answer))
    assert whole == json.loads(bytes(json_response(answer).body))
    return objects


def _kinds(objects: list[dict[str, Any]]) -> set[str]:
    return {o["kind"] for o in objects}


def test_fast_lists_are_the_straightforward_ones_through_changes(cloud: Cloud) -> None:
    made = _build(cloud)
    a, rt = cloud.admin, cloud.rt
    first = {h: _same(cloud, rt.db, h) for h in HOSTS}
    kinds = {"port", "network", "subnet", "router", "security_group", "agent"}
    assert kinds <= _kinds(first["h1"])
    body = {o["id"]: o for o in first["h1"]}
    assert body[made["p1"]]["kumo_qos_rules"][0]["max_kbps"] == 1000
    assert made["p2"] in body  # a member of g2, the remote group of h1's g1
    subport = {o["id"]: o for o in first["h3"]}[made["sub"]]
    assert subport["kumo_trunk"]["parent_port_id"] == made["parent"]

    # changes to ports themselves and to what their watch bodies add
    _ok(cloud.c.put(f"{N}/ports/{made['p2']}", headers=a, json={"port": {"name": "renamed"}}))
    _ok(cloud.c.put(f"{N}/ports/{made['p3']}/tags/red", headers=a), 201)
    _ok(cloud.c.put(f"{N}/ports/{made['p3']}", headers=a,
                    json={"port": {"security_groups": [made["groups"][0]]}}))  # fmt: skip
    _ok(cloud.c.put(f"{N}/qos/policies/{made['policy']}/bandwidth_limit_rules/{made['limit']}",
                    headers=a, json={"bandwidth_limit_rule": {"max_kbps": 3000}}))  # fmt: skip
    _ok(cloud.c.delete(f"{N}/ports/{made['p4']}", headers=a), 204)
    fresh = _port(cloud, made["nets"][1], "h1", [made["groups"][1]])
    after = {h: _same(cloud, rt.db, h) for h in HOSTS}
    body = {o["id"]: o for o in after["h1"]}
    assert body[made["p1"]]["kumo_qos_rules"][0]["max_kbps"] == 3000
    assert body[made["p2"]]["name"] == "renamed" and fresh in body
    assert made["p4"] not in body
    assert {o["id"]: o for o in after["h2"]}[made["p3"]]["tags"] == ["red"]


def test_a_second_server_never_serves_a_view_older_than_the_port(cloud: Cloud) -> None:
    """Another API server on the database (its own ``Database``, its own
    views) lists after the first one's writes: only the changed port is
    rendered again, and the lists are those of the current state."""
    made = _build(cloud)
    a = cloud.admin
    other = Database(cloud.rt.db.url)
    try:
        views = port_views.of(other)
        for h in HOSTS:
            _same(cloud, other, h)
        rendered = views.rendered
        agents = agent_views.of(other)
        assert rendered > 0 and agents.made == len(HOSTS)
        # a heartbeat with the same configurations: no object is made again
        beat = {"configurations": _config(0)}
        h1 = made["agents"]["h1"]
        _ok(cloud.c.post(f"/internal/v1/agents/{h1}/heartbeat", headers=a, json=beat))
        for h in HOSTS:
            _same(cloud, other, h)
        assert views.rendered == rendered  # nothing changed: nothing rendered
        assert agents.made == len(HOSTS)
        moved = {"configurations": _config(5)}
        _ok(cloud.c.post(f"/internal/v1/agents/{h1}/heartbeat", headers=a, json=moved))
        peers = {o["id"]: o for o in _same(cloud, other, "h2") if o["kind"] == "agent"}
        assert peers[h1]["configurations"]["tunnel_ip"] == "192.0.2.6"
        assert agents.made == len(HOSTS) + 1

        _ok(cloud.c.put(f"{N}/ports/{made['p2']}", headers=a, json={"port": {"name": "again"}}))
        listed = {o["id"]: o for o in _same(cloud, other, "h1")}
        assert listed[made["p2"]]["name"] == "again"
        assert views.rendered == rendered + 1
        _ok(cloud.c.put(f"{N}/ports/{made['p2']}/tags/green", headers=a), 201)
        listed = {o["id"]: o for o in _same(cloud, other, "h2")}
        assert listed[made["p2"]]["tags"] == ["blue", "green"]
        _ok(cloud.c.delete(f"{N}/ports/{made['p2']}", headers=a), 204)
        assert made["p2"] not in {o["id"] for o in _same(cloud, other, "h2")}
    finally:
        other.dispose()


def test_kept_topics_follow_every_kind_of_change(cloud: Cloud) -> None:
    """Each topic's objects are kept between lists (``kumo.watch.fragments``)
    until an event names the topic or an object it holds: lists with
    nothing written between reuse them all, and after each change below
    every host's list is still the straightforward one, among them a
    port's status, which its host's report sends to that host alone."""
    from kumo.watch import fragments

    made = _build(cloud)
    a, rt = cloud.admin, cloud.rt
    kept = fragments.of(rt.db)
    for h in HOSTS:
        _same(cloud, rt.db, h)
    read = kept.read
    for h in HOSTS:
        _same(cloud, rt.db, h)
    assert kept.read == read and kept.reused > 0  # nothing written: nothing read again

    net = made["nets"][0]
    changes = [
        lambda: cloud.c.post("/internal/v1/ports/status", headers=a,
                             json={"active": [made["p3"]], "down": []}),
        lambda: cloud.c.put(f"{N}/networks/{net}", headers=a, json={"network": {"name": "n1b"}}),
        lambda: cloud.c.put(f"{N}/security-groups/{made['groups'][1]}", headers=a,
                            json={"security_group": {"description": "again"}}),
        lambda: cloud.post(a, "/security-group-rules", {"security_group_rule": {
            "security_group_id": made["groups"][0], "direction": "egress",
            "remote_group_id": made["groups"][1]}}),
        lambda: cloud.c.put(f"{N}/ports/{made['p2']}", headers=a,
                            json={"port": {"binding:host_id": "h3"}}),
        lambda: cloud.c.post(f"/internal/v1/agents/{made['agents']['h2']}/heartbeat",
                             headers=a, json={"configurations": _config(7)}),
        lambda: cloud.post(a, "/metering/metering-labels", {"metering_label": {"name": "m"}}),
    ]  # fmt: skip
    for change in changes:
        r = change()
        assert getattr(r, "status_code", 200) < 300, getattr(r, "text", r)
        for h in HOSTS:
            _same(cloud, rt.db, h)
    routers = [o for o in _same(cloud, rt.db, "h1") if o["kind"] == "router"]
    router = routers[0]["id"]
    sub = cloud.post(a, "/subnets", {"subnet": {"network_id": net, "ip_version": 4,
                                                  "cidr": "10.79.0.0/24"}})["subnet"]  # fmt: skip
    _ok(cloud.c.put(f"{N}/routers/{router}/add_router_interface", headers=a,
                    json={"subnet_id": sub["id"]}))  # fmt: skip
    for h in HOSTS:
        _same(cloud, rt.db, h)
    status = {o["id"]: o for o in _same(cloud, rt.db, "h1")}[made["p3"]]["status"]
    assert status == "ACTIVE"
    assert kept.reused > 0 and kept.read > read


def test_topics_read_together_are_each_topics_own_objects(cloud: Cloud) -> None:
    """Read together (``kumo.watch.by_topic``), each topic gets exactly the
    objects it brings alone, the straightforward way: those kept per topic
    are right for any later list that needs only some of them."""
    from kumo.watch import by_topic

    _build(cloud)
    rt = cloud.rt
    topics: set[str] = set()
    for h in HOSTS:
        topics |= snapshot.take_for(rt.db, rt.settings, frozenset({f"host:{h}"}), h)[1]
    assert {t.split(":")[0] for t in topics} >= {"host", "network", "router", "members", "secgroup"}
    with rt.db.read_session() as s:
        read = by_topic.read(s, frozenset(topics), port_views.of(rt.db), agent_views.of(rt.db))
        for topic in sorted(topics):
            alone = snapshot._objects(s, rt.settings, frozenset({topic}))
            assert _keyed(read[topic]) == _keyed(alone), topic
            assert len(read[topic]) == len(alone), topic
