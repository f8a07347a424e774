"""DHCP answers and wire format, without a kernel."""

from __future__ import annotations

import pytest

from kumo.compiler import ClusterView, compile_host
from kumo.compiler.plan import DhcpLease
from kumo.dhcp import codec, server
from tests.compiler import states as s

MAC = "fa:16:3e:00:00:01"
LEASE = DhcpLease(
    port_id="p1", ifname="kt1", mac=MAC, ip="10.0.0.11", prefixlen=24, server_id="10.0.0.1",
    router="10.0.0.1", dns=("192.0.2.53",), domain="openstacklocal", hostname="host-10-0-0-11",
    routes=(("0.0.0.0/0", "10.0.0.1"), ("172.16.0.0/12", "10.0.0.254")), mtu=1450,
)  # fmt: skip


def ask(msg_type: int, **kw: str) -> codec.Request:
    return codec.parse_frame(codec.request_frame(MAC, msg_type, 42, **kw))


def reply(request: codec.Request, lease: DhcpLease = LEASE) -> tuple[int, str, dict[int, bytes]]:
    frame = server.reply_frame(request, lease, "fa:16:3e:ff:ff:fe")
    assert frame is not None
    return codec.parse_reply(frame)


def test_discover_gets_an_offer_with_every_option() -> None:
    kind, yiaddr, opts = reply(ask(codec.DISCOVER))
    assert (kind, yiaddr) == (codec.OFFER, "10.0.0.11")
    assert opts[codec.OPT_MASK] == bytes([255, 255, 255, 0])
    assert opts[codec.OPT_ROUTER] == bytes([10, 0, 0, 1])
    assert opts[codec.OPT_DNS] == bytes([192, 0, 2, 53])
    assert opts[codec.OPT_MTU] == (1450).to_bytes(2, "big")
    assert opts[codec.OPT_LEASE] == (86400).to_bytes(4, "big")
    assert opts[codec.OPT_SERVER_ID] == bytes([10, 0, 0, 1])
    assert opts[codec.OPT_HOSTNAME] == b"host-10-0-0-11"
    # RFC 3442: 0 | 10.0.0.1, then 12 | 172.16 | 10.0.0.254
    classless = bytes([0, 10, 0, 0, 1, 12, 172, 16, 10, 0, 0, 254])
    assert opts[codec.OPT_CLASSLESS] == opts[codec.OPT_MS_CLASSLESS] == classless


def test_request_for_the_ports_address_is_acked_any_other_is_naked() -> None:
    kind, yiaddr, _ = reply(ask(codec.REQUEST, requested="10.0.0.11", server_id="10.0.0.1"))
    assert (kind, yiaddr) == (codec.ACK, "10.0.0.11")
    kind, yiaddr, opts = reply(ask(codec.REQUEST, requested="10.0.0.99"))
    assert (kind, yiaddr) == (codec.NAK, "0.0.0.0") and codec.OPT_LEASE not in opts
    # renewing: ciaddr set, no requested-IP option
    kind, _, _ = reply(ask(codec.REQUEST, ciaddr="10.0.0.11", src_ip="10.0.0.11"))
    assert kind == codec.ACK


def test_silence_for_another_server_a_foreign_mac_release_and_decline() -> None:
    assert (
        server.answer(ask(codec.REQUEST, requested="10.0.0.11", server_id="10.0.0.7"), LEASE)
        is None
    )
    assert server.answer(ask(codec.RELEASE), LEASE) is None
    assert server.answer(ask(codec.DECLINE), LEASE) is None
    other = codec.parse_frame(codec.request_frame("fa:16:3e:00:00:02", codec.DISCOVER, 1))
    assert server.answer(other, LEASE) is None


def test_inform_gets_options_without_a_lease() -> None:
    kind, yiaddr, opts = reply(ask(codec.INFORM, ciaddr="10.0.0.11"))
    assert (kind, yiaddr) == (codec.ACK, "0.0.0.0")
    assert codec.OPT_LEASE not in opts and opts[codec.OPT_DNS] == bytes([192, 0, 2, 53])


def test_malformed_frames_are_refused() -> None:
    frame = codec.request_frame(MAC, codec.DISCOVER, 1)
    with pytest.raises(codec.Malformed):
        codec.parse_frame(frame[:100])
    with pytest.raises(codec.Malformed):
        codec.parse_frame(frame[:12] + b"\x86\xdd" + frame[14:])


def test_compiled_lease_follows_the_subnet_and_extra_options() -> None:
    view = ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", None, enable_dhcp=True,
                  host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.0.0.5"}])],
        [s.port(s.P1, s.NET1, MAC, "host-a", [("s1", "10.0.0.11")],
                extra_dhcp_opts=[{"opt_name": "mtu", "opt_value": "1400", "ip_version": 4},
                                 {"opt_name": "42", "opt_value": "192.0.2.123", "ip_version": 4},
                                 {"opt_name": "mtu", "opt_value": "9000", "ip_version": 6}])],
        s.AGENTS,
    )  # fmt: skip
    (lease,) = compile_host("host-a", view).dhcp
    assert lease.router is None and lease.server_id == "10.0.0.1"  # no gateway: first address
    assert lease.routes == (("169.254.169.254/32", "0.0.0.0"), ("10.9.0.0/16", "10.0.0.5"))
    _, _, opts = reply(
        ask(
            codec.DISCOVER,
        ),
        lease,
    )
    assert codec.OPT_ROUTER not in opts
    assert opts[codec.OPT_MTU] == (1400).to_bytes(2, "big")
    assert opts[42] == bytes([192, 0, 2, 123])
    # no DHCP on the subnet: no lease
    off = ClusterView.from_bodies([s.network(s.NET1, seg=101)],
                                  [s.subnet("s1", s.NET1, "10.0.0.0/24", None)],
                                  [s.port(s.P1, s.NET1, MAC, "host-a", [("s1", "10.0.0.11")])],
                                  s.AGENTS)  # fmt: skip
    assert compile_host("host-a", off).dhcp == frozenset()
