"""The resolver's zones and the DHCP lease's names, compiled from watch bodies."""

from __future__ import annotations

from typing import Any

from kumo.compiler.compile import compile_host
from kumo.compiler.model import ClusterView
from kumo.compiler.plan import DnsRecord
from tests.compiler.states import NET1, P1, P2, P3, P4, agent, network, port, subnet


def _assigned(ip: str, name: str, domain: str = "openstacklocal.") -> list[dict[str, str]]:
    return [{"hostname": name, "ip_address": ip, "fqdn": f"{name}.{domain}"}]


def _view(net: dict[str, Any] | None = None, dns_nameservers: tuple[str, ...] = ()) -> ClusterView:
    ports = [
        port(P1, NET1, "fa:16:3e:00:00:01", "h1", [("s1", "10.0.0.11")], project_id="alice",
             dns_assignment=_assigned("10.0.0.11", "web")),
        port(P2, NET1, "fa:16:3e:00:00:02", "h2", [("s1", "10.0.0.12")], project_id="alice",
             dns_assignment=_assigned("10.0.0.12", "db")),
        port(P3, NET1, "fa:16:3e:00:00:03", "h1", [("s1", "10.0.0.13")], project_id="bob",
             dns_assignment=_assigned("10.0.0.13", "secret")),
        port(P4, NET1, "fa:16:3e:00:00:04", "", [("s1", "10.0.0.1")], owner="network:router_interface",
             project_id="", dns_assignment=_assigned("10.0.0.1", "host-10-0-0-1")),
    ]  # fmt: skip
    return ClusterView.from_bodies(
        networks=[net or network(NET1)],
        subnets=[
            subnet(
                "s1",
                NET1,
                "10.0.0.0/24",
                "10.0.0.1",
                enable_dhcp=True,
                dns_nameservers=list(dns_nameservers),
            )
        ],  # fmt: skip
        ports=ports,
        agents=[agent("h1", "192.0.2.1"), agent("h2", "192.0.2.2")],
    )


def test_zone_has_the_networks_names_and_the_local_askers() -> None:
    plan = compile_host("h1", _view(network(NET1, dns_domain="corp.example.")))
    (zone,) = plan.dns
    (endpoint,) = plan.metadata
    assert zone.netns == endpoint.netns and zone.network_id == NET1
    assert zone.askers == (("10.0.0.11", "alice"), ("10.0.0.13", "bob"))
    assert zone.records == (
        DnsRecord("alice", "10.0.0.11", "web.openstacklocal.",
                  ("web.", "web.corp.example.", "web.openstacklocal.")),
        DnsRecord("alice", "10.0.0.12", "db.openstacklocal.",
                  ("db.", "db.corp.example.", "db.openstacklocal.")),
        DnsRecord("bob", "10.0.0.13", "secret.openstacklocal.",
                  ("secret.", "secret.corp.example.", "secret.openstacklocal.")),
    )  # fmt: skip


def test_no_zone_without_local_instances() -> None:
    view = _view()
    assert compile_host("h3", view).dns == frozenset()


def test_lease_names_and_resolver() -> None:
    (lease,) = [x for x in compile_host("h1", _view()).dhcp if x.port_id == P1]
    assert lease.hostname == "web" and lease.domain == "openstacklocal"
    assert lease.dns == ("169.254.169.254",)
    named = compile_host("h1", _view(network(NET1, dns_domain="corp.example."), ("192.0.2.53",)))
    (lease,) = [x for x in named.dhcp if x.port_id == P1]
    assert lease.domain == "corp.example" and lease.dns == ("192.0.2.53",)


def test_lease_without_assignment_keeps_host_name() -> None:
    view = ClusterView.from_bodies(
        networks=[network(NET1)],
        subnets=[subnet("s1", NET1, "10.0.0.0/24", "10.0.0.1", enable_dhcp=True)],
        ports=[port(P1, NET1, "fa:16:3e:00:00:01", "h1", [("s1", "10.0.0.11")])],
        agents=[agent("h1", "192.0.2.1")],
    )
    (lease,) = compile_host("h1", view).dhcp
    assert lease.hostname == "host-10-0-0-11" and lease.domain == "openstacklocal"


def test_a_domain_with_keywords_is_served_as_the_api_replaced_them() -> None:
    net = network(NET1, dns_domain="<project_name>.example.", kumo_dns_zone="alice.example.")
    (zone,) = compile_host("h1", _view(net)).dns
    assert "web.alice.example." in zone.records[0].names
    assert not any("<" in name for r in zone.records for name in r.names)


def test_ipv6_only_network_gets_the_resolver_and_metadata_on_fe80_a9fe_a9fe() -> None:
    """No IPv4 at all: the network still gets its metadata namespace, with
    fe80::a9fe:a9fe on the leg, and the port asks from its fixed IPv6
    address or the link-local address its MAC makes."""
    ll = "fe80::f816:3eff:fe00:1"
    view = ClusterView.from_bodies(
        networks=[network(NET1)],
        subnets=[subnet("s6", NET1, "2001:db8:6::/64", None, ipv6_ra_mode="slaac",
                        ipv6_address_mode="slaac")],
        ports=[port(P1, NET1, "fa:16:3e:00:00:01", "h1", [("s6", "2001:db8:6::1")],
                    project_id="alice", dns_assignment=_assigned("2001:db8:6::1", "web"))],
        agents=[agent("h1", "192.0.2.1")],
    )  # fmt: skip
    plan = compile_host("h1", view)
    (endpoint,) = plan.metadata
    assert [(c.ip, c.port_id) for c in endpoint.clients] == [("2001:db8:6::1", P1), (ll, P1)]
    (zone,) = plan.dns
    assert zone.askers == (("2001:db8:6::1", "alice"), (ll, "alice"))
    on_leg = {a.address for a in plan.addresses if a.netns == endpoint.netns}
    assert on_leg == {"169.254.169.254/32", "fe80::a9fe:a9fe/64"}
    routes = {r.dst for r in plan.routes if r.netns == endpoint.netns}
    assert routes == {"2001:db8:6::/64"}
