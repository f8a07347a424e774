"""The SLAAC instance's reader of router advertisements' DNS options
(``kumo/dataplane/guest/rdnss.py``), on advertisements kumo builds."""

from __future__ import annotations

from kumo.compiler.plan import RouterAdvert
from kumo.dataplane.guest.rdnss import dns_options, resolv_conf
from kumo.dhcp.ra import advert_frame


def _advert(rdnss: tuple[str, ...], dnssl: tuple[str, ...]) -> RouterAdvert:
    return RouterAdvert("p1", "tap", "fa:16:3e:00:00:01", (("2001:db8::/64", True),),
                        False, False, 0, 1450, rdnss, dnssl)  # fmt: skip


def test_servers_and_search_list_read_back_from_an_advertisement() -> None:
    frame = advert_frame(_advert(("fe80::a9fe:a9fe", "2001:db8::53"), ("a.example", "b")))
    assert dns_options(frame[54:]) == (["fe80::a9fe:a9fe", "2001:db8::53"], ["a.example", "b"])
    assert dns_options(advert_frame(_advert((), ()))[54:]) == ([], [])
    assert dns_options(b"\x85" + bytes(15)) is None  # a solicitation


def test_resolv_conf_keeps_ipv4_lines_and_zones_link_local_servers() -> None:
    old = "nameserver 169.254.169.254\nnameserver 2001:db8::99\nsearch corp.example\n"
    new = resolv_conf(old, ["fe80::a9fe:a9fe", "2001:db8::53"], ["openstacklocal"], "eth0")
    assert new == (
        "nameserver 169.254.169.254\nsearch corp.example\n"
        "nameserver fe80::a9fe:a9fe%eth0\nnameserver 2001:db8::53\n"
    )
    assert resolv_conf("", ["fe80::1"], ["openstacklocal"], "eth0") == (
        "nameserver fe80::1%eth0\nsearch openstacklocal\n"
    )
