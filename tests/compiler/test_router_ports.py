"""A router's ports in the compiler are those its body lists (``kumo_ports``)."""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, compile_host
from kumo.compiler import names as n
from tests.compiler import states as s

R = "e0000000-0000-4000-8000-0000000000e1"
IF1 = "e1000000-0000-4000-8000-000000000001"
FORGED = "e2000000-0000-4000-8000-000000000002"
DVR = "network:router_interface_distributed"


def view(members: list[dict[str, Any]], *, v6: bool = False) -> ClusterView:
    cidr2, gw2, ip2 = (
        ("2001:db8:2::/64", "2001:db8:2::1", "2001:db8:2::11")
        if v6
        else ("10.0.2.0/24", "10.0.2.1", "10.0.2.11")
    )
    extra = {"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"} if v6 else {}
    ports = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "c", [("s1", "10.0.1.11")]),
        s.port(s.P2, s.NET2, "fa:16:3e:00:00:02", "c", [("s2", ip2)]),
        s.port(IF1, s.NET1, "fa:16:3e:00:01:01", "", [("s1", "10.0.1.1")], owner=DVR, device_id=R),
        # another project's port on NET2 that claims to be R's interface
        s.port(FORGED, s.NET2, "fa:16:3e:00:02:01", "", [("s2", gw2)], owner=DVR, device_id=R),
    ]  # fmt: skip
    router = {
        "id": R,
        "admin_state_up": True,
        "distributed": True,
        "routes": [],
        "external_gateway_info": None,
        "kumo_gateway_hosts": [],
        "kumo_ports": members,
    }
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
        [s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
         s.subnet("s2", s.NET2, cidr2, gw2, **extra)],
        ports, [s.agent("c", "192.0.2.11")], (), [router], (),
    )  # fmt: skip


def addresses(view: ClusterView) -> set[str]:
    plan = compile_host("c", view)
    ns = n.router_netns("c", R)
    return {a.address for a in plan.addresses if a.netns == ns}


def test_a_port_that_only_names_the_router_is_not_routed() -> None:
    listed = [{"port_id": IF1, "port_type": DVR, "network_id": s.NET1}]
    assert addresses(view(listed)) == {"10.0.1.1/24"}


def test_a_listed_port_is_routed_and_the_list_says_what_it_is() -> None:
    both = [{"port_id": IF1, "port_type": DVR, "network_id": s.NET1},
            {"port_id": FORGED, "port_type": DVR, "network_id": s.NET2}]  # fmt: skip
    assert addresses(view(both)) == {"10.0.1.1/24", "10.0.2.1/24"}
    # a type the router does not give it: no distributed leg
    other = [both[0], {**both[1], "port_type": "network:router_centralized_snat"}]
    assert addresses(view(other)) == {"10.0.1.1/24"}


def test_router_advertisements_come_from_listed_interfaces_only() -> None:
    listed = [{"port_id": IF1, "port_type": DVR, "network_id": s.NET1}]
    plan = compile_host("c", view(listed, v6=True))
    (advert,) = [a for a in plan.adverts if a.port_id == s.P2]
    assert advert.src_mac != "fa:16:3e:00:02:01" and advert.router_lifetime == 0
    both = [*listed, {"port_id": FORGED, "port_type": DVR, "network_id": s.NET2}]
    plan = compile_host("c", view(both, v6=True))
    (advert,) = [a for a in plan.adverts if a.port_id == s.P2]
    assert advert.src_mac == "fa:16:3e:00:02:01" and advert.router_lifetime == 1800
