"""Port forwarding in a router namespace's nftables: the translation by
protocol and port, the replies' mark, and the answering host's relay."""

from __future__ import annotations

import json
from dataclasses import replace

from kumo.compiler.forwarding import HAIRPIN_MARK
from kumo.compiler.plan import NatTable, PortDnat, PortRelay
from kumo.dataplane.nftables import nat

SERVED = NatTable("ns", port_dnat=(PortDnat("udp", "203.0.113.9", 53, "10.0.0.5", 5353),),
                  reply_mark=0x6B50)  # fmt: skip
RELAYING = NatTable("ns", relay=(PortRelay("tcp", "203.0.113.9", 81, "fa:17:01:02:03:04"),),
                    relay_ifname="rg1", relay_mac="fa:17:aa:bb:cc:dd")  # fmt: skip


def _rules(table: NatTable, chain: str) -> list[str]:
    return [
        json.dumps(c["add"]["rule"]["expr"])
        for c in nat.nat_ruleset(table)
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]


def test_a_forwarding_is_translated_by_protocol_and_port() -> None:
    (pre,) = _rules(SERVED, "pre")
    assert '"protocol": "udp", "field": "dport"}}, "right": 53' in pre
    assert '{"dnat": {"addr": "10.0.0.5", "port": 5353}}' in pre
    (reply,) = _rules(SERVED, "reply")
    assert '"right": "reply"' in reply and '"right": "dnat"' in reply and "27472" in reply
    assert _rules(NatTable("ns"), "reply") == []
    # what is served is part of what was written
    assert nat.fingerprint(SERVED) != nat.fingerprint(NatTable("ns"))


def test_the_answering_host_relays_by_address_protocol_and_port() -> None:
    script = nat.relay_script(RELAYING)
    assert "203.0.113.9 . tcp . 81 : fa:17:01:02:03:04" in script
    assert 'hook ingress device "rg1"' in script and 'fwd to "rg1"' in script
    assert "ether saddr and ff:ff:00:00:00:00 != fa:17:00:00:00:00" in script
    assert "ether saddr set fa:17:aa:bb:cc:dd" in script
    # nothing to relay: the table is removed
    assert nat.relay_script(NatTable("ns")).splitlines() == [
        f"table netdev {nat.RELAY_TABLE} {{}}",
        f"delete table netdev {nat.RELAY_TABLE}",
    ]
    assert nat.fingerprint(RELAYING) != nat.fingerprint(NatTable("ns"))


def test_port_ranges_are_translated_port_by_port() -> None:
    table = NatTable("ns", port_dnat=(
        PortDnat("tcp", "203.0.113.9", 9000, "10.0.0.5", 8000, 9002, 8002),
        PortDnat("udp", "203.0.113.9", 9100, "10.0.0.5", 7000, 9109),
        PortDnat("tcp", "203.0.113.9", 6000, "10.0.0.5", 6000, 6005, 6005),
    ))  # fmt: skip
    ranged, many_to_one, same = _rules(table, "pre")
    assert '"right": {"range": [9000, 9002]}' in ranged
    assert '"data": {"set": [[9000, 8000], [9001, 8001], [9002, 8002]]}' in ranged
    assert '"right": {"range": [9100, 9109]}' in many_to_one
    assert '{"dnat": {"addr": "10.0.0.5", "port": 7000}}' in many_to_one
    # the same numbers inside: the port is kept
    assert '{"dnat": {"addr": "10.0.0.5"}}' in same


def test_a_relayed_range_is_an_interval() -> None:
    table = NatTable("ns", relay=(PortRelay("tcp", "203.0.113.9", 81, "fa:17:01:02:03:04", 90),),
                     relay_ifname="rg1", relay_mac="fa:17:aa:bb:cc:dd")  # fmt: skip
    script = nat.relay_script(table)
    assert "flags interval;" in script
    assert "203.0.113.9 . tcp . 81-90 : fa:17:01:02:03:04" in script
    assert "flags interval" not in nat.relay_script(RELAYING)


def test_hairpin_connections_are_marked_and_leave_from_the_router() -> None:
    table = NatTable("ns", port_dnat=SERVED.port_dnat, reply_mark=0x6B50, hairpin_ifname="rg1")
    hairpin, upstream = _rules(table, "pre")
    assert '"op": "!=", "left": {"meta": {"key": "iifname"}}, "right": "rg1"' in hairpin
    assert f'"value": {HAIRPIN_MARK}' in hairpin and '"dnat"' in hairpin
    assert "iifname" not in upstream and '"dnat"' in upstream
    (post,) = _rules(table, "post")
    assert f'"right": {HAIRPIN_MARK}' in post and '"masquerade"' in post
    # their replies go back inside, not out through the external leg
    (reply,) = _rules(table, "reply")
    assert '{"&": [{"ct": {"key": "status"}}, "snat"]}' in reply
    assert nat.fingerprint(table) != nat.fingerprint(SERVED)


def test_instances_are_steered_to_forwardings_served_elsewhere() -> None:
    table = NatTable("ns", steer=(PortRelay("tcp", "203.0.113.9", 81, "fa:17:01:02:03:04"),
                                  PortRelay("udp", "203.0.113.9", 90, "fa:17:05:06:07:08", 99)),
                     steer_ifnames=("ri1", "ri2"), relay_ifname="rg1",
                     relay_mac="fa:17:aa:bb:cc:dd")  # fmt: skip
    script = nat.relay_script(table)
    assert "map elsewhere" in script and "flags interval" in script
    assert "203.0.113.9 . tcp . 81 : fa:17:01:02:03:04" in script
    assert "203.0.113.9 . udp . 90-99 : fa:17:05:06:07:08" in script
    assert 'hook ingress devices = { "ri1", "ri2" }' in script
    assert "ether saddr set fa:17:aa:bb:cc:dd" in script and 'fwd to "rg1"' in script
    # no relay of the upstream's frames on the external leg
    assert "map ports" not in script and 'device "rg1"' not in script
    assert nat.fingerprint(table) != nat.fingerprint(NatTable("ns"))
    # relaying and steering together: one table, both chains
    both = nat.relay_script(replace(table, relay=RELAYING.relay))
    assert "map ports" in both and "map elsewhere" in both


def test_steered_connections_from_the_routers_networks_are_hairpin() -> None:
    table = NatTable("ns", port_dnat=SERVED.port_dnat, reply_mark=0x6B50, hairpin_ifname="rg1",
                     hairpin_sources=("10.0.0.0/24", "10.0.9.0/24"))  # fmt: skip
    inside, steered, upstream = _rules(table, "pre")
    assert '"field": "saddr"}}, "right": {"set": [{"prefix": {"addr": "10.0.0.0", "len": 24}}' in (
        steered
    )
    assert f'"value": {HAIRPIN_MARK}' in steered and '"dnat"' in steered
    assert "saddr" not in inside and "saddr" not in upstream and "mark" not in upstream
    assert nat.fingerprint(table) != nat.fingerprint(replace(table, hairpin_sources=()))
