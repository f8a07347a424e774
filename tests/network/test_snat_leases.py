"""Distributed SNAT's port-block leases over HTTP: the router's mode, blocks
leased on an agent's request for its own host only, the fairness bound,
returns, reclaiming a dead host's blocks, the admin-only attribute, and the
leases on the watch feed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kumo.agent.snat import SnatLeaser
from kumo.compiler import ClusterView
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.network.snat import leases
from kumo.watch import snapshot
from tests.agent.test_agent_credentials import enroll, register
from tests.network.conftest import Cloud, N, open_cloud
from tests.network.test_l3_ha import gateway_hosts, heartbeat, kill, l3_agents
from tests.network.test_routers import (
    add_if,
    events,
    external,
    internal,
    put,
    register_agent,
    router,
)

X = "/internal/v1"


def lab(cloud: Cloud, **router_body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A router with a gateway on 203.0.113.0/24 and an interface on
    10.0.0.0/24: (router, internal network)."""
    ext = external(cloud)
    net = internal(cloud, cloud.admin, "10.0.0.0/24")
    gw = {"network_id": ext["network"]["id"]}
    r = router(cloud, cloud.admin, external_gateway_info=gw, **router_body)
    assert add_if(cloud, cloud.admin, r["id"], subnet_id=net["subnet"]["id"]).status_code == 200
    return r, net["network"]


def instance(cloud: Cloud, network_id: str, host: str) -> None:
    body = {"network_id": network_id, "device_owner": "compute:nova", "binding:host_id": host}
    cloud.post(cloud.admin, "/ports", {"port": body})


def ask(cloud: Cloud, h: dict[str, str], router_id: str, host: str) -> Any:
    body = {"snat_lease": {"router_id": router_id, "host": host}}
    return cloud.c.post(f"{X}/snat-leases", headers=h, json=body)


def shown(cloud: Cloud, router_id: str, h: dict[str, str] | None = None) -> dict[str, Any]:
    r = cloud.c.get(f"{N}/routers/{router_id}", headers=h or cloud.admin)
    assert r.status_code == 200, r.text
    return dict(r.json()["router"])


def test_leases_for_the_asking_host_only(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, distributed_snat=True, snat_blocks_per_instance=2) as cloud:
        r, net = lab(cloud)
        assert shown(cloud, r["id"])["kumo_distributed_snat"] is True
        h1, _ = enroll(cloud, "host1")
        h2, _ = enroll(cloud, "host2")
        for h, host in ((h1, "host1"), (h2, "host2")):
            assert register(cloud, h, host).status_code == 201
        # no instance of the router on host1 yet: no share
        refused = ask(cloud, h1, r["id"], "host1")
        assert refused.status_code == 409, refused.text
        assert refused.json()["NeutronError"]["type"] == "SnatPortBlocksExhausted"
        instance(cloud, net["id"], "host1")
        instance(cloud, net["id"], "host2")
        # another host's agent may not lease for host1
        assert ask(cloud, h2, r["id"], "host1").status_code == 403
        a = ask(cloud, h1, r["id"], "host1")
        b = ask(cloud, h2, r["id"], "host2")
        c = ask(cloud, h1, r["id"], "host1")
        assert (a.status_code, b.status_code, c.status_code) == (201, 201, 201), a.text
        ext_ip = r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        got = [x.json()["snat_lease"] for x in (a, b, c)]
        assert [(x["host"], x["external_ip"], x["port_range"]) for x in got] == [
            ("host1", ext_ip, "1024:1087"),
            ("host2", ext_ip, "1088:1151"),
            ("host1", ext_ip, "1152:1215"),
        ]
        # fairness: 2 blocks per instance, host1 has one instance
        assert ask(cloud, h1, r["id"], "host1").status_code == 409
        # admins see the leases on the router, members do not
        listed = shown(cloud, r["id"])["kumo_snat_leases"]
        assert [(x["host"], x["port_range"]) for x in listed] == [
            ("host1", "1024:1087"), ("host2", "1088:1151"), ("host1", "1152:1215")
        ]  # fmt: skip
        # the leases are on the feed: their own events and in the router's body
        assert [e.op for e in events(cloud, "snat_lease", got[0]["id"])] == ["upsert"]
        body = events(cloud, "router", r["id"])[-1].body
        assert len(body["kumo_snat_leases"]) == 3
        _, objects = snapshot.take(cloud.rt.db, cloud.rt.settings, frozenset({"host:host2"}))
        assert [o["id"] for o in objects if o["kind"] == "snat_lease"] == [got[1]["id"]]
        # returning: only the holder; the block is free again
        assert cloud.c.delete(f"{X}/snat-leases/{got[0]['id']}", headers=h2).status_code == 403
        assert cloud.c.delete(f"{X}/snat-leases/{got[0]['id']}", headers=h1).status_code == 204
        assert [e.op for e in events(cloud, "snat_lease", got[0]["id"])] == ["upsert", "delete"]
        again = ask(cloud, h1, r["id"], "host1").json()["snat_lease"]
        assert again["port_range"] == "1024:1087"


def test_admin_only_attribute_and_extension(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, distributed_snat=True) as cloud:
        alice = cloud.member("alice")
        mine = router(cloud, alice)
        assert "kumo_snat_leases" not in mine and "kumo_distributed_snat" not in mine
        assert shown(cloud, mine["id"])["kumo_distributed_snat"] is True
        assert "kumo_snat_leases" not in shown(cloud, mine["id"], alice)
        r = cloud.c.get(f"{N}/extensions", headers=alice)
        assert "kumo-distributed-snat" in {e["alias"] for e in r.json()["extensions"]}
        # centralized and HA routers keep their SNAT
        assert router(cloud, cloud.admin, distributed=False)["kumo_distributed_snat"] is False
        assert router(cloud, cloud.admin, ha=True)["kumo_distributed_snat"] is False


def test_off_unless_asked(cloud: Cloud) -> None:
    r, net = lab(cloud)
    assert shown(cloud, r["id"])["kumo_distributed_snat"] is False
    instance(cloud, net["id"], "host1")
    refused = ask(cloud, cloud.admin, r["id"], "host1")
    assert refused.status_code == 400, refused.text


def test_converting_or_clearing_the_gateway_takes_the_blocks_back(
    db_url: str, tmp_path: Path
) -> None:
    with open_cloud(db_url, tmp_path, distributed_snat=True) as cloud:
        r, net = lab(cloud)
        instance(cloud, net["id"], "host1")
        assert ask(cloud, cloud.admin, r["id"], "host1").status_code == 201
        path = f"/routers/{r['id']}"
        assert put(cloud, cloud.admin, path, {"router": {"admin_state_up": False}}).is_success
        made = put(cloud, cloud.admin, path, {"router": {"ha": True}})
        assert made.status_code == 200, made.text
        assert made.json()["router"]["kumo_distributed_snat"] is False
        assert shown(cloud, r["id"])["kumo_snat_leases"] == []


def test_dead_hosts_blocks_are_reclaimed(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, distributed_snat=True, snat_reclaim_after=60) as cloud:
        r, net = lab(cloud)
        for host in ("host1", "host2"):
            body = {"agent": {"host": host, "configurations": {}}}
            assert cloud.c.post(f"{X}/agents", headers=cloud.admin, json=body).status_code == 201
            instance(cloud, net["id"], host)
            assert ask(cloud, cloud.admin, r["id"], host).status_code == 201
        with cloud.rt.db.write_session() as s:
            for agent in s.query(Agent).filter(Agent.host == "host1"):
                agent.heartbeat_timestamp = utcnow() - dt.timedelta(seconds=30)
            s.commit()
        # dead, but its connections may still live: kept
        assert leases.reclaim(cloud.rt.db, cloud.rt.settings) == []
        later = utcnow() + dt.timedelta(seconds=60)
        taken = leases.reclaim(cloud.rt.db, cloud.rt.settings, now=later)
        assert len(taken) == 1
        assert [x["host"] for x in shown(cloud, r["id"])["kumo_snat_leases"]] == ["host2"]


def test_every_live_gateway_agent_hosts_a_distributed_snat_router(
    db_url: str, tmp_path: Path
) -> None:
    """Any gateway host forwards the router's return traffic, so the router
    is bound to all of them (its gateway port to the first); a dead one is
    dropped, a new or returning one added by the rescheduling pass."""
    settings = {"distributed_snat": True, "agent_down_time": 3600}
    with open_cloud(db_url, tmp_path, **settings) as cloud:
        register_agent(cloud, "compute1", gateway=False)
        a, b = (register_agent(cloud, f"gw-{x}") for x in "ab")
        r, _ = lab(cloud)
        plain, _ = lab(cloud, distributed=False)
        hosts = [h for h, _ in l3_agents(cloud, r["id"])]
        assert sorted(hosts) == ["gw-a", "gw-b"]
        assert gateway_hosts(cloud, r["id"]) == {hosts[0]}
        assert len(l3_agents(cloud, plain["id"])) == 1  # centralized: one as before
        db, conf = cloud.rt.db, cloud.rt.settings
        assert l3_scheduler.reschedule(db, conf) == []

        c = register_agent(cloud, "gw-c")
        assert l3_scheduler.reschedule(db, conf) == [r["id"]]
        assert [h for h, _ in l3_agents(cloud, r["id"])] == [*hosts, "gw-c"]
        body = events(cloud, "router", r["id"])[-1].body
        assert body["kumo_gateway_hosts"] == [*hosts, "gw-c"]

        first = a if hosts[0] == "gw-a" else b
        kill(cloud, first["id"])
        assert r["id"] in l3_scheduler.reschedule(db, conf)
        assert [h for h, _ in l3_agents(cloud, r["id"])] == [hosts[1], "gw-c"]
        assert gateway_hosts(cloud, r["id"]) == {hosts[1]}
        heartbeat(cloud, first["id"])
        assert r["id"] in l3_scheduler.reschedule(db, conf)
        assert [h for h, _ in l3_agents(cloud, r["id"])] == [hosts[1], "gw-c", hosts[0]]
        assert c["id"]

        # an admin picks the gateway that holds the gateway port (and answers
        # ARP for the address): it goes first, the others stay bound
        made = cloud.c.post(f"{N}/agents/{c['id']}/l3-routers", headers=cloud.admin,
                            json={"router_id": r["id"]})  # fmt: skip
        assert made.status_code == 201, made.text
        assert [h for h, _ in l3_agents(cloud, r["id"])] == ["gw-c", hosts[1], hosts[0]]
        assert gateway_hosts(cloud, r["id"]) == {"gw-c"}
        assert l3_scheduler.reschedule(db, conf) == []  # and the scheduler keeps it so


class HostLeases:
    """An agent's lease calls (``LeaseClient``) through the API, for ``host``."""

    def __init__(self, cloud: Cloud, host: str) -> None:
        self.cloud, self.host = cloud, host

    def lease_snat_block(self, router_id: str) -> dict[str, Any]:
        made = ask(self.cloud, self.cloud.admin, router_id, self.host)
        made.raise_for_status()
        return dict(made.json()["snat_lease"])

    def release_snat_block(self, lease_id: str) -> None:
        gone = self.cloud.c.delete(f"{X}/snat-leases/{lease_id}", headers=self.cloud.admin)
        gone.raise_for_status()


def test_an_idle_hosts_blocks_go_back_after_the_idle_time(db_url: str, tmp_path: Path) -> None:
    """The agent's leaser against the API, on a controlled clock: host1's
    instance goes, its block stays for ``idle`` seconds (its connections
    may still drain), then is returned and free for the next host."""
    with open_cloud(db_url, tmp_path, distributed_snat=True) as cloud:
        r, net = lab(cloud)
        body = {"network_id": net["id"], "device_owner": "compute:nova", "binding:host_id": "host1"}
        port = cloud.post(cloud.admin, "/ports", {"port": body})["port"]
        now = [0.0]
        leaser = SnatLeaser(HostLeases(cloud, "host1"), "host1", idle=60, clock=lambda: now[0])

        def seen() -> ClusterView:
            topics = frozenset({f"router:{r['id']}", f"network:{net['id']}"})
            _, objects = snapshot.take(cloud.rt.db, cloud.rt.settings, topics)
            kinds: dict[str, list[dict[str, Any]]] = {}
            for o in objects:
                kinds.setdefault(o["kind"], []).append(o)
            return ClusterView.from_bodies(
                kinds.get("network", ()), kinds.get("subnet", ()), kinds.get("port", ()),
                routers=kinds.get("router", ()),
            )  # fmt: skip

        def held() -> list[str]:
            return [x["port_range"] for x in shown(cloud, r["id"])["kumo_snat_leases"]]

        leaser.update(seen())
        assert held() == ["1024:1087"]
        assert cloud.c.delete(f"{N}/ports/{port['id']}", headers=cloud.admin).status_code == 204
        leaser.update(seen())
        now[0] = 59.0
        leaser.update(seen())
        assert held() == ["1024:1087"]  # idle, not for long enough yet
        now[0] = 61.0
        leaser.update(seen())
        assert held() == []
