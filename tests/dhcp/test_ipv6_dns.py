"""DNS for IPv6 instances: the servers and domain that router advertisements
(RDNSS, DNSSL) and DHCPv6 (options 23 and 24) carry, compiled and on the wire."""

from __future__ import annotations

import socket
import struct
from dataclasses import replace
from typing import Any

import pytest

from kumo.compiler import ClusterView, compile_host
from kumo.dhcp import dhcp6, ra
from kumo.dhcp.codec import checksum
from tests.compiler import states as s

RESOLVER = "fe80::a9fe:a9fe"
MAC = "fa:16:3e:00:00:01"
ADDR = "2001:db8:6:0:f816:3eff:fe00:1"


def _plan(mode: str, net: dict[str, Any] | None = None, dns: list[str] | None = None) -> Any:
    view = ClusterView.from_bodies(
        [net or s.network(s.NET1)],
        [s.subnet("s6", s.NET1, "2001:db8:6::/64", None, ipv6_ra_mode=mode,
                  ipv6_address_mode=mode, dns_nameservers=dns or [])],
        [s.port(s.P1, s.NET1, MAC, "h1", [("s6", ADDR)])],
        [s.agent("h1", "192.0.2.1")],
    )  # fmt: skip
    return compile_host("h1", view)


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless", "dhcpv6-stateful"])
def test_the_hosts_resolver_is_advertised_where_the_subnet_names_none(mode: str) -> None:
    plan = _plan(mode)
    (advert,) = plan.adverts
    assert advert.rdnss == (RESOLVER,) and advert.dnssl == ("openstacklocal",)
    leases = [(x.dns, x.domain) for x in plan.dhcp6]
    assert leases == ([] if mode == "slaac" else [((RESOLVER,), "openstacklocal")])


def test_the_subnets_ipv6_name_servers_win_and_the_networks_domain_is_searched() -> None:
    net = s.network(s.NET1, dns_domain="corp.example.")
    plan = _plan("dhcpv6-stateless", net, ["2001:db8::53", "192.0.2.53", "2001:db8::54"])
    (advert,) = plan.adverts
    assert advert.rdnss == ("2001:db8::53", "2001:db8::54")
    assert advert.dnssl == ("corp.example",)
    (lease,) = plan.dhcp6
    assert lease.dns == ("2001:db8::53", "2001:db8::54") and lease.domain == "corp.example"


def _options(frame: bytes) -> dict[int, list[bytes]]:
    body = frame[54:]
    src, dst = frame[22:38], frame[38:54]
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    assert checksum(pseudo + body) == 0
    out: dict[int, list[bytes]] = {}
    i = 16
    while i < len(body):
        size = body[i + 1] * 8
        assert size and i + size <= len(body)
        out.setdefault(body[i], []).append(body[i + 2 : i + size])
        i += size
    return out


def test_advertisement_carries_rdnss_and_padded_dnssl() -> None:
    (advert,) = _plan("slaac", dns=["2001:db8::53", "2001:db8::54"]).adverts
    options = _options(ra.advert_frame(advert))
    (rdnss,) = options[ra.RDNSS]
    assert struct.unpack("!I", rdnss[2:6])[0] == ra.DNS_LIFETIME
    assert [socket.inet_ntop(socket.AF_INET6, rdnss[i : i + 16]) for i in (6, 22)] == [
        "2001:db8::53",
        "2001:db8::54",
    ]
    (dnssl,) = options[ra.DNSSL]
    assert (len(dnssl) + 2) % 8 == 0
    assert dnssl[6:] == b"\x0eopenstacklocal\x00" + b"\x00" * (len(dnssl) - 22)


def test_advertisement_without_servers_has_no_dns_options() -> None:
    (advert,) = _plan("slaac").adverts
    options = _options(ra.advert_frame(replace(advert, rdnss=(), dnssl=())))
    assert ra.RDNSS not in options and ra.DNSSL not in options
    assert [len(o) for o in options[3]] == [30]  # the prefix is still there


def test_information_request_is_answered_with_servers_and_domain() -> None:
    (lease,) = _plan("dhcpv6-stateless").dhcp6
    client = dhcp6.duid(MAC)
    msg = dhcp6.Message(dhcp6.INFORMATION_REQUEST, b"\x01\x02\x03",
                        {dhcp6.OPT_CLIENTID: client}, MAC, "fe80::f816:3eff:fe00:1")  # fmt: skip
    reply = dhcp6.answer(msg, lease)
    assert reply is not None and reply[0] == dhcp6.REPLY
    options: dict[int, bytes] = {}
    i = 4
    while i < len(reply):
        code, size = struct.unpack_from("!HH", reply, i)
        options[code] = reply[i + 4 : i + 4 + size]
        i += 4 + size
    assert socket.inet_ntop(socket.AF_INET6, options[dhcp6.OPT_DNS]) == RESOLVER
    assert options[dhcp6.OPT_DOMAINS] == b"\x0eopenstacklocal\x00"
    assert dhcp6.OPT_IA_NA not in options
