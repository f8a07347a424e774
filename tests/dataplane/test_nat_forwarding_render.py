"""Port forwarding in a router namespace's nftables: the translation by
protocol and port, the replies' mark, and the answering host's relay."""

from __future__ import annotations

import json

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
