"""What the feed sends to whom: a host's heartbeats and readiness reach no
other agent; only what peers compile from travels on ``agents``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, open_cloud

I = "/internal/v1"  # noqa: E741


def _events(cloud: Cloud, kind: str) -> list[tuple[str, list[str], dict[str, Any]]]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == kind).order_by(OutboxEvent.revision)
        return [(e.op, list(e.topics), dict(e.body)) for e in s.scalars(q)]


def _config(tunnel_ip: str, **more: Any) -> dict[str, Any]:
    return {"tunnel_ip": tunnel_ip, "bridge_mappings": {}, "vlan_devices": True,
            "gateway": False, "vcpus": 2, "memory_mb": 1024, **more}  # fmt: skip


def test_agents_topic_carries_underlay_changes_not_heartbeats(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        h = cloud.admin
        body = {"agent": {"host": "h1", "configurations": _config("192.0.2.1")}}
        r = cloud.c.post(f"{I}/agents", headers=h, json=body)
        assert r.status_code == 201, r.text
        agent_id = r.json()["agent"]["id"]
        ((op, topics, sent),) = _events(cloud, "agent")
        assert (op, topics) == ("upsert", ["agents"])
        # peers get the host and what they compile from, not its capacity or state
        assert sent["host"] == "h1"
        assert sent["configurations"] == {"tunnel_ip": "192.0.2.1", "bridge_mappings": {},
                                          "vlan_devices": True, "gateway": False}  # fmt: skip
        assert "heartbeat_timestamp" not in sent and "alive" not in sent

        # readiness and capacity in heartbeats: stored, not sent to anyone
        for status in ({"ready": False, "in_sync": False}, {"ready": True, "in_sync": True}):
            beat = {"configurations": {**_config("192.0.2.1", memory_mb=2048), **status}}
            r = cloud.c.post(f"{I}/agents/{agent_id}/heartbeat", headers=h, json=beat)
            assert r.status_code == 200, r.text
        assert r.json()["agent"]["configurations"]["in_sync"] is True
        # a restart with the same underlay: nothing new for peers
        r = cloud.c.post(f"{I}/agents", headers=h, json=body)
        assert r.status_code == 201, r.text
        assert len(_events(cloud, "agent")) == 1

        # a new underlay address goes to every agent
        beat = {"configurations": _config("192.0.2.9")}
        cloud.c.post(f"{I}/agents/{agent_id}/heartbeat", headers=h, json=beat).raise_for_status()
        events = _events(cloud, "agent")
        assert len(events) == 2
        assert events[-1][2]["configurations"]["tunnel_ip"] == "192.0.2.9"

        # the list agents start from has the same bodies as the stream
        r = cloud.c.get(f"{I}/list", headers=h, params={"topics": "agents"})
        (listed,) = [o for o in r.json()["objects"] if o["kind"] == "agent"]
        assert {k: v for k, v in listed.items() if k != "kind"} == events[-1][2]


def test_a_ports_status_report_goes_to_its_host_only(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        h = cloud.admin
        net = cloud.c.post("/networking/v2.0/networks", headers=h, json={"network": {}})
        net_id = net.json()["network"]["id"]
        body = {"port": {"network_id": net_id, "binding:host_id": "h1"}}
        r = cloud.c.post("/networking/v2.0/ports", headers=h, json=body)
        assert r.status_code == 201, r.text
        port_id = r.json()["port"]["id"]
        ((_, created_topics, _),) = [e for e in _events(cloud, "port") if e[2]["id"] == port_id]
        assert f"network:{net_id}" in created_topics and "host:h1" in created_topics

        r = cloud.c.post(f"{I}/ports/status", headers=h, json={"active": [port_id]})
        assert r.status_code == 200 and r.json()["changed"] == [port_id], r.text
        op, topics, sent = _events(cloud, "port")[-1]
        # its host learns its new status; the hosts of its network compile nothing from it
        assert (op, topics, sent["id"], sent["status"]) == (
            "upsert",
            ["host:h1"],
            port_id,
            "ACTIVE",
        )
        # the same report again changes nothing and says nothing
        cloud.c.post(f"{I}/ports/status", headers=h, json={"active": [port_id]}).raise_for_status()
        assert len([e for e in _events(cloud, "port") if e[2]["id"] == port_id]) == 2
        # a change of anything else still goes to every topic of the port
        r = cloud.c.put(
            f"/networking/v2.0/ports/{port_id}", headers=h, json={"port": {"name": "x"}}
        )
        assert r.status_code == 200, r.text
        assert f"network:{net_id}" in _events(cloud, "port")[-1][1]
