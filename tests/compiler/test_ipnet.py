"""The compiler's address shortcuts answer as ``ipaddress`` does."""

from __future__ import annotations

import ipaddress
import random

import pytest

from kumo.compiler import ipnet
from kumo.compiler.firewall_patch import member_element
from kumo.dataplane.nftables.render import address


def _slow_element(raw: str) -> tuple[int, str, bool] | None:
    try:
        net = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        return None
    single = net.prefixlen == net.max_prefixlen
    return net.version, str(net.network_address) if single else str(net), single


def _slow_address(cidr: str) -> object:
    net = ipaddress.ip_network(cidr, strict=False)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _plain(value: str) -> bool:
    """What ``plain_ipv4`` means, the long way."""
    try:
        return "/" not in value and str(ipaddress.IPv4Address(value)) == value
    except ValueError:
        return False


EDGES = [
    "10.0.0.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "10.0.0", "10.0.0.1.2",
    "010.0.0.1", "10.00.0.1", "10.0.0.01", "1.2.3.4/32", "1.2.3.0/24", "1.2.3.4/24",
    "::1", "fe80::1/64", "", ".", "1..2.3", "+1.2.3.4", " 1.2.3.4", "1.2.3.4 ",
    "١.2.3.4", "1.2.3.٤", "1.2.3.0x4", "1.2.3.-4", "0.0.0.00", "1234.1.1.1",
]  # fmt: skip


def _strings(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "0123456789./:"
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            octets = [rng.choice([str(rng.randrange(256)), f"0{rng.randrange(10)}",
                                  str(rng.randrange(250, 300))]) for _ in range(4)]  # fmt: skip
            out.append(".".join(octets))
        else:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))))
    return out


@pytest.mark.parametrize("value", EDGES)
def test_edges(value: str) -> None:
    assert ipnet.plain_ipv4(value) is _plain(value)
    member_element.cache_clear()
    assert member_element(value) == _slow_element(value)


def test_random_strings_answer_as_ipaddress() -> None:
    member_element.cache_clear()
    for value in _strings(25, 5000):
        assert ipnet.plain_ipv4(value) is _plain(value), value
        assert member_element(value) == _slow_element(value), value
        expected: object
        try:
            expected = _slow_address(value)
        except ValueError:
            with pytest.raises(ValueError):
                address(value)
            continue
        assert address(value) == expected, value
