"""The fast netlink reader against pyroute2's decoder, on this process's own
namespace (reading needs no privileges)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pyroute2 import IPRoute

from kumo.dataplane import rtnl


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    s = rtnl.open_socket(socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0))
    yield s
    s.close()


def test_links_match_pyroute2(sock: socket.socket) -> None:
    with IPRoute() as ipr:
        expected = {
            int(m["index"]): (
                m.get("IFLA_IFNAME"),
                m.get("IFLA_MTU"),
                m.get("IFLA_ADDRESS") or "",
                bool(m["flags"] & 1),
                int(m.get("IFLA_MASTER") or 0),
            )
            for m in ipr.get_links()
        }
    got = {m.index: (m.name, m.mtu, m.mac, m.up, m.master) for m in rtnl.links(sock)}
    assert got == expected


def test_a_link_by_name_and_a_missing_one(sock: socket.socket) -> None:
    assert rtnl.link(sock, name="lo").index == 1
    with pytest.raises(OSError) as err:
        rtnl.link(sock, name="kumo-none0")
    assert err.value.errno == 19


def test_addresses_match_pyroute2(sock: socket.socket) -> None:
    with IPRoute() as ipr:
        expected = sorted(
            (int(m["index"]), m.get("IFA_LOCAL") or m.get("IFA_ADDRESS"), m["prefixlen"])
            for m in ipr.get_addr()
        )
    assert sorted(rtnl.addresses(sock)) == expected


def test_dumps_filtered_by_device_hold_only_that_device(sock: socket.socket) -> None:
    for entry in rtnl.neighbours(sock, 1, permanent=0xFF):
        assert entry.ifindex == 1
    for entry in rtnl.fdb(sock, 1):
        assert entry.ifindex == 1
    everything = rtnl.routes(sock, 2)  # the kernel's own routes
    assert all(r.table for r in everything)
