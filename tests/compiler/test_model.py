"""Parsing watch-feed bodies into views."""

from __future__ import annotations

from kumo.compiler.model import (
    ClusterView,
    FixedIp,
    HostRoute,
    HostView,
    NetworkView,
    PortView,
    hosts_of,
)
from tests.compiler import states as s


def test_bodies_with_extra_keys_parse() -> None:
    body = s.network(s.NET1, seg=77, unexpected={"nested": [1, 2]}, mtu=1400)
    view = NetworkView.from_body(body)
    assert view == NetworkView(s.NET1, "vxlan", 77, None, 1400, True)


def test_network_mtus_below_ipv4s_minimum_make_links_of_the_minimum() -> None:
    # the API takes them (as Neutron does) for networks that can have no subnet
    assert NetworkView.from_body(s.network(s.NET1, seg=77, mtu=60)).mtu == 68


def test_port_body() -> None:
    body = s.port(s.P1, s.NET1, "FA:16:3E:00:00:01", "host-a", [("s1", "10.0.0.5")])
    view = PortView.from_body(body)
    assert view.mac == "fa:16:3e:00:00:01"
    assert view.fixed_ips == (FixedIp("s1", "10.0.0.5"),)
    assert view.host == "host-a"
    assert view.mtu is None
    unbound = PortView.from_body({**body, "binding:host_id": None})
    assert unbound.host == ""


def test_subnet_host_routes_and_version() -> None:
    body = s.subnet(
        "s6",
        s.NET1,
        "2001:db8::/64",
        None,
        host_routes=[{"destination": "2001:db8:1::/48", "nexthop": "2001:db8::9"}],
        dns_nameservers=["2001:db8::53"],
    )
    del body["ip_version"]
    view = ClusterView.from_bodies(subnets=[body]).subnets["s6"]
    assert view.ip_version == 6
    assert view.gateway_ip is None
    assert view.host_routes == (HostRoute("2001:db8:1::/48", "2001:db8::9"),)
    assert view.dns_nameservers == ("2001:db8::53",)


def test_agents_for_one_host_prefer_the_one_with_a_tunnel_ip() -> None:
    l3 = s.agent("host-a", None)
    l3["id"] = "0-l3"
    main = s.agent("host-a", "192.0.2.11", bridge_mappings={"physnet1": "ens5"})
    view = ClusterView.from_bodies(agents=[main, l3])
    assert view.hosts["host-a"] == HostView(
        "host-a", "192.0.2.11", (("physnet1", "ens5"),), underlay_device=None
    )
    assert view.hosts["host-a"].interface_for("physnet1") == "ens5"
    assert view.hosts["host-a"].interface_for("other") is None


def test_invalid_bodies_are_skipped_and_listed() -> None:
    good = s.network(s.NET1)
    view = ClusterView.from_bodies(
        networks=[good, {"id": "broken", "mtu": "not a number"}],
        ports=[{"id": "p-no-network"}],
        agents=[{"id": "a-no-host"}],
    )
    assert list(view.networks) == [s.NET1]
    assert view.invalid == ("agent:a-no-host", "network:broken", "port:p-no-network")


def test_from_bodies_accepts_dicts_keyed_by_id() -> None:
    as_list = ClusterView.from_bodies([s.network(s.NET1)], ports=[])
    as_dict = ClusterView.from_bodies({s.NET1: s.network(s.NET1)})
    assert as_list == as_dict


def test_hosts_follow_each_agents_latest_body() -> None:
    """Hosts are parsed once per agent body: a changed body (same agent) is
    parsed again, and one that stops parsing is reported, not kept."""
    a = {"id": "agent-1", "host": "h1", "configurations": {"tunnel_ip": "10.0.0.1"}}
    b = {"id": "agent-2", "host": "h2", "configurations": {"tunnel_ip": "10.0.0.2"}}
    hosts, bad = hosts_of([a, b])
    assert hosts["h1"].tunnel_ip == "10.0.0.1" and not bad
    moved = {**a, "configurations": {"tunnel_ip": "10.0.0.9", "gateway": True}}
    hosts, bad = hosts_of([moved, b])
    assert hosts["h1"].tunnel_ip == "10.0.0.9" and hosts["h1"].gateway
    broken = {"id": "agent-1", "configurations": {}}  # no host
    hosts, bad = hosts_of([broken, b])
    assert set(hosts) == {"h2"} and bad == ["agent:agent-1"]
