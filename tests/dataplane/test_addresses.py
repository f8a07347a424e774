"""Telling the kernel's IPv6 link-local addresses apart without parsing."""

from __future__ import annotations

import ipaddress

import pytest

from kumo.dataplane.reconcilers.addresses import link_local6

CASES = [
    "fe80::1/64", "FE80::1/64", "febf:1::/64", "fe9a::/10", "fe80:0:0:0:1::1/64",
    "fec0::1/64", "fe8::1/64", "fe::1/64", "10.0.0.1/24", "2001:db8::1/64", "::1/128",
]  # fmt: skip


@pytest.mark.parametrize("address", CASES)
def test_link_local6_agrees_with_ipaddress(address: str) -> None:
    ip = ipaddress.ip_interface(address).ip
    assert link_local6(address) == (ip.version == 6 and ip in ipaddress.ip_network("fe80::/10"))
