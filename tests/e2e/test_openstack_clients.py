"""End to end: a real ``kumo serve`` driven by openstacksdk and the ``openstack`` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openstack
import openstack.config
import openstack.connection
import pytest

from tests.live import LiveServer


@pytest.fixture(scope="module", autouse=True)
def _agents_stay_alive() -> Iterator[None]:
    """The agents these tests register never beat: on a loaded machine the
    CLI's own start-up (seconds per call) would outlast the default 15 s
    down time and the router would find no live agent."""
    old = os.environ.get("KUMO_AGENT_DOWN_TIME")
    os.environ["KUMO_AGENT_DOWN_TIME"] = "600"
    yield
    if old is None:
        os.environ.pop("KUMO_AGENT_DOWN_TIME", None)
    else:
        os.environ["KUMO_AGENT_DOWN_TIME"] = old


pytestmark = pytest.mark.slow
OPENSTACK = str(Path(sys.executable).parent / "openstack")


def _cli(server: LiveServer, *args: str) -> object:
    out = subprocess.run(
        [OPENSTACK, *args, "-f", "json"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def _run(server: LiveServer, *args: str) -> None:
    out = subprocess.run(
        [OPENSTACK, *args], env=server.env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr


def _cli_fails(server: LiveServer, *args: str) -> str:
    out = subprocess.run(
        [OPENSTACK, *args], env=server.env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    return out.stderr


def test_sdk_network_subnet_port_lifecycle(live_server: LiveServer) -> None:
    config = openstack.config.OpenStackConfig(config_files=[str(live_server.clouds_yaml)])
    conn = openstack.connection.Connection(config=config.get_one("kumo"))
    try:
        net = conn.network.create_network(name="sdk-net")
        assert net.mtu == 1450 and net.status == "ACTIVE"
        sub = conn.network.create_subnet(
            network_id=net.id, ip_version=4, cidr="10.20.0.0/24", name="sdk-sub"
        )
        assert sub.gateway_ip == "10.20.0.1"
        assert sub.allocation_pools == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
        port = conn.network.create_port(
            network_id=net.id, fixed_ips=[{"subnet_id": sub.id, "ip_address": "10.20.0.50"}]
        )
        assert port.fixed_ips == [{"subnet_id": sub.id, "ip_address": "10.20.0.50"}]
        assert port.mac_address.startswith("fa:16:3e:")
        auto = conn.network.create_port(network_id=net.id, name="auto")
        assert auto.fixed_ips[0]["ip_address"] == "10.20.0.2"

        names = sorted(p.name for p in conn.network.ports(network_id=net.id))
        assert names == ["", "auto"]
        assert [p.id for p in conn.network.ports(name="auto")] == [auto.id]

        conn.network.update_port(auto, name="renamed")
        assert conn.network.get_port(auto.id).name == "renamed"

        conn.network.set_tags(net, ["blue", "green"])
        assert sorted(conn.network.get_network(net.id).tags) == ["blue", "green"]
        assert [n.id for n in conn.network.networks(tags="blue")] == [net.id]

        with pytest.raises(openstack.exceptions.ConflictException):
            conn.network.delete_network(net)
        conn.network.delete_port(port)
        conn.network.delete_port(auto)
        conn.network.delete_subnet(sub)
        conn.network.delete_network(net)
        assert conn.network.find_network("sdk-net") is None
    finally:
        conn.close()


def test_cli_network_commands(live_server: LiveServer) -> None:
    net = _cli(live_server, "network", "create", "cli-net")
    assert isinstance(net, dict) and net["name"] == "cli-net"
    sub = _cli(
        live_server,
        "subnet",
        "create",
        "--network",
        "cli-net",
        "--subnet-range",
        "10.30.0.0/24",
        "cli-sub",
    )
    assert isinstance(sub, dict) and sub["cidr"] == "10.30.0.0/24"
    port = _cli(
        live_server,
        "port",
        "create",
        "--network",
        "cli-net",
        "--fixed-ip",
        "subnet=cli-sub,ip-address=10.30.0.9",
        "cli-port",
    )
    assert isinstance(port, dict)
    assert "10.30.0.9" in json.dumps(port["fixed_ips"])
    ports = _cli(live_server, "port", "list", "--network", "cli-net")
    assert isinstance(ports, list) and [p["Name"] for p in ports] == ["cli-port"]

    err = _cli_fails(
        live_server,
        "port",
        "create",
        "--network",
        "cli-net",
        "--fixed-ip",
        "subnet=cli-sub,ip-address=10.30.0.9",
        "dup",
    )
    assert "already allocated" in err or "IpAddressAlreadyAllocated" in err

    _run(live_server, "port", "delete", "cli-port")
    _run(live_server, "subnet", "delete", "cli-sub")
    _run(live_server, "network", "delete", "cli-net")
    nets = _cli(live_server, "network", "list")
    assert isinstance(nets, list) and "cli-net" not in [n["Name"] for n in nets]


def _network_quota(server: LiveServer) -> object:
    rows = _cli(server, "quota", "show", "--network", "admin")
    assert isinstance(rows, list)
    return next(r["Limit"] for r in rows if r["Resource"] == "networks")


def test_cli_network_quota_set_with_and_without_force(live_server: LiveServer) -> None:
    # the client sends check_limit, or force with --force, beside the limits
    _cli(live_server, "network", "create", "quota-net")
    _run(live_server, "quota", "set", "--networks", "7", "admin")
    assert _network_quota(live_server) == 7
    err = _cli_fails(live_server, "quota", "set", "--networks", "0", "admin")
    assert "must be greater than or equal to already used" in err
    _run(live_server, "quota", "set", "--networks", "0", "--force", "admin")
    assert _network_quota(live_server) == 0
    _run(live_server, "quota", "set", "--networks", "100", "--force", "admin")
    _run(live_server, "network", "delete", "quota-net")


def test_cli_identity_commands(live_server: LiveServer) -> None:
    project = _cli(live_server, "project", "create", "--domain", "default", "demo")
    assert isinstance(project, dict) and project["name"] == "demo"
    user = _cli(
        live_server,
        "user",
        "create",
        "--domain",
        "default",
        "--password",
        "s3cret-pw",
        "--project",
        "demo",
        "alice",
    )
    assert isinstance(user, dict) and user["name"] == "alice"
    subprocess.run(
        [OPENSTACK, "role", "add", "--project", "demo", "--user", "alice", "member"],
        env=live_server.env(),
        check=True,
        capture_output=True,
        timeout=120,
    )
    assignments = _cli(live_server, "role", "assignment", "list", "--user", "alice", "--names")
    assert isinstance(assignments, list)
    assert any(a["Role"] == "member" and a["Project"].startswith("demo") for a in assignments)

    env = live_server.env()
    env.pop("OS_CLOUD")
    env.pop("OS_CLIENT_CONFIG_FILE")
    env.update(
        OS_AUTH_URL=f"{live_server.base}/identity/v3",
        OS_USERNAME="alice",
        OS_PASSWORD="s3cret-pw",
        OS_PROJECT_NAME="demo",
        OS_USER_DOMAIN_ID="default",
        OS_PROJECT_DOMAIN_ID="default",
        OS_IDENTITY_API_VERSION="3",
    )
    out = subprocess.run(
        [OPENSTACK, "network", "create", "alice-net", "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    alice_net = json.loads(out.stdout)
    assert alice_net["project_id"] == project["id"]
    # alice's network is invisible to no one with admin, but a second user's
    # project cannot see it: checked in the API tests; here the CLI path works.
    out = subprocess.run(
        [OPENSTACK, "network", "show", "alice-net", "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


def test_cli_security_group_commands(live_server: LiveServer) -> None:
    group = _cli(live_server, "security", "group", "create", "web")
    assert isinstance(group, dict) and group["name"] == "web"
    rule = _cli(
        live_server,
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "--remote-ip",
        "0.0.0.0/0",
        "web",
    )
    assert isinstance(rule, dict)
    assert (rule["protocol"], rule["port_range_min"], rule["port_range_max"]) == ("tcp", 22, 22)
    assert rule["remote_ip_prefix"] == "0.0.0.0/0" and rule["security_group_id"] == group["id"]
    err = _cli_fails(
        live_server,
        "security",
        "group",
        "rule",
        "create",
        "--protocol",
        "tcp",
        "--dst-port",
        "22",
        "--remote-ip",
        "0.0.0.0/0",
        "web",
    )
    assert "SecurityGroupRuleExists" in err or "already exists" in err

    rules = _cli(live_server, "security", "group", "rule", "list", "web")
    assert isinstance(rules, list) and len(rules) == 3  # two egress rules and ssh
    assert rule["id"] in {r["ID"] for r in rules}
    shown = _cli(live_server, "security", "group", "show", "web")
    assert isinstance(shown, dict) and shown["id"] == group["id"]
    assert rule["id"] in json.dumps(shown["rules"])
    groups = _cli(live_server, "security", "group", "list")
    assert isinstance(groups, list) and {"default", "web"} <= {g["Name"] for g in groups}
    templates = _cli(live_server, "default", "security", "group", "rule", "list")
    assert isinstance(templates, list) and len(templates) == 4

    _run(live_server, "network", "create", "sg-net")
    _run(
        live_server,
        "subnet",
        "create",
        "--network",
        "sg-net",
        "--subnet-range",
        "10.40.0.0/24",
        "sg-sub",
    )
    port = _cli(
        live_server, "port", "create", "--network", "sg-net", "--security-group", "web", "sg-port"
    )
    assert isinstance(port, dict) and port["security_group_ids"] == [group["id"]]
    plain = _cli(live_server, "port", "create", "--network", "sg-net", "plain-port")
    default = next(g for g in groups if g["Name"] == "default")
    assert isinstance(plain, dict) and plain["security_group_ids"] == [default["ID"]]

    err = _cli_fails(live_server, "security", "group", "delete", "web")
    assert "in use" in err or "SecurityGroupInUse" in err
    _run(live_server, "port", "delete", "sg-port", "plain-port")
    _run(live_server, "security", "group", "rule", "delete", rule["id"])
    _run(live_server, "security", "group", "delete", "web")
    groups = _cli(live_server, "security", "group", "list")
    assert isinstance(groups, list) and "web" not in {g["Name"] for g in groups}
    _run(live_server, "subnet", "delete", "sg-sub")
    _run(live_server, "network", "delete", "sg-net")


def test_cli_router_and_floating_ip_commands(live_server: LiveServer) -> None:
    import httpx

    token = live_server.token()
    agent = {"agent": {"host": "gw-cli", "configurations": {"gateway": True}}}
    r = httpx.post(
        f"{live_server.base}/internal/v1/agents",
        json=agent,
        headers={"X-Auth-Token": token},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    _run(live_server, "network", "create", "--external", "public")
    _run(
        live_server,
        "subnet",
        "create",
        "--network",
        "public",
        "--subnet-range",
        "203.0.113.0/24",
        "--no-dhcp",
        "public-sub",
    )
    _run(live_server, "network", "create", "l3-net")
    _run(
        live_server,
        "subnet",
        "create",
        "--network",
        "l3-net",
        "--subnet-range",
        "10.60.0.0/24",
        "sub1",
    )
    router = _cli(live_server, "router", "create", "r1")
    assert isinstance(router, dict) and router["name"] == "r1" and router["status"] == "ACTIVE"
    _run(live_server, "router", "set", "--external-gateway", "public", "r1")
    _run(live_server, "router", "add", "subnet", "r1", "sub1")
    shown = _cli(live_server, "router", "show", "r1")
    assert isinstance(shown, dict)
    assert "203.0.113." in json.dumps(shown["external_gateway_info"])
    assert "10.60.0.1" in json.dumps(shown["interfaces_info"])
    agents = _cli(live_server, "network", "agent", "list", "--router", "r1")
    assert isinstance(agents, list) and [a["Host"] for a in agents] == ["gw-cli"]

    port = _cli(live_server, "port", "create", "--network", "l3-net", "p1")
    assert isinstance(port, dict)
    fip = _cli(live_server, "floating", "ip", "create", "public")
    assert isinstance(fip, dict) and fip["floating_ip_address"].startswith("203.0.113.")
    assert fip["port_id"] is None and fip["status"] == "DOWN"
    _run(live_server, "floating", "ip", "set", "--port", "p1", fip["id"])
    fip_shown = _cli(live_server, "floating", "ip", "show", fip["id"])
    assert isinstance(fip_shown, dict) and fip_shown["port_id"] == port["id"]
    assert fip_shown["router_id"] == router["id"] and fip_shown["status"] == "ACTIVE"
    assert fip_shown["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    err = _cli_fails(live_server, "router", "remove", "subnet", "r1", "sub1")
    assert "RouterInterfaceInUseByFloatingIP" in err or "floating IP" in err
    _run(live_server, "floating", "ip", "unset", "--port", fip["id"])
    fip_shown = _cli(live_server, "floating", "ip", "show", fip["id"])
    assert isinstance(fip_shown, dict) and fip_shown["port_id"] is None

    _run(live_server, "floating", "ip", "delete", fip["id"])
    _run(live_server, "port", "delete", "p1")
    err = _cli_fails(live_server, "router", "delete", "r1")
    assert "RouterInUse" in err or "still has ports" in err
    _run(live_server, "router", "remove", "subnet", "r1", "sub1")
    _run(live_server, "router", "delete", "r1")
    routers = _cli(live_server, "router", "list")
    assert isinstance(routers, list) and "r1" not in [x["Name"] for x in routers]
    _run(live_server, "subnet", "delete", "sub1", "public-sub")
    _run(live_server, "network", "delete", "l3-net", "public")


def test_cli_ha_router_agents(live_server: LiveServer) -> None:
    import httpx

    headers = {"X-Auth-Token": live_server.token()}
    ids = {}
    for host in ("ha-cli-a", "ha-cli-b", "ha-cli-c"):
        agent = {"agent": {"host": host, "configurations": {"gateway": True}}}
        r = httpx.post(
            f"{live_server.base}/internal/v1/agents", json=agent, headers=headers, timeout=30
        )
        assert r.status_code == 201, r.text
        ids[host] = r.json()["agent"]["id"]
    _run(live_server, "network", "create", "--external", "ha-public")
    _run(
        live_server,
        "subnet",
        "create",
        "--network",
        "ha-public",
        "--subnet-range",
        "198.51.100.0/24",
        "--no-dhcp",
        "ha-public-sub",
    )
    router = _cli(live_server, "router", "create", "--ha", "r-ha")
    assert isinstance(router, dict) and router["ha"] is True
    _run(live_server, "router", "set", "--external-gateway", "ha-public", "r-ha")

    def states() -> dict[str, str]:
        agents = _cli(live_server, "network", "agent", "list", "--router", "r-ha", "--long")
        assert isinstance(agents, list)
        return {a["Host"]: a["HA State"] for a in agents}

    # three gateway agents (another test's may be among them while it is alive)
    first = states()
    assert len(first) == 3 and set(first.values()) == {"unknown"}
    standby, active = sorted(h for h in first if h in ids)[:2]
    for host, state in ((standby, "standby"), (active, "active")):
        r = httpx.post(
            f"{live_server.base}/internal/v1/agents/{ids[host]}/ha-states",
            json={"ha_states": {router["id"]: state}},
            headers=headers,
            timeout=30,
        )
        assert r.status_code == 200, r.text
    after = states()
    assert (after.pop(standby), after.pop(active)) == ("standby", "active")
    assert set(after.values()) == {"unknown"}
    _run(live_server, "router", "unset", "--external-gateway", "r-ha")
    _run(live_server, "router", "delete", "r-ha")
