"""Named cluster states for compiler tests: Neutron admin bodies as the watch
feed delivers them, built with small helpers, and a list of named states."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

Body = dict[str, Any]

NET1 = "1f0e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
NET2 = "2a1b0c9d-8e7f-4a6b-9c5d-4e3f2a1b0c9d"
FLAT = "3c2d1e0f-9a8b-4c7d-8e6f-5a4b3c2d1e0f"
VLAN = "4d3e2f1a-0b9c-4d8e-9f7a-6b5c4d3e2f1a"
VLAN2 = "5e4f3a2b-1c0d-4e9f-8a7b-7c6d5e4f3a2b"
P1 = "a1000000-0000-4000-8000-000000000001"
P2 = "a2000000-0000-4000-8000-000000000002"
P3 = "a3000000-0000-4000-8000-000000000003"
P4 = "a4000000-0000-4000-8000-000000000004"
P5 = "a5000000-0000-4000-8000-000000000005"


def network(nid: str, *, kind: str = "vxlan", seg: int | None = 101, **extra: Any) -> Body:
    body: Body = {
        "id": nid,
        "name": f"net-{nid[:4]}",
        "tenant_id": "t1",
        "project_id": "t1",
        "admin_state_up": True,
        "status": "ACTIVE",
        "mtu": 1450 if kind == "vxlan" else 1500,
        "provider:network_type": kind,
        "provider:segmentation_id": seg,
        "provider:physical_network": None if kind == "vxlan" else "physnet1",
        "router:external": False,
        "shared": False,
        "subnets": [],
        "tags": [],
    }
    body.update(extra)
    return body


def subnet(sid: str, nid: str, cidr: str, gateway: str | None, **extra: Any) -> Body:
    body: Body = {
        "id": sid,
        "network_id": nid,
        "cidr": cidr,
        "gateway_ip": gateway,
        "ip_version": 6 if ":" in cidr else 4,
        "enable_dhcp": False,  # static configuration unless a test asks for DHCP
        "host_routes": [],
        "dns_nameservers": [],
        "allocation_pools": [],
        "name": "",
    }
    body.update(extra)
    return body


def port(
    pid: str,
    nid: str,
    mac: str,
    host: str,
    ips: list[tuple[str, str]],
    *,
    owner: str = "compute:nova",
    **extra: Any,
) -> Body:
    body: Body = {
        "id": pid,
        "network_id": nid,
        "mac_address": mac,
        "fixed_ips": [{"subnet_id": s, "ip_address": ip} for s, ip in ips],
        "binding:host_id": host,
        "binding:vif_type": "bridge" if host else "unbound",
        "device_owner": owner,
        "device_id": "dev-" + pid[:4],
        "admin_state_up": True,
        "status": "DOWN",
        "security_groups": [],
    }
    body.update(extra)
    return body


def router_ports(router_id: str, ports: Iterable[Body]) -> list[Body]:
    """A router body's ``kumo_ports`` (the API's record of its ports): here,
    those of ``ports`` made for it (``device_id``), as their owner says."""
    return [
        {"port_id": p["id"], "port_type": p["device_owner"], "network_id": p["network_id"]}
        for p in ports
        if p.get("device_id") == router_id
    ]


def agent(host: str, tunnel_ip: str | None, **conf: Any) -> Body:
    configurations: Body = {"tunnel_ip": tunnel_ip, "bridge_mappings": {}}
    configurations.update(conf)
    return {
        "id": f"agent-{host}",
        "host": host,
        "agent_type": "kumo agent",
        "binary": "kumo-agent",
        "alive": True,
        "admin_state_up": True,
        "configurations": configurations,
    }


@dataclass(frozen=True)
class State:
    name: str
    networks: tuple[Body, ...] = ()
    subnets: tuple[Body, ...] = ()
    ports: tuple[Body, ...] = ()
    agents: tuple[Body, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, name: str, **kinds: tuple[Body, ...]) -> State:
        merged = {k: getattr(self, k) + v for k, v in kinds.items()}
        return replace(self, name=name, **merged)

    def objects(self) -> list[tuple[str, Body]]:
        return (
            [("network", b) for b in self.networks]
            + [("subnet", b) for b in self.subnets]
            + [("port", b) for b in self.ports]
            + [("agent", b) for b in self.agents]
        )


AGENTS = (
    agent("host-a", "192.0.2.11", underlay_device="eth0"),
    agent("host-b", "192.0.2.12", underlay_device="eth0"),
    agent("host-c", "192.0.2.13", underlay_device="eth0"),
)

EMPTY = State("empty", agents=AGENTS)
ONE_LOCAL = EMPTY.with_(
    "one local port",
    networks=(network(NET1),),
    subnets=(subnet("s1", NET1, "10.0.0.0/24", "10.0.0.1"),),
    ports=(port(P1, NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")]),),
)
LOCAL_AND_REMOTE = ONE_LOCAL.with_(
    "local and remote port",
    ports=(port(P2, NET1, "fa:16:3e:00:00:02", "host-b", [("s1", "10.0.0.12")]),),
)
TWO_NETWORKS_SAME_CIDR = LOCAL_AND_REMOTE.with_(
    "two networks, same CIDR",
    networks=(network(NET2, seg=102),),
    subnets=(subnet("s2", NET2, "10.0.0.0/24", "10.0.0.1"),),
    ports=(
        port(P3, NET2, "fa:16:3e:00:00:03", "host-a", [("s2", "10.0.0.11")]),
        port(P4, NET2, "fa:16:3e:00:00:04", "host-b", [("s2", "10.0.0.12")]),
    ),
)
REMOTE_ONLY = EMPTY.with_(
    "remote ports only",
    networks=(network(NET1),),
    subnets=(subnet("s1", NET1, "10.0.0.0/24", "10.0.0.1"),),
    ports=(port(P2, NET1, "fa:16:3e:00:00:02", "host-b", [("s1", "10.0.0.12")]),),
)
DUAL_STACK = EMPTY.with_(
    "dual stack with host routes and a second host",
    networks=(network(NET1),),
    subnets=(
        subnet(
            "s1",
            NET1,
            "10.0.0.0/24",
            "10.0.0.1",
            host_routes=[{"destination": "172.16.0.0/16", "nexthop": "10.0.0.254"}],
        ),
        subnet("s6", NET1, "2001:db8::/64", "2001:db8::1"),
    ),
    ports=(
        port(
            P1, NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11"), ("s6", "2001:db8::11")]
        ),
        port(
            P2, NET1, "fa:16:3e:00:00:02", "host-c", [("s1", "10.0.0.13"), ("s6", "2001:db8::13")]
        ),
    ),
)
PROVIDER = State(
    "flat and vlan provider networks",
    agents=(agent("host-a", "192.0.2.11", bridge_mappings={"physnet1": "ens5"}),),
    networks=(network(FLAT, kind="flat", seg=None), network(VLAN, kind="vlan", seg=42)),
    subnets=(
        subnet("sf", FLAT, "198.51.100.0/24", "198.51.100.1"),
        subnet("sv", VLAN, "203.0.113.0/24", None),
    ),
    ports=(
        port(P1, FLAT, "fa:16:3e:00:00:01", "host-a", [("sf", "198.51.100.5")]),
        port(P2, VLAN, "fa:16:3e:00:00:02", "host-a", [("sv", "203.0.113.5")]),
        port(P3, FLAT, "fa:16:3e:00:00:03", "host-b", [("sf", "198.51.100.6")]),
    ),
)
VLAN_BY_TC = State(
    "vlan provider networks on a kernel without 802.1Q devices",
    agents=(
        agent("host-a", "192.0.2.11", bridge_mappings={"physnet1": "ens5"}, vlan_devices=False),
    ),
    networks=(
        network(FLAT, kind="flat", seg=None),
        network(VLAN, kind="vlan", seg=42),
        network(VLAN2, kind="vlan", seg=43),
    ),
    subnets=(
        subnet("sf", FLAT, "198.51.100.0/24", "198.51.100.1"),
        subnet("sv", VLAN, "203.0.113.0/24", None),
        subnet("sw", VLAN2, "203.0.113.0/24", None),
    ),
    ports=(
        port(P1, FLAT, "fa:16:3e:00:00:01", "host-a", [("sf", "198.51.100.5")]),
        port(P2, VLAN, "fa:16:3e:00:00:02", "host-a", [("sv", "203.0.113.5")]),
        port(P3, VLAN2, "fa:16:3e:00:00:03", "host-a", [("sw", "203.0.113.6")]),
        port(P4, VLAN2, "fa:16:3e:00:00:04", "host-b", [("sw", "203.0.113.7")]),
    ),
)
MIXED_OWNERS = LOCAL_AND_REMOTE.with_(
    "dhcp port, admin-down port, unbound port, unknown host",
    ports=(
        port(P3, NET1, "fa:16:3e:00:00:03", "host-a", [("s1", "10.0.0.2")], owner="network:dhcp"),
        port(
            P4,
            NET1,
            "fa:16:3e:00:00:04",
            "host-a",
            [("s1", "10.0.0.14")],
            admin_state_up=False,
        ),
        port(P5, NET1, "fa:16:3e:00:00:05", "", [("s1", "10.0.0.15")]),
        port(
            "a6000000-0000-4000-8000-000000000006",
            NET1,
            "fa:16:3e:00:00:06",
            "host-unknown",
            [("s1", "10.0.0.16")],
        ),
    ),
)

STATES = (
    EMPTY,
    ONE_LOCAL,
    LOCAL_AND_REMOTE,
    TWO_NETWORKS_SAME_CIDR,
    REMOTE_ONLY,
    DUAL_STACK,
    PROVIDER,
    VLAN_BY_TC,
    MIXED_OWNERS,
)
