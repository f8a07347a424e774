"""A router gateway on an external network without subnets: its port has no
fixed IPs (as in Neutron). The compiler gives it its leg and nothing that
needs an address: no address, no default route, no translation, no
announcement, no SNAT detour and no block demand on the instances' hosts.

Hosts: c (compute, the instance), g (the router's gateway host).
"""

from __future__ import annotations

from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.compiler.snat import demand
from tests.compiler import states as s

R = "e0000000-0000-4000-8000-0000000000e1"
EXT = "e0000000-0000-4000-8000-0000000000ee"
IF1 = "e1000000-0000-4000-8000-000000000001"
SNAT = "ec100000-0000-4000-8000-000000000001"
GW = "e9000000-0000-4000-8000-000000000009"
GW_MAC = "fa:16:3e:00:09:09"
TUNNEL = {"c": "192.0.2.11", "g": "192.0.2.12"}


def view(*, distributed: bool, ha: bool = False, distributed_snat: bool = False) -> ClusterView:
    owner = "network:router_interface" + ("_distributed" if distributed else "")
    ports: list[Any] = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "c", [("s1", "10.0.1.11")]),
        s.port(IF1, s.NET1, "fa:16:3e:00:01:01", "" if distributed else "g",
               [("s1", "10.0.1.1")], owner=owner, device_id=R),
        s.port(GW, EXT, GW_MAC, "g", [], owner="network:router_gateway", device_id=R),
    ]  # fmt: skip
    if distributed:
        ports.append(s.port(SNAT, s.NET1, "fa:16:3e:00:01:02", "g", [("s1", "10.0.1.2")],
                            owner="network:router_centralized_snat", device_id=R))  # fmt: skip
    router = {
        "id": R, "admin_state_up": True, "distributed": distributed, "ha": ha,
        "kumo_gateway_hosts": ["g"],
        "external_gateway_info": {"network_id": EXT, "enable_snat": True,
                                  "external_fixed_ips": []},
        "routes": [], "kumo_ports": s.router_ports(R, ports),
        "kumo_distributed_snat": distributed_snat,
    }  # fmt: skip
    agents = [
        s.agent(h, ip, bridge_mappings={"external": "eth1"}, underlay_device="eth0")
        for h, ip in TUNNEL.items()
    ]
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101),
         s.network(EXT, kind="flat", seg=None, **{"provider:physical_network": "external",
                                                  "router:external": True})],
        [s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1")],
        ports, agents, (), [router], (),
    )  # fmt: skip


def plan(host: str, **kw: Any) -> HostPlan:
    return compile_host(host, view(**kw), ha_active={R: "g"}, lease_ms=200)


def lines(p: HostPlan, ns: str) -> list[str]:
    return [x for x in p.describe() if f" {ns} " in f"{x} "]


@pytest.mark.parametrize("distributed", [False, True])
@pytest.mark.parametrize("ha", [False, True])
def test_the_gateway_leg_is_made_and_wired_without_anything_that_needs_an_address(
    distributed: bool, ha: bool
) -> None:
    p = plan("g", distributed=distributed, ha=ha)
    ns = (n.snat_netns if distributed else n.router_netns)("g", R)
    leg = n.router_gw_name(GW)
    mine = lines(p, ns)
    assert f"link {ns} {leg} veth mtu 1500 mac {GW_MAC} up" in mine
    assert not [x for x in mine if x.startswith(f"addr {ns} {leg}")]
    assert not [x for x in mine if x.startswith(f"route {ns} 0.0.0.0/0")]
    (table,) = [t for t in p.nat if t.netns == ns]
    assert (table.snat, table.dnat, table.announce, table.limits) == ((), (), (), ())
    # the port is wired on its host (the agent reports it up)
    assert GW in {w.port_id for w in p.wiring}
    # the router's interface still routes its subnet
    inside = n.router_if_name(SNAT if distributed else IF1)
    assert any(x.startswith(f"addr {ns} {inside} ") for x in mine)


def test_instances_hosts_neither_detour_to_the_snat_port_nor_ask_for_blocks() -> None:
    p = plan("c", distributed=True, distributed_snat=True)
    ns = n.router_netns("c", R)
    mine = lines(p, ns)
    assert not [x for x in mine if x.startswith(f"route {ns} 0.0.0.0/0")]
    assert not [x for x in mine if x.startswith("rule ")]
    (table,) = [t for t in p.nat if t.netns == ns]
    assert (table.snat, table.dnat) == ((), ())
    assert demand("c", view(distributed=True, distributed_snat=True)) == {}
