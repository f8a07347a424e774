"""The agent's cache: which watch events call for a pass."""

from __future__ import annotations

from typing import Any

from kumo.agent.cache import Cache

PORT = "a1000000-0000-4000-8000-000000000001"


def event(revision: int, **changes: Any) -> dict[str, Any]:
    body = {
        "id": PORT,
        "network_id": "n1",
        "binding:host_id": "host-a",
        "status": "DOWN",
        "revision_number": 1,
        "updated_at": "2026-11-26T10:00:00Z",
        **changes,
    }
    return {"kind": "port", "op": "update", "revision": revision, "object": body}


def test_new_and_changed_objects_call_for_a_pass() -> None:
    cache = Cache("host-a")
    assert cache.apply(event(1))
    assert cache.apply(
        event(2, **{"binding:host_id": "host-a", "mac_address": "fa:16:3e:00:00:01"})
    )
    assert cache.revision == 2


def test_the_echo_of_the_agents_own_status_report_does_not() -> None:
    cache = Cache("host-a")
    cache.apply(event(1))
    cache.set_port_status(PORT, "ACTIVE")
    echo = event(2, status="ACTIVE", revision_number=2, updated_at="2026-11-26T10:00:01Z")
    assert not cache.apply(echo)
    assert cache.local_ports()[PORT]["revision_number"] == 2  # the body is still the newest
    # a status the cache does not hold (set by the API) does
    assert cache.apply(event(3, status="DOWN", revision_number=3))


def test_another_hosts_port_turning_active_does_not() -> None:
    cache = Cache("host-b")
    mine = event(1)
    mine["object"].update({"id": "p2", "binding:host_id": "host-b"})  # host-b serves n1
    assert cache.apply(mine)
    assert cache.apply(event(2))  # host-a's port on n1
    g1, _ = cache.view_at()
    active = event(3, status="ACTIVE", revision_number=2, updated_at="2026-11-26T10:00:01Z")
    assert not cache.apply(active)
    held = cache.body("port", PORT)
    assert held is not None and held["status"] == "ACTIVE"  # held as it is now
    assert cache.view_at()[0] == g1
    # anything else of it does call for a pass
    assert cache.apply(event(4, status="ACTIVE", mac_address="fa:16:3e:00:00:09"))
    # and so does a status of host-b's own port that the cache does not hold
    assert cache.apply({**mine, "revision": 5, "object": {**mine["object"], "status": "ACTIVE"}})


def test_a_ports_request_id_is_the_change_that_made_it_not_the_status_echo() -> None:
    cache = Cache("host-a")
    cache.apply({**event(1), "request_id": "req-create"})
    # the echo of the agent's status report can arrive before the agent logs
    # that it wired the port: it must not take the creating request's place
    echo = event(2, status="ACTIVE", revision_number=2, updated_at="2026-11-26T10:00:01Z")
    cache.apply({**echo, "request_id": "req-report"})
    assert cache.request_id(PORT) == "req-create"
    cache.apply({**event(3, name="renamed", status="ACTIVE"), "request_id": "req-rename"})
    assert cache.request_id(PORT) == "req-rename"


def test_deleting_counts_only_when_something_was_held() -> None:
    cache = Cache("host-a")
    cache.apply(event(1))
    gone = {**event(2), "op": "delete"}
    assert cache.apply(gone)
    assert not cache.apply({**event(3), "op": "delete"})


def test_the_generation_moves_with_changes_of_substance_only() -> None:
    cache = Cache("host-a")
    g0, _ = cache.view_at()
    cache.apply(event(1))
    g1, _ = cache.view_at()
    assert g1 > g0
    cache.set_port_status(PORT, "ACTIVE")
    cache.apply(event(2, status="ACTIVE", revision_number=2, updated_at="2026-11-26T10:00:01Z"))
    assert cache.view_at()[0] == g1  # the echo: the same view, no new compile
    cache.apply(event(3, mac_address="fa:16:3e:00:00:02"))
    g3, _ = cache.view_at()
    assert g3 > g1
    cache.apply({"kind": "port", "op": "delete", "revision": 4, "object": {"id": PORT}})
    g4, _ = cache.view_at()
    assert g4 > g3 and PORT not in cache.local_ports()
    cache.replace(5, [])
    assert cache.view_at()[0] > g4


def test_a_routers_ports_are_those_its_body_lists() -> None:
    """A port whose device fields name a router is not the router's: the
    router's ``kumo_ports`` decide which networks and ports come with it."""
    cache = Cache("host-a")
    r = "r0000000-0000-4000-8000-000000000001"
    dvr = "network:router_interface_distributed"
    router = {
        "id": r,
        "kumo_gateway_hosts": [],
        "kumo_ports": [{"port_id": "itf", "port_type": dvr, "network_id": "n1"}],
    }
    cache.replace(1, [{"kind": "router", **router}])
    cache.apply(event(2))  # a local port on n1: the router runs here
    itf = {
        "id": "itf",
        "network_id": "n1",
        "binding:host_id": "",
        "device_owner": dvr,
        "device_id": r,
    }
    assert cache.apply({"kind": "port", "op": "update", "revision": 3, "object": itf})
    assert cache.topics() >= {f"router:{r}", "network:n1"}
    forged = {**itf, "id": "forged", "network_id": "n9"}
    assert not cache.apply({"kind": "port", "op": "update", "revision": 4, "object": forged})
    assert "network:n9" not in cache.topics()
    # listed on another network (whatever its device fields): that network is served too
    router["kumo_ports"] = [
        *router["kumo_ports"],
        {"port_id": "itf2", "port_type": dvr, "network_id": "n2"},
    ]
    cache.apply({"kind": "router", "op": "update", "revision": 5, "object": router})
    assert "network:n2" in cache.topics()
    listed = {
        "id": "itf2",
        "network_id": "n2",
        "binding:host_id": "",
        "device_owner": "",
        "device_id": "",
    }
    assert cache.apply({"kind": "port", "op": "update", "revision": 6, "object": listed})


def test_rules_of_local_groups_members_of_the_groups_they_name() -> None:
    """A host watches the rules of its ports' groups and the members of the
    groups those rules name, not the members of every group it holds."""
    cache = Cache("host-a")
    rules = [{"id": "r1", "remote_group_id": "g-remote"}, {"id": "r2", "remote_group_id": None}]
    cache.replace(1, [{"kind": "security_group", "id": "g-local", "security_group_rules": rules}])
    cache.apply(event(2, security_groups=["g-local"]))
    topics = cache.topics()
    assert {"secgroup:g-local", "members:g-remote"} <= topics
    assert "members:g-local" not in topics and "secgroup:g-remote" not in topics
    # a member of the named group elsewhere is kept; one of the local group only is not
    there = {"network_id": "n7", "binding:host_id": "host-b", "security_groups": ["g-remote"]}
    assert cache.apply(event(3, **there, id="p-remote"))
    other = {"network_id": "n8", "binding:host_id": "host-c", "security_groups": ["g-local"]}
    assert not cache.apply(event(4, **other, id="p-other"))


def test_which_other_ports_are_kept_follows_the_hosts_own_ports_groups_and_routers() -> None:
    """What decides whether another host's port is kept is worked out once
    and kept between events: each change that moves it (a port bound here
    coming or going, a group's rules, a router's ports) is seen at once."""
    cache = Cache("host-a")
    elsewhere = {"binding:host_id": "host-b"}
    assert not cache.apply(event(1, **elsewhere, id="b1", network_id="n2"))  # n2 not served
    assert "network:n2" not in cache.topics()
    assert cache.apply(event(2, id="a1", network_id="n2"))  # a port here on n2
    assert "network:n2" in cache.topics()
    assert cache.apply(event(3, **elsewhere, id="b2", network_id="n2"))
    # the port here moves away: n2 is no longer served, its ports are dropped
    assert cache.apply(event(4, id="a1", network_id="n2", **{"binding:host_id": "host-c"}))
    assert "network:n2" not in cache.topics()
    assert not cache.apply(event(5, **elsewhere, id="b3", network_id="n2"))
    assert cache.body("port", "b3") is None
    # a group's rule naming another group: that group's members are kept from then on
    assert cache.apply(event(6, id="a2", network_id="n1", security_groups=["g1"]))
    member = {**elsewhere, "network_id": "n9", "security_groups": ["g2"]}
    assert not cache.apply(event(7, **member, id="m1"))
    group = {"id": "g1", "security_group_rules": [{"id": "r", "remote_group_id": "g2"}]}
    assert "members:g2" not in cache.topics()
    cache.apply({"kind": "security_group", "op": "update", "revision": 8, "object": group})
    assert "members:g2" in cache.topics()
    assert cache.apply(event(9, **member, id="m2"))
    # a router run here (a port of it on n1) listing a port on n5: that port is kept
    r = {
        "id": "r1",
        "kumo_gateway_hosts": [],
        "kumo_ports": [{"port_id": "itf", "port_type": "x", "network_id": "n1"}],
    }
    cache.apply({"kind": "router", "op": "update", "revision": 10, "object": r})
    leg = {**elsewhere, "network_id": "n5", "binding:host_id": ""}
    assert not cache.apply(event(11, **leg, id="leg"))
    assert "network:n5" not in cache.topics()
    listed = [*r["kumo_ports"], {"port_id": "leg", "port_type": "x", "network_id": "n5"}]
    r = {**r, "kumo_ports": listed}
    cache.apply({"kind": "router", "op": "update", "revision": 12, "object": r})
    assert "network:n5" in cache.topics()
    assert cache.apply(event(13, **leg, id="leg"))
