"""Agents are not admins: each host's agent has its own credential (role
``service`` only) and the internal API takes its reports, and gives it
servers' user data, only for objects bound to its own host."""

from __future__ import annotations

import argparse
import base64
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from kumo.agent import credentials
from kumo.agent.cli import credentials as agent_cli_credentials
from kumo.api.app import create_app
from kumo.config import Settings
from kumo.identity.authbody import password_auth
from kumo.runtime import Runtime
from tests.compute.conftest import Cloud
from tests.compute.test_servers import boot
from tests.live import KUMO, LiveServer

I = "/internal/v1"  # noqa: E741


@pytest.fixture
def cloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    runtime = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=db_url))
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    with TestClient(create_app(runtime)) as client:
        yield Cloud(client, runtime, password)
    runtime.close()


def enroll(cloud: Cloud, host: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Enrol ``host`` over the API as the admin: (its agent's token headers, the credential)."""
    body = {"agent_credential": {"host": host}}
    r = cloud.c.post(f"{I}/agent-credentials", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()["agent_credential"]
    auth = password_auth(made["username"], made["password"], project_name=made["project_name"])
    r = cloud.c.post("/identity/v3/auth/tokens", json=auth)
    assert r.status_code == 201, r.text
    return {"X-Auth-Token": r.headers["X-Subject-Token"]}, made


def register(cloud: Cloud, h: dict[str, str], host: str, *, gateway: bool = False) -> Any:
    body = {"agent": {"host": host, "configurations": {"gateway": gateway}}}
    return cloud.c.post(f"{I}/agents", headers=h, json=body)


def test_an_agent_holds_the_service_role_only(cloud: Cloud) -> None:
    h1, made = enroll(cloud, "host1")
    assert made["username"] == "agent-host1" and made["project_name"] == "service"
    r = cloud.c.get(
        "/identity/v3/auth/tokens", headers={**cloud.admin, "X-Subject-Token": h1["X-Auth-Token"]}
    )
    assert r.status_code == 200, r.text
    assert {role["name"] for role in r.json()["token"]["roles"]} == {"service"}
    # members may not enrol hosts; enrolling again resets the password
    alice = cloud.member("alice")
    r = cloud.c.post(
        f"{I}/agent-credentials", headers=alice, json={"agent_credential": {"host": "h"}}
    )
    assert r.status_code == 403
    h1_again, again = enroll(cloud, "host1")
    assert again["user_id"] == made["user_id"] and again["password"] != made["password"]
    stale = password_auth(made["username"], made["password"], project_name="service")
    assert cloud.c.post("/identity/v3/auth/tokens", json=stale).status_code == 401
    assert register(cloud, h1_again, "host1").status_code == 201


def test_an_agent_reports_only_for_its_own_host(cloud: Cloud) -> None:
    h1, _ = enroll(cloud, "host1")
    h2, _ = enroll(cloud, "host2")
    r = register(cloud, h2, "host1")
    assert r.status_code == 403 and "host2" in r.json()["NeutronError"]["message"]
    a1 = register(cloud, h1, "host1").json()["agent"]["id"]
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    sid = boot(cloud, alice, "vm", [{"uuid": net}])
    a2 = register(cloud, h2, "host2").json()["agent"]["id"]
    (port,) = cloud.ports_of(sid)
    assert port["binding:host_id"] == "host1"

    # host2's agent: not host1's port, not host1's heartbeat
    r = cloud.c.post(f"{I}/ports/status", headers=h2, json={"active": [port["id"]]})
    assert r.status_code == 403, r.text
    assert cloud.ports_of(sid)[0]["status"] == "DOWN"
    assert cloud.c.post(f"{I}/agents/{a1}/heartbeat", headers=h2, json={}).status_code == 403
    assert cloud.c.post(f"{I}/agents/{a2}/heartbeat", headers=h2, json={}).status_code == 200
    # host1's agent may
    r = cloud.c.post(f"{I}/ports/status", headers=h1, json={"active": [port["id"]]})
    assert r.status_code == 200 and r.json() == {"changed": [port["id"]]}
    # a service user no host was enrolled for reports for none
    other = cloud.rt.identity.create_service_user("some-service")
    auth = password_auth("some-service", other, project_name="service")
    token = cloud.c.post("/identity/v3/auth/tokens", json=auth).headers["X-Subject-Token"]
    r = cloud.c.post(
        f"{I}/ports/status", headers={"X-Auth-Token": token}, json={"down": [port["id"]]}
    )
    assert r.status_code == 403
    # admins still report for any host
    r = cloud.c.post(f"{I}/ports/status", headers=cloud.admin, json={"down": [port["id"]]})
    assert r.status_code == 200 and r.json() == {"changed": [port["id"]]}


def test_ha_state_only_for_routers_on_the_agents_host(cloud: Cloud) -> None:
    h1, _ = enroll(cloud, "host1")
    h2, _ = enroll(cloud, "host2")
    a1 = register(cloud, h1, "host1", gateway=True).json()["agent"]["id"]
    a2 = register(cloud, h2, "host2").json()["agent"]["id"]
    n = "/networking/v2.0"
    body = {"network": {"name": "public", "router:external": True}}
    ext = cloud.c.post(f"{n}/networks", headers=cloud.admin, json=body).json()["network"]
    body = {"subnet": {"network_id": ext["id"], "ip_version": 4, "cidr": "203.0.113.0/24"}}
    assert cloud.c.post(f"{n}/subnets", headers=cloud.admin, json=body).status_code == 201
    body = {"router": {"name": "r", "ha": True, "external_gateway_info": {"network_id": ext["id"]}}}
    router = cloud.c.post(f"{n}/routers", headers=cloud.admin, json=body).json()["router"]
    agents = cloud.c.get(f"{n}/routers/{router['id']}/l3-agents", headers=cloud.admin).json()
    assert [a["host"] for a in agents["agents"]] == ["host1"]

    def report(h: dict[str, str], agent_id: str) -> Any:
        states = {"ha_states": {router["id"]: "active"}}
        return cloud.c.post(f"{I}/agents/{agent_id}/ha-states", headers=h, json=states)

    assert report(h2, a1).status_code == 403  # host1's agent id
    r = report(h2, a2)  # its own, for a router not on host2
    assert r.status_code == 403 and router["id"] in r.json()["NeutronError"]["message"]
    r = report(h1, a1)
    assert r.status_code == 200 and r.json() == {"changed": [router["id"]]}


def test_user_data_only_for_the_servers_host(cloud: Cloud) -> None:
    h1, _ = enroll(cloud, "host1")
    h2, _ = enroll(cloud, "host2")
    register(cloud, h1, "host1")
    alice = cloud.member("alice")
    cloud.post(alice, "/os-keypairs", {"keypair": {"name": "k1"}}, status=201)
    user_data = base64.b64encode(b"#!/bin/sh\necho secret\n").decode()
    net = cloud.net(alice, "n", "10.0.0.0/24")
    sid = boot(cloud, alice, "vm", [{"uuid": net}], user_data=user_data, key_name="k1")
    port = cloud.ports_of(sid)[0]["id"]
    register(cloud, h2, "host2")

    r = cloud.c.get(f"{I}/servers/{sid}", headers=h2)
    assert r.status_code == 403 and "secret" not in r.text
    # nor through the compute API: an agent is no admin, nor a reader of any project
    r = cloud.c.get(f"/compute/v2.1/servers/{sid}", headers=h2)
    assert r.status_code == 403 and "secret" not in r.text
    r = cloud.c.get(f"{I}/servers/{sid}", headers=h1, params={"port_id": port})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["server"]["OS-EXT-SRV-ATTR:user_data"] == user_data
    assert doc["server"]["key_name"] == "k1" and doc["public_key"].startswith("ssh-")
    assert cloud.c.get(f"{I}/servers/{sid}", headers=alice).status_code == 403
    assert cloud.c.get(f"{I}/servers/nope", headers=h1).status_code == 404


def test_metadata_follows_the_interface_record_not_the_ports_device_id(cloud: Cloud) -> None:
    """A tenant writes its own port's device_id; that never makes the port's
    instance another project's server in the metadata service's eyes."""
    h1, _ = enroll(cloud, "host1")
    register(cloud, h1, "host1")
    alice, bob = cloud.member("alice"), cloud.member("bob")
    user_data = base64.b64encode(b"#!/bin/sh\necho alice-secret\n").decode()
    victim = boot(cloud, alice, "vm", "none", user_data=user_data)
    net = cloud.net(bob, "nb", "10.1.0.0/24")
    own = boot(cloud, bob, "mine", [{"uuid": net}])
    forged = cloud.ports_of(own)[0]["id"]
    r = cloud.c.put(f"/networking/v2.0/ports/{forged}", headers=bob,
                    json={"port": {"device_id": victim}})  # fmt: skip
    assert r.status_code in (200, 409), r.text
    r = cloud.c.get(f"{I}/servers/{victim}", headers=h1, params={"port_id": forged})
    assert r.status_code == 404 and "alice-secret" not in r.text
    # without a port, an agent is told nothing either
    assert cloud.c.get(f"{I}/servers/{victim}", headers=h1).status_code == 404


def test_enrolled_credential_file_is_root_only_and_found_by_the_agent(tmp_path: Path) -> None:
    from kumo.agent.config import Credentials

    creds = Credentials("http://127.0.0.1:1/identity/v3", "agent-h1", "pw")
    path = credentials.path_for("h1", tmp_path)
    credentials.write(path, "h1", creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.read(path) == ("h1", creds)
    args = argparse.Namespace(
        host="h1", credentials=None, state_dir=tmp_path, clouds_yaml=None, cloud="kumo-agent"
    )
    assert agent_cli_credentials(args) == creds
    with pytest.raises(SystemExit, match="host h1, not of h2"):
        agent_cli_credentials(
            argparse.Namespace(**{**vars(args), "host": "h2", "credentials": path})
        )


def test_kumo_agent_enroll_writes_a_credential_the_agent_uses(
    live_server: LiveServer, tmp_path: Path
) -> None:
    from kumo.agent.client import ApiClient
    from kumo.agent.config import AgentConfig

    env = {
        **os.environ,
        "OS_AUTH_URL": f"{live_server.base}/identity/v3",
        "OS_USERNAME": "admin",
        "OS_PASSWORD": live_server.admin_password,
        "OS_PROJECT_NAME": "admin",
    }
    env.pop("OS_CLIENT_CONFIG_FILE", None)
    cmd = [KUMO, "agent", "enroll", "--host", "enrolled1", "--state-dir", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    path = credentials.path_for("enrolled1", tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    host, creds = credentials.read(path)
    assert (host, creds.username, creds.project_name) == ("enrolled1", "agent-enrolled1", "service")
    args = argparse.Namespace(
        host="enrolled1", credentials=None, state_dir=tmp_path, clouds_yaml=None, cloud="x"
    )
    assert agent_cli_credentials(args) == creds
    mine = ApiClient(AgentConfig(host="enrolled1", api_url=live_server.base, credentials=creds))
    other = ApiClient(AgentConfig(host="enrolled2", api_url=live_server.base, credentials=creds))
    try:
        assert mine.register()
        with pytest.raises(httpx.HTTPStatusError) as refused:
            other.register()
        assert refused.value.response.status_code == 403
    finally:
        mine.close()
        other.close()
    # without admin credentials there is no enrolment
    env["OS_USERNAME"], env["OS_PASSWORD"] = creds.username, creds.password
    env["OS_PROJECT_NAME"] = "service"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "403" in done.stderr


def test_an_agent_lists_and_watches_only_its_own_host_topic(cloud: Cloud) -> None:
    h1, _ = enroll(cloud, "host1")
    ok = cloud.c.get(f"{I}/list", headers=h1, params={"topics": "host:host1,agents"})
    assert ok.status_code == 200, ok.text
    for path in ("/list", "/watch"):
        r = cloud.c.get(f"{I}{path}", headers=h1, params={"topics": "host:host2", "since": "0"})
        assert r.status_code == 403, r.text
    assert (
        cloud.c.get(f"{I}/list", headers=cloud.admin, params={"topics": "host:host2"}).status_code
        == 200
    )
