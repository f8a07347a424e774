"""The watch feed over HTTP: snapshot + stream, topics, resume, several API servers."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kumo.agent.client import ApiClient
from kumo.agent.config import AgentConfig, Credentials
from tests.live import KUMO, LiveServer, _free_port

pytestmark = pytest.mark.slow


class Watcher:
    """Reads a watch stream in a thread; events land in a queue."""

    def __init__(self, base: str, token: str, since: int, topics: str) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=30.0))
        self._thread = threading.Thread(
            target=self._run, args=(base, token, since, topics), daemon=True
        )
        self._thread.start()

    def _run(self, base: str, token: str, since: int, topics: str) -> None:
        try:
            with self._client.stream(
                "GET",
                f"{base}/internal/v1/watch",
                params={"since": since, "topics": topics},
                headers={"X-Auth-Token": token},
            ) as r:
                for line in r.iter_lines():
                    if line:
                        self.events.put(json.loads(line))
        except httpx.HTTPError:
            return

    def next_change(self, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event.get("type") != "bookmark":
                return event

    def close(self) -> None:
        self._client.close()


def _api(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.base, headers={"X-Auth-Token": server.token()}, timeout=30)


def test_list_then_watch_sees_every_change_once(live_server: LiveServer) -> None:
    api = _api(live_server)
    net = api.post("/networking/v2.0/networks", json={"network": {"name": "w"}}).json()["network"]
    api.post(
        "/networking/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.2.0.0/24"}},
    )
    topic = f"network:{net['id']}"
    snap = api.get("/internal/v1/list", params={"topics": topic}).json()
    kinds = sorted(o["kind"] for o in snap["objects"])
    assert kinds == ["network", "subnet"]
    watcher = Watcher(live_server.base, live_server.token(), snap["revision"], topic)
    try:
        started = time.monotonic()
        port = api.post(
            "/networking/v2.0/ports",
            json={"port": {"network_id": net["id"], "binding:host_id": "h1"}},
        ).json()["port"]
        event = watcher.next_change()
        assert time.monotonic() - started < 2.0
        assert event["kind"] == "port" and event["op"] == "upsert"
        assert event["object"]["id"] == port["id"]
        assert event["object"]["binding:host_id"] == "h1"
        assert event["revision"] > snap["revision"]
        # A change elsewhere is not delivered; the next one here is.
        api.post("/networking/v2.0/networks", json={"network": {"name": "other"}})
        api.delete(f"/networking/v2.0/ports/{port['id']}")
        deleted = watcher.next_change()
        assert (deleted["kind"], deleted["op"]) == ("port", "delete")
        assert deleted["object"]["id"] == port["id"]
    finally:
        watcher.close()

    # Resuming from the snapshot's revision replays exactly what followed it.
    replay = Watcher(live_server.base, live_server.token(), snap["revision"], topic)
    try:
        first, second = replay.next_change(), replay.next_change()
        assert [first["op"], second["op"]] == ["upsert", "delete"]
        assert first["revision"] < second["revision"]
    finally:
        replay.close()


def test_host_topic_and_agent_only_access(live_server: LiveServer) -> None:
    api = _api(live_server)
    net = api.post("/networking/v2.0/networks", json={"network": {"name": "h"}}).json()["network"]
    api.post(
        "/networking/v2.0/ports", json={"port": {"network_id": net["id"], "binding:host_id": "hq"}}
    )
    snap = api.get("/internal/v1/list", params={"topics": "host:hq"}).json()
    assert [o["binding:host_id"] for o in snap["objects"] if o["kind"] == "port"] == ["hq"]

    project = api.post("/identity/v3/projects", json={"project": {"name": "pw"}}).json()["project"]
    user = api.post(
        "/identity/v3/users", json={"user": {"name": "plain", "password": "pw"}}
    ).json()["user"]
    roles = {r["name"]: r["id"] for r in api.get("/identity/v3/roles").json()["roles"]}
    api.put(f"/identity/v3/projects/{project['id']}/users/{user['id']}/roles/{roles['member']}")
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": user["id"], "password": "pw"}},
            },
            "scope": {"project": {"id": project["id"]}},
        }
    }
    token = httpx.post(f"{live_server.base}/identity/v3/auth/tokens", json=body).headers[
        "X-Subject-Token"
    ]
    r = httpx.get(
        f"{live_server.base}/internal/v1/list",
        params={"topics": "host:hq"},
        headers={"X-Auth-Token": token},
    )
    assert r.status_code == 403


def test_gateway_hosts_follow_their_routers(live_server: LiveServer) -> None:
    """Router bodies name their gateway hosts and reach them on ``host:H``;
    an agent's HA state report moves the gateway port to its host."""
    creds = Credentials(
        auth_url=f"{live_server.base}/identity/v3",
        username="admin",
        password=live_server.admin_password,
        project_name="admin",
    )
    clients = [
        ApiClient(AgentConfig(host=h, api_url=live_server.base, credentials=creds, gateway=True))
        for h in ("feed-gw1", "feed-gw2")
    ]
    api = _api(live_server)
    try:
        ids = [c.register() for c in clients]
        ext = api.post(
            "/networking/v2.0/networks", json={"network": {"name": "ext", "router:external": True}}
        ).json()["network"]
        api.post(
            "/networking/v2.0/subnets",
            json={"subnet": {"network_id": ext["id"], "ip_version": 4, "cidr": "198.51.100.0/24"}},
        )
        topic = "host:feed-gw2"
        snap = api.get("/internal/v1/list", params={"topics": topic}).json()
        assert [o for o in snap["objects"] if o["kind"] == "router"] == []
        watcher = Watcher(live_server.base, live_server.token(), snap["revision"], topic)
        try:
            body = {"ha": True, "external_gateway_info": {"network_id": ext["id"]}}
            router = api.post("/networking/v2.0/routers", json={"router": body}).json()["router"]
            assert "kumo_gateway_hosts" not in router
            event = watcher.next_change()
            assert (event["kind"], event["object"]["id"]) == ("router", router["id"])
            assert event["object"]["kumo_gateway_hosts"] == ["feed-gw1", "feed-gw2"]
            # feed-gw2 becomes active: the gateway port moves to it
            clients[1].report_ha(ids[1], {router["id"]: "active"})
            moved = watcher.next_change()
            assert moved["kind"] == "port"
            assert moved["object"]["device_owner"] == "network:router_gateway"
            assert moved["object"]["binding:host_id"] == "feed-gw2"
        finally:
            watcher.close()
        snap = api.get("/internal/v1/list", params={"topics": topic}).json()
        (listed,) = [o for o in snap["objects"] if o["kind"] == "router"]
        assert listed["kumo_gateway_hosts"] == ["feed-gw1", "feed-gw2"]
        agents = api.get(f"/networking/v2.0/routers/{router['id']}/l3-agents").json()["agents"]
        assert [(a["host"], a["ha_state"]) for a in agents] == [
            ("feed-gw1", "unknown"),
            ("feed-gw2", "active"),
        ]
    finally:
        for c in clients:
            c.close()


@pytest.fixture
def second_server(live_server: LiveServer) -> Iterator[str]:
    """Another API process on the same database (whose signing keys it shares)."""
    port = _free_port()
    state = live_server.state_dir.parent / f"second-{port}"
    state.mkdir()
    proc = subprocess.Popen(
        [KUMO, "serve", "--state-dir", str(state), "--port", str(port),
         "--database-url", live_server.database_url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def test_two_api_servers_stream_the_same_events(
    live_server: LiveServer, second_server: str
) -> None:
    api = _api(live_server)
    net = api.post("/networking/v2.0/networks", json={"network": {"name": "two"}}).json()["network"]
    topic = f"network:{net['id']}"
    rev = api.get("/internal/v1/list", params={"topics": topic}).json()["revision"]
    token = live_server.token()
    a = Watcher(live_server.base, token, rev, topic)
    b = Watcher(second_server, token, rev, topic)
    try:
        # Writes go to both servers; both watchers see all of them, in order.
        other = httpx.Client(base_url=second_server, headers={"X-Auth-Token": token}, timeout=30)
        made = []
        for i in range(6):
            client = api if i % 2 else other
            made.append(
                client.post(
                    "/networking/v2.0/ports", json={"port": {"network_id": net["id"]}}
                ).json()["port"]["id"]
            )
        seen_a = [a.next_change()["object"]["id"] for _ in made]
        seen_b = [b.next_change()["object"]["id"] for _ in made]
        assert seen_a == made and seen_b == made
    finally:
        a.close()
        b.close()


def test_a_hosts_first_list_comes_whole(live_server: LiveServer) -> None:
    """With ``host``, one list brings all the host needs: its port's
    network, that network's router, the router's other network; the answer
    names the topics, which are what the host's cache asks for given them."""
    from kumo.watch import interest

    api = _api(live_server)
    n = "/networking/v2.0"
    nets, subs = [], []
    for i in (1, 2):
        net = api.post(f"{n}/networks", json={"network": {"name": f"w{i}"}}).json()["network"]
        sub = api.post(f"{n}/subnets", json={"subnet": {
            "network_id": net["id"], "ip_version": 4, "cidr": f"10.9{i}.0.0/24"}}).json()  # fmt: skip
        nets.append(net)
        subs.append(sub["subnet"])
    router = api.post(f"{n}/routers", json={"router": {"name": "wr"}}).json()["router"]
    for sub in subs:
        r = api.put(
            f"{n}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}
        )
        assert r.status_code == 200, r.text
    api.post(f"{n}/ports", json={"port": {"network_id": nets[0]["id"], "binding:host_id": "hw"}})

    plain = api.get("/internal/v1/list", params={"topics": "host:hw"}).json()
    assert "topics" not in plain
    whole = api.get("/internal/v1/list", params={"topics": "host:hw", "host": "hw"}).json()
    topics = frozenset(whole["topics"])
    assert {f"network:{nets[1]['id']}", f"router:{router['id']}"} <= topics
    assert topics == interest.topics("hw", interest.index(whole["objects"]))
    listed = {o["id"] for o in whole["objects"] if o["kind"] == "network"}
    assert listed == {nets[0]["id"], nets[1]["id"]}

    def keyed(objects: list[dict[str, object]]) -> dict[tuple[object, object], object]:
        return {(o["kind"], o["id"]): o for o in objects}

    # the answer is what a plain list of the reached topics holds, object
    # for object, each once
    reached = api.get("/internal/v1/list", params={"topics": ",".join(sorted(topics))}).json()
    assert keyed(whole["objects"]) == keyed(reached["objects"])
    assert len(whole["objects"]) == len(reached["objects"])
    # a remembered topic the host no longer needs is dropped with its objects
    stale = f"network:{nets[1]['id']}"
    lonely = api.post(f"{n}/networks", json={"network": {"name": "w3"}}).json()["network"]
    asked = f"host:hw,network:{lonely['id']}"
    again = api.get("/internal/v1/list", params={"topics": asked, "host": "hw"}).json()
    assert f"network:{lonely['id']}" not in again["topics"] and stale in again["topics"]
    assert lonely["id"] not in {o["id"] for o in again["objects"]}

    r = api.get("/internal/v1/list", params={"topics": "host:hw", "host": "other"})
    assert r.status_code == 400
