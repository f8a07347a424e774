"""HA routers over HTTP (the l3-ha extension): ``ha`` on create and update,
one binding per gateway agent in priority order, ``ha_state`` in
``l3-agents`` and its reports, the watch feed's ``kumo_gateway_hosts`` and
``host:H`` topics, and rescheduling off dead agents."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.watch import snapshot
from tests.network.conftest import Cloud, N, open_cloud
from tests.network.test_routers import (
    add_if,
    error,
    events,
    external,
    internal,
    ports_of,
    put,
    register_agent,
    router,
)

GATEWAY_OWNERS = ("network:router_gateway", "network:router_centralized_snat")


def l3_agents(cloud: Cloud, router_id: str) -> list[tuple[str, str | None]]:
    """(host, ha_state) of the agents hosting the router, in priority order."""
    r = cloud.c.get(f"{N}/routers/{router_id}/l3-agents", headers=cloud.admin)
    assert r.status_code == 200, r.text
    return [(a["host"], a["ha_state"]) for a in r.json()["agents"]]


def report(cloud: Cloud, agent_id: str, states: Any, h: dict[str, str] | None = None) -> Any:
    return cloud.c.post(
        f"/internal/v1/agents/{agent_id}/ha-states",
        headers=cloud.admin if h is None else h,
        json={"ha_states": states},
    )


def kill(cloud: Cloud, agent_id: str) -> None:
    """Make the agent dead: its last heartbeat long ago."""
    with cloud.rt.db.write_session() as s:
        row = s.get(Agent, agent_id)
        assert row is not None
        row.heartbeat_timestamp = utcnow().replace(year=2000)
        s.commit()


def heartbeat(cloud: Cloud, agent_id: str) -> None:
    r = cloud.c.post(f"/internal/v1/agents/{agent_id}/heartbeat", headers=cloud.admin, json={})
    assert r.status_code == 200, r.text


def gateway_hosts(cloud: Cloud, router_id: str) -> set[str]:
    """The ``binding:host_id`` of the router's gateway and SNAT ports."""
    return {
        p["binding:host_id"]
        for p in ports_of(cloud, router_id)
        if p["device_owner"] in GATEWAY_OWNERS
    }


def three_gateways(cloud: Cloud) -> list[dict[str, Any]]:
    register_agent(cloud, "compute1", gateway=False)
    return [register_agent(cloud, f"gw-{x}") for x in "abc"]


# -- the ha attribute ----------------------------------------------------------------


def test_ha_default_policy_and_extension(cloud: Cloud) -> None:
    assert router(cloud, cloud.admin)["ha"] is False  # l3_ha is off by default
    assert router(cloud, cloud.admin, ha=True)["ha"] is True
    alice = cloud.member("alice")
    r = cloud.c.post(N + "/routers", headers=alice, json={"router": {"ha": True}})
    assert error(r, 403) == "PolicyNotAuthorized"
    mine = router(cloud, alice)
    assert "ha" not in mine
    down = {"admin_state_up": False, "ha": True}
    assert error(put(cloud, alice, f"/routers/{mine['id']}", {"router": down}), 403) == (
        "PolicyNotAuthorized"
    )
    exts = cloud.c.get(N + "/extensions", headers=alice).json()["extensions"]
    aliases = {e["alias"] for e in exts}
    assert {"l3-ha", "router-admin-state-down-before-update"} <= aliases


def test_l3_ha_setting_is_the_default(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, l3_ha=True) as ha_cloud:
        assert router(ha_cloud, ha_cloud.admin)["ha"] is True
        assert router(ha_cloud, ha_cloud.admin, ha=False)["ha"] is False
        # members get the default without naming it
        bob = ha_cloud.member("bob")
        made = router(ha_cloud, bob)
        shown = ha_cloud.c.get(f"{N}/routers/{made['id']}", headers=ha_cloud.admin)
        assert shown.json()["router"]["ha"] is True


def test_conversion_only_while_admin_state_down(cloud: Cloud) -> None:
    gws = three_gateways(cloud)
    ext = external(cloud)
    h = cloud.admin
    r = router(cloud, h, external_gateway_info={"network_id": ext["network"]["id"]})
    assert l3_agents(cloud, r["id"]) == [("gw-a", None)]
    path = f"/routers/{r['id']}"
    refused = put(cloud, h, path, {"router": {"ha": True}})
    assert error(refused, 400) == "BadRequest"
    assert "admin_state_up" in refused.json()["NeutronError"]["message"]
    assert put(cloud, h, path, {"router": {"ha": False}}).status_code == 200  # no change

    # router-admin-state-down-before-update: the router must be down before
    # the request that converts it, not in the same request
    both = put(cloud, h, path, {"router": {"ha": True, "admin_state_up": False}})
    assert error(both, 400) == "BadRequest"
    assert both.json()["NeutronError"]["message"] == (
        "Bad router request: Cannot change HA attribute of active routers. Please set "
        "router admin_state_up to False prior to upgrade."
    )
    assert put(cloud, h, path, {"router": {"admin_state_up": False}}).status_code == 200
    done = put(cloud, h, path, {"router": {"ha": True}})
    assert done.status_code == 200, done.text
    assert done.json()["router"]["ha"] is True
    # scheduling ran again: the old agent first, then the least loaded
    assert l3_agents(cloud, r["id"]) == [
        ("gw-a", "unknown"),
        ("gw-b", "unknown"),
        ("gw-c", "unknown"),
    ]
    assert gateway_hosts(cloud, r["id"]) == {"gw-a"}
    back = put(cloud, h, path, {"router": {"ha": False}})
    assert back.status_code == 200 and back.json()["router"]["ha"] is False
    assert l3_agents(cloud, r["id"]) == [("gw-a", None)]
    put(cloud, h, path, {"router": {"admin_state_up": True}})
    assert error(put(cloud, h, path, {"router": {"ha": True}}), 400) == "BadRequest"
    assert len(gws) == 3


# -- bindings ------------------------------------------------------------------------


def test_ha_routers_are_bound_to_several_agents(cloud: Cloud) -> None:
    three_gateways(cloud)
    ext = external(cloud)
    gw = {"network_id": ext["network"]["id"]}
    h = cloud.admin
    plain = router(cloud, h, external_gateway_info=gw)
    assert l3_agents(cloud, plain["id"]) == [("gw-a", None)]
    ha = router(cloud, h, ha=True, external_gateway_info=gw)
    # every gateway agent (three of three), the least loaded first
    assert l3_agents(cloud, ha["id"]) == [
        ("gw-b", "unknown"),
        ("gw-c", "unknown"),
        ("gw-a", "unknown"),
    ]
    # not yet reported: the gateway port is on the first agent's host
    assert gateway_hosts(cloud, ha["id"]) == {"gw-b"}
    # without a gateway a distributed router needs no host, HA or not
    assert l3_agents(cloud, router(cloud, h, ha=True)["id"]) == []
    # centralized HA routers are scheduled too
    central = router(cloud, h, ha=True, distributed=False)
    assert len(l3_agents(cloud, central["id"])) == 3


def test_max_l3_agents_per_router(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, max_l3_agents_per_router=2) as two:
        agents = three_gateways(two)
        ext2 = external(two)
        first = router(two, two.admin, ha=True, external_gateway_info={"network_id": ext2["network"]["id"]})  # fmt: skip
        second = router(two, two.admin, ha=True, external_gateway_info={"network_id": ext2["network"]["id"]})  # fmt: skip
        assert [x for x, _ in l3_agents(two, first["id"])] == ["gw-a", "gw-b"]
        assert [x for x, _ in l3_agents(two, second["id"])] == ["gw-c", "gw-a"]
        hosted = two.c.get(f"{N}/agents/{agents[0]['id']}/l3-routers", headers=two.admin)
        listed = hosted.json()["routers"]
        assert {x["id"] for x in listed} == {first["id"], second["id"]}
        assert all("kumo_gateway_hosts" not in x for x in listed)


def test_distributed_ha_router_has_ha_snat(cloud: Cloud) -> None:
    three_gateways(cloud)
    ext = external(cloud)
    h = cloud.admin
    inner = internal(cloud, h, "10.0.1.0/24")
    r = router(cloud, h, ha=True, distributed=True)
    assert (r["ha"], r["distributed"]) == (True, True)
    add_if(cloud, h, r["id"], subnet_id=inner["subnet"]["id"])
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": {"network_id": ext["network"]["id"]}}})  # fmt: skip
    assert len(l3_agents(cloud, r["id"])) == 3
    owners = sorted(p["device_owner"] for p in ports_of(cloud, r["id"]))
    assert owners == [
        "network:router_centralized_snat",
        "network:router_gateway",
        "network:router_interface_distributed",
    ]
    assert gateway_hosts(cloud, r["id"]) == {"gw-a"}
    interfaces = [p for p in ports_of(cloud, r["id"]) if p["device_owner"].endswith("distributed")]
    assert [p["binding:host_id"] for p in interfaces] == [""]


def test_scheduler_extension_on_ha_routers(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, max_l3_agents_per_router=2) as two:
        a, b, c = three_gateways(two)
        ext = external(two)
        r = router(two, two.admin, ha=True, external_gateway_info={"network_id": ext["network"]["id"]})  # fmt: skip
        assert [x for x, _ in l3_agents(two, r["id"])] == ["gw-a", "gw-b"]
        added = two.c.post(
            f"{N}/agents/{c['id']}/l3-routers", headers=two.admin, json={"router_id": r["id"]}
        )
        assert added.status_code == 201, added.text
        assert [x for x, _ in l3_agents(two, r["id"])] == ["gw-a", "gw-b", "gw-c"]
        again = two.c.post(
            f"{N}/agents/{c['id']}/l3-routers", headers=two.admin, json={"router_id": r["id"]}
        )
        assert again.status_code == 201
        assert [x for x, _ in l3_agents(two, r["id"])] == ["gw-a", "gw-b", "gw-c"]
        gone = two.c.delete(f"{N}/agents/{a['id']}/l3-routers/{r['id']}", headers=two.admin)
        assert gone.status_code == 204
        assert [x for x, _ in l3_agents(two, r["id"])] == ["gw-b", "gw-c"]
        assert gateway_hosts(two, r["id"]) == {"gw-b"}
        twice = two.c.delete(f"{N}/agents/{a['id']}/l3-routers/{r['id']}", headers=two.admin)
        assert error(twice, 409) == "RouterNotHostedByL3Agent"
        # the binding change reached the host the router left
        last = events(two, "router", r["id"])[-1]
        assert last.body["kumo_gateway_hosts"] == ["gw-b", "gw-c"]
        assert {"host:gw-a", "host:gw-b", "host:gw-c"} <= set(last.topics)
        assert b["id"] != a["id"]


# -- HA states -----------------------------------------------------------------------


def test_ha_state_reports_move_the_gateway_ports(cloud: Cloud) -> None:
    a, b, c = three_gateways(cloud)
    ext = external(cloud)
    h = cloud.admin
    inner = internal(cloud, h, "10.0.1.0/24")
    r = router(cloud, h, ha=True)
    add_if(cloud, h, r["id"], subnet_id=inner["subnet"]["id"])
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": {"network_id": ext["network"]["id"]}}})  # fmt: skip
    assert l3_agents(cloud, r["id"]) == [
        ("gw-a", "unknown"),
        ("gw-b", "unknown"),
        ("gw-c", "unknown"),
    ]
    assert gateway_hosts(cloud, r["id"]) == {"gw-a"}
    plain = router(cloud, h)  # not HA: its reports are ignored
    other = "00000000-0000-4000-8000-000000000000"  # unknown routers are ignored

    ok = report(cloud, b["id"], {r["id"]: "active", plain["id"]: "active", other: "active"})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"changed": [r["id"]]}
    for agent in (a, c):
        assert report(cloud, agent["id"], {r["id"]: "standby"}).status_code == 200
    assert l3_agents(cloud, r["id"]) == [
        ("gw-a", "standby"),
        ("gw-b", "active"),
        ("gw-c", "standby"),
    ]
    assert gateway_hosts(cloud, r["id"]) == {"gw-b"}
    (snat,) = [p for p in ports_of(cloud, r["id"]) if p["device_owner"].endswith("snat")]
    moved = events(cloud, "port", snat["id"])[-1]
    assert {"host:gw-a", "host:gw-b"} <= set(moved.topics)
    assert moved.body["binding:host_id"] == "gw-b"
    # the same report again changes nothing
    assert report(cloud, b["id"], {r["id"]: "active"}).json() == {"changed": []}

    # failover: b dies, c takes over
    kill(cloud, b["id"])
    assert l3_agents(cloud, r["id"])[1] == ("gw-b", "unknown")
    report(cloud, c["id"], {r["id"]: "active"})
    assert gateway_hosts(cloud, r["id"]) == {"gw-c"}

    bad = report(cloud, a["id"], {r["id"]: "master"})
    assert error(bad, 400) == "BadRequest"
    assert error(cloud.c.post(f"/internal/v1/agents/{a['id']}/ha-states", headers=h, json={}), 400)
    missing = report(cloud, other, {r["id"]: "active"})
    assert error(missing, 404) == "AgentNotFound"
    alice = cloud.member("alice")
    assert report(cloud, a["id"], {r["id"]: "active"}, h=alice).status_code == 403


def test_never_two_active_gateways_after_a_failover(cloud: Cloud) -> None:
    """The active gateway's agent is killed: its heartbeat is still fresh
    (it counts as alive for ``agent_down_time``), but as soon as another
    gateway reports ``active`` it is listed ``standby`` and the ports move."""
    a, b, _ = three_gateways(cloud)
    ext = external(cloud)
    h = cloud.admin
    inner = internal(cloud, h, "10.0.1.0/24")
    r = router(cloud, h, ha=True)
    add_if(cloud, h, r["id"], subnet_id=inner["subnet"]["id"])
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": {"network_id": ext["network"]["id"]}}})  # fmt: skip
    assert report(cloud, a["id"], {r["id"]: "active"}).status_code == 200
    assert report(cloud, b["id"], {r["id"]: "standby"}).status_code == 200
    assert gateway_hosts(cloud, r["id"]) == {"gw-a"}
    started = time.monotonic()
    # a's agent is killed (no report, heartbeat recent); b's data plane takes over
    assert report(cloud, b["id"], {r["id"]: "active"}).json() == {"changed": [r["id"]]}
    shown = l3_agents(cloud, r["id"])
    assert time.monotonic() - started < 2.0
    assert [state for _, state in shown].count("active") == 1
    assert shown[:2] == [("gw-a", "standby"), ("gw-b", "active")]
    assert gateway_hosts(cloud, r["id"]) == {"gw-b"}
    # a comes back and takes over again (preemption): b is the standby one now
    assert report(cloud, a["id"], {r["id"]: "active"}).json() == {"changed": [r["id"]]}
    assert l3_agents(cloud, r["id"])[:2] == [("gw-a", "active"), ("gw-b", "standby")]
    assert gateway_hosts(cloud, r["id"]) == {"gw-a"}


# -- the watch feed ------------------------------------------------------------------


def test_watch_bodies_name_the_gateway_hosts(cloud: Cloud) -> None:
    three_gateways(cloud)
    ext = external(cloud)
    h = cloud.admin
    r = router(cloud, h, ha=True, external_gateway_info={"network_id": ext["network"]["id"]})
    public = cloud.c.get(f"{N}/routers/{r['id']}", headers=h).json()["router"]
    watch_only = {"kumo_gateway_hosts", "kumo_ports"}
    assert not watch_only & set(public) and not watch_only & set(r)
    listed = cloud.c.get(f"{N}/routers", headers=h).json()["routers"]
    assert all(not watch_only & set(x) for x in listed)

    last = events(cloud, "router", r["id"])[-1]
    assert last.body["kumo_gateway_hosts"] == ["gw-a", "gw-b", "gw-c"]
    assert set(last.topics) == {f"router:{r['id']}", "host:gw-a", "host:gw-b", "host:gw-c"}
    assert {k: v for k, v in last.body.items() if k not in watch_only} == public

    db, settings = cloud.rt.db, cloud.rt.settings
    _, objects = snapshot.take(db, settings, frozenset({"host:gw-b"}))
    routers = [o for o in objects if o["kind"] == "router"]
    assert [o["id"] for o in routers] == [r["id"]]
    assert routers[0]["kumo_gateway_hosts"] == ["gw-a", "gw-b", "gw-c"]
    _, objects = snapshot.take(db, settings, frozenset({f"router:{r['id']}", "host:gw-a"}))
    assert [o["id"] for o in objects if o["kind"] == "router"] == [r["id"]]  # once
    _, objects = snapshot.take(db, settings, frozenset({"host:compute1"}))
    assert [o for o in objects if o["kind"] == "router"] == []

    unbound = router(cloud, h)
    _, objects = snapshot.take(db, settings, frozenset({f"router:{unbound['id']}"}))
    assert [o["kumo_gateway_hosts"] for o in objects if o["kind"] == "router"] == [[]]

    assert cloud.c.delete(f"{N}/routers/{unbound['id']}", headers=h).status_code == 204
    put(cloud, h, f"/routers/{r['id']}", {"router": {"external_gateway_info": None}})
    cleared = events(cloud, "router", r["id"])[-1]
    assert cleared.body["kumo_gateway_hosts"] == []  # needs no host now: unbound
    assert {"host:gw-a", "host:gw-b", "host:gw-c"} <= set(cleared.topics)


# -- rescheduling --------------------------------------------------------------------


def test_rescheduling_replaces_dead_agents(db_url: str, tmp_path: Path) -> None:
    # agents die only when told to (kill), and the server's own loop (every
    # agent_down_time / 3 seconds) does not run during the test
    settings = {"max_l3_agents_per_router": 2, "agent_down_time": 3600}
    with open_cloud(db_url, tmp_path, **settings) as two:
        a, b, c = three_gateways(two)
        ext = external(two)
        gw = {"network_id": ext["network"]["id"]}
        ha = router(two, two.admin, ha=True, external_gateway_info=gw)
        plain = router(two, two.admin, external_gateway_info=gw)
        assert [x for x, _ in l3_agents(two, ha["id"])] == ["gw-a", "gw-b"]
        assert [x for x, _ in l3_agents(two, plain["id"])] == ["gw-c"]
        db, settings = two.rt.db, two.rt.settings
        assert l3_scheduler.reschedule(db, settings) == []  # all alive

        kill(two, a["id"])
        moved = l3_scheduler.reschedule(db, settings)
        assert moved == [ha["id"]]
        # the replacement comes last: b, the surviving agent, is first now
        assert [x for x, _ in l3_agents(two, ha["id"])] == ["gw-b", "gw-c"]
        assert gateway_hosts(two, ha["id"]) == {"gw-b"}
        last = events(two, "router", ha["id"])[-1]
        assert last.body["kumo_gateway_hosts"] == ["gw-b", "gw-c"]
        assert {"host:gw-a", "host:gw-b", "host:gw-c"} <= set(last.topics)
        assert l3_scheduler.reschedule(db, settings) == []  # idempotent

        # no spare agent: the dead binding stays (its host may come back)
        kill(two, c["id"])
        assert l3_scheduler.reschedule(db, settings) == [plain["id"]]
        assert [x for x, _ in l3_agents(two, plain["id"])] == ["gw-b"]
        assert l3_agents(two, ha["id"]) == [("gw-b", "unknown"), ("gw-c", "unknown")]
        # a comes back: it replaces c, last in priority
        heartbeat(two, a["id"])
        assert l3_scheduler.reschedule(db, settings) == [ha["id"]]
        assert [x for x, _ in l3_agents(two, ha["id"])] == ["gw-b", "gw-a"]
        assert b["id"] != c["id"]


def test_the_api_server_reschedules_in_the_background(db_url: str, tmp_path: Path) -> None:
    # agents are dead after 3 s without a heartbeat; the loop runs every second
    with open_cloud(db_url, tmp_path, agent_down_time=3) as cloud:
        ext = external(cloud)
        a = register_agent(cloud, "gw-a")
        r = router(cloud, cloud.admin, external_gateway_info={"network_id": ext["network"]["id"]})
        assert l3_agents(cloud, r["id"]) == [("gw-a", None)]
        b = register_agent(cloud, "gw-b")
        kill(cloud, a["id"])
        deadline = time.monotonic() + 20
        while l3_agents(cloud, r["id"]) != [("gw-b", None)]:
            assert time.monotonic() < deadline, l3_agents(cloud, r["id"])
            heartbeat(cloud, b["id"])
            time.sleep(0.2)
        assert gateway_hosts(cloud, r["id"]) == {"gw-b"}


def test_concurrent_passes_move_each_router_once(db_url: str, tmp_path: Path) -> None:
    """Several API servers on one database each run the loop: every stranded
    router is moved by exactly one of them."""
    settings = {"max_l3_agents_per_router": 2, "agent_down_time": 3600}
    with open_cloud(db_url, tmp_path, **settings) as two:
        a, _, _ = three_gateways(two)
        ext = external(two)
        gw = {"network_id": ext["network"]["id"]}
        made = [router(two, two.admin, ha=True, external_gateway_info=gw)["id"] for _ in range(6)]
        on_a = sorted(r for r in made if "gw-a" in dict(l3_agents(two, r)))
        assert len(on_a) == 4
        kill(two, a["id"])
        servers = [Database(db_url) for _ in range(4)]
        results: list[list[str]] = []
        try:
            threads = [
                threading.Thread(
                    target=lambda db=db: results.append(
                        l3_scheduler.reschedule(db, two.rt.settings)
                    )
                )
                for db in servers
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            for db in servers:
                db.dispose()
        assert sorted(r for moved in results for r in moved) == on_a
        for r in made:
            hosts = [x for x, _ in l3_agents(two, r)]
            assert sorted(hosts) == ["gw-b", "gw-c"]
        assert [len(events(two, "router", r)) for r in on_a] == [2, 2, 2, 2]  # create, move
