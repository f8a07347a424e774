"""Root tests of security groups and anti-spoofing on the real kernel: two
hosts (namespaces) on an underlay, plans compiled from Neutron bodies and
applied through the real nftables and conntrack tools; real traffic only
between the instances these tests create.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.compiler.plan import HOST_NS
from kumo.dataplane.driver import Dataplane
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

WEB = "5eb00000-0000-4000-8000-00000000000a"
OTHER = "07e00000-0000-4000-8000-00000000000b"
P6 = "a6000000-0000-4000-8000-000000000006"
NET3 = "3c000000-0000-4000-8000-000000000003"
P7 = "a7000000-0000-4000-8000-000000000007"
P8 = "a8000000-0000-4000-8000-000000000008"


def rule(rid: str, direction: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": rid,
        "direction": direction,
        "ethertype": "IPv4",
        "protocol": None,
        "port_range_min": None,
        "port_range_max": None,
        "remote_ip_prefix": None,
        "remote_group_id": None,
    }
    body.update(extra)
    return body


def group(gid: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"id": gid, "name": gid[:4], "stateful": True, "security_group_rules": list(rules)}


WEB_RULES = (
    rule("r1", "egress"),
    rule("r2", "ingress", protocol="icmp", remote_group_id=WEB),
    rule("r3", "ingress", protocol="tcp", port_range_min=8080, port_range_max=8080,
         remote_ip_prefix="0.0.0.0/0"),
)  # fmt: skip
OTHER_RULES = (rule("r4", "egress"),)


class Cluster:
    """Mutable bodies for one scenario; ``view()`` builds the ClusterView."""

    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        self.groups = {WEB: group(WEB, *WEB_RULES), OTHER: group(OTHER, *OTHER_RULES)}
        secured = {"port_security_enabled": True}
        self.ports = {
            s.P1: s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", self.a, [("s1", "10.0.0.11")],
                         security_groups=[WEB], **secured),
            s.P2: s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", self.b, [("s1", "10.0.0.12")],
                         security_groups=[WEB], **secured),
            s.P3: s.port(s.P3, s.NET1, "fa:16:3e:00:00:03", self.a, [("s1", "10.0.0.13")],
                         security_groups=[OTHER], **secured),
            s.P5: s.port(s.P5, s.NET1, "fa:16:3e:00:00:05", self.b, [("s1", "10.0.0.15")],
                         port_security_enabled=False),
            # same addresses as P1/P2, in another network (overlapping CIDR)
            s.P4: s.port(s.P4, s.NET2, "fa:16:3e:00:00:04", self.a, [("s2", "10.0.0.11")],
                         security_groups=[WEB], **secured),
            P6: s.port(P6, s.NET2, "fa:16:3e:00:00:06", self.b, [("s2", "10.0.0.12")],
                       security_groups=[WEB], **secured),
        }  # fmt: skip
        self.planes: dict[str, Dataplane] = {}

    def view(self) -> ClusterView:
        return ClusterView.from_bodies(
            [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102), s.network(NET3, seg=103)],
            [
                s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1"),
                s.subnet("s2", s.NET2, "10.0.0.0/24", "10.0.0.1"),
                s.subnet("s3", NET3, "10.3.0.0/24", "10.3.0.1"),
            ],
            self.ports.values(),
            self.lab.agent_bodies(),
            self.groups.values(),
        )

    def apply(self) -> None:
        view = self.view()
        for host, ns in self.lab.hosts.items():
            dp = self.planes.get(host) or Dataplane.for_host(host, ns)
            self.planes[host] = dp
            result = dp.apply(compile_host(host, view))
            assert result.ok, result.errors

    def host_of(self, port_id: str) -> str:
        return str(self.ports[port_id]["binding:host_id"])

    def run(self, port_id: str, *cmd: str, timeout: float = 10) -> bool:
        ns = n.instance_netns(self.host_of(port_id), port_id)
        return sh("ip", "netns", "exec", ns, *cmd, check=False, timeout=timeout).returncode == 0

    def ping(self, port_id: str, ip: str, *extra: str) -> bool:
        return self.run(port_id, "busybox", "ping", "-c", "1", "-W", "1", *extra, ip)

    def close(self) -> None:
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    lab = RootLab()
    c: Cluster | None = None
    try:
        c = Cluster(lab.start())
        c.apply()
        yield c
    finally:
        if c is not None:
            c.close()
        lab.close()


ECHO_SERVER = textwrap.dedent(
    """
    import socket, sys
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[1]))); srv.listen(8)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        while data := conn.recv(100):
            conn.sendall(data)
    """
)
ECHO_CLIENT = textwrap.dedent(
    """
    import socket, sys
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    print("connected", flush=True)
    for line in sys.stdin:
        try:
            c.sendall(line.encode()); print(c.recv(100).decode().strip() or "closed", flush=True)
        except OSError as exc:
            print("lost", type(exc).__name__, flush=True)
    """
)


class Conversation:
    """A long-lived TCP connection between two instances (an echo)."""

    def __init__(self, c: Cluster, server: str, client: str, ip: str, port: int) -> None:
        def popen(port_id: str, script: str, *args: str) -> subprocess.Popen[str]:
            ns = n.instance_netns(c.host_of(port_id), port_id)
            return subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, "-c", script, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )

        self.server = popen(server, ECHO_SERVER, str(port))
        assert self.server.stdout is not None
        assert self.server.stdout.readline().strip() == "ready"
        self.client = popen(client, ECHO_CLIENT, ip, str(port))
        assert self.client.stdout is not None
        self.connected = self.client.stdout.readline().strip() == "connected"

    def say(self, word: str) -> str:
        assert self.client.stdin is not None and self.client.stdout is not None
        self.client.stdin.write(word + "\n")
        self.client.stdin.flush()
        return self.client.stdout.readline().strip()

    def close(self) -> None:
        for proc in (self.client, self.server):
            proc.kill()
            proc.wait(timeout=5)


def test_groups_rules_and_remote_group_membership(cluster: Cluster) -> None:
    c = cluster
    # remote-group rule: P2 (in WEB, other host) may ping P1; P3 (not in WEB) may not
    assert c.ping(s.P2, "10.0.0.11")
    assert not c.ping(s.P3, "10.0.0.11")
    # P3's group has no ingress rules: nothing reaches it, though it may send
    assert not c.ping(s.P1, "10.0.0.13")
    # a port without port security is reachable and unfiltered
    assert c.ping(s.P1, "10.0.0.15")
    assert c.ping(s.P5, "10.0.0.13") is False  # P3 still refuses
    # overlapping CIDR in another network, same hosts: its own conntrack zone
    assert c.ping(P6, "10.0.0.11")
    zones = sh("ip", "netns", "exec", c.lab.hosts[c.a], "conntrack", "-L", "-p", "icmp").stdout
    assert "zone=101" in zones and "zone=102" in zones

    # P3 joins WEB: host b only updates set elements, and P3 may now ping P1
    b_plane = c.planes[c.b].firewall
    rewrites = b_plane.rewrites
    c.ports[s.P3] = {**c.ports[s.P3], "security_groups": [WEB]}
    c.apply()
    assert c.ping(s.P3, "10.0.0.12")  # P2 on host b sees P3 as a WEB member
    assert b_plane.rewrites == rewrites and b_plane.element_updates >= 1
    # ... and leaves it again
    c.ports[s.P3] = {**c.ports[s.P3], "security_groups": [OTHER]}
    c.apply()
    assert not c.ping(s.P3, "10.0.0.12")

    # no groups at all: nothing in, nothing out (beyond DHCP and ND)
    c.ports[s.P3] = {**c.ports[s.P3], "security_groups": []}
    c.apply()
    assert not c.ping(s.P3, "10.0.0.15")
    # port security off: everything passes
    c.ports[s.P3] = {**c.ports[s.P3], "port_security_enabled": False}
    c.apply()
    assert c.ping(s.P3, "10.0.0.11") is False  # P1 only lets WEB ping it
    assert c.ping(s.P3, "10.0.0.15")
    assert c.ping(s.P5, "10.0.0.13")


def test_spoofed_addresses_are_dropped_and_address_pairs_allowed(cluster: Cluster) -> None:
    c = cluster
    assert c.ping(s.P3, "10.0.0.15")
    # another source address on the instance: dropped at its port
    assert c.run(s.P3, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    assert not c.ping(s.P3, "10.0.0.15", "-I", "10.0.0.99")
    # ARP claiming the foreign address does not get out either
    assert not c.run(s.P3, "busybox", "arping", "-c", "1", "-w", "2", "-I", "eth0",
                     "-s", "10.0.0.99", "10.0.0.15")  # fmt: skip
    # an allowed address pair (a VIP) lets that address through
    c.ports[s.P3] = {**c.ports[s.P3], "allowed_address_pairs": [{"ip_address": "10.0.0.99"}]}
    c.apply()
    assert c.ping(s.P3, "10.0.0.15", "-I", "10.0.0.99")
    # a foreign MAC is dropped
    assert c.run(s.P3, "ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:99")
    assert c.run(s.P5, "ip", "neigh", "flush", "all")
    assert not c.ping(s.P3, "10.0.0.15")
    # an instance cannot act as a DHCP server: its offers never reach a neighbour
    assert c.run(s.P3, "ip", "link", "set", "eth0", "address", "fa:16:3e:00:00:03")
    assert rogue_offers_seen(c, s.P3, s.P1) == 0
    # ... while from a port without port security they do (the check can fail)
    assert rogue_offers_seen(c, s.P5, s.P2) > 0


def rogue_offers_seen(c: Cluster, server: str, victim: str) -> int:
    """DHCP offers (UDP from port 67) ``victim`` receives while ``server``
    broadcasts five of them."""
    victim_ns = n.instance_netns(c.host_of(victim), victim)
    capture = subprocess.Popen(
        ["ip", "netns", "exec", victim_ns, "tcpdump", "-i", "eth0", "-n", "-l", "-p",
         "udp src port 67"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert capture.stderr is not None
    while "listening" not in capture.stderr.readline():
        pass
    mac = str(c.ports[server]["mac_address"])
    ip = str(c.ports[server]["fixed_ips"][0]["ip_address"])
    offer = (
        "from kumo.dhcp import codec; import socket\n"
        "req = codec.parse_frame(codec.request_frame('fa:16:3e:12:34:56', codec.DISCOVER, 1))\n"
        f"payload = codec.bootp_reply(req, '10.0.0.200', {ip!r}, b'\\x35\\x01\\x02\\xff')\n"
        f"frame = codec.frame({mac!r}, 'ff:ff:ff:ff:ff:ff', {ip!r}, '255.255.255.255', payload)\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('eth0', 0))\n"
        "[s.send(frame) for _ in range(5)]\n"
    )
    server_ns = n.instance_netns(c.host_of(server), server)
    sh("ip", "netns", "exec", server_ns, sys.executable, "-c", offer)
    time.sleep(0.5)
    capture.terminate()
    out, _ = capture.communicate(timeout=10)
    return len([line for line in out.splitlines() if " IP " in line])


def test_connections_survive_unrelated_changes_and_end_with_their_rule(cluster: Cluster) -> None:
    c = cluster
    talk = Conversation(c, server=s.P1, client=s.P3, ip="10.0.0.11", port=8080)
    try:
        assert talk.connected
        assert talk.say("one") == "one"
        # unrelated change: a new rule, a rewrite of the tables included
        web = c.groups[WEB]
        extra = rule("r5", "ingress", protocol="tcp", port_range_min=9000, port_range_max=9000)
        c.groups[WEB] = {**web, "security_group_rules": [*web["security_group_rules"], extra]}
        c.apply()
        c.planes[c.a].resync()
        c.apply()
        assert talk.say("two") == "two"
        # removing the rule that allowed it ends it
        kept = [r for r in c.groups[WEB]["security_group_rules"] if r["id"] != "r3"]
        c.groups[WEB] = {**c.groups[WEB], "security_group_rules": kept}
        c.apply()
        time.sleep(0.2)
        assert talk.say("three") != "three"
    finally:
        talk.close()


def _tracked(ns: str, src: str) -> int:
    """Conntrack entries in namespace ``ns`` from ``src`` (any zone)."""
    out = sh("ip", "netns", "exec", ns, "conntrack", "-L", "-s", src, check=False).stdout
    return sum(1 for line in out.splitlines() if src in line)


def _bridge_switch(ns: str, bridge: str) -> str:
    out = sh("ip", "-n", ns, "-d", "link", "show", bridge).stdout
    return "on" if "nf_call_iptables 1" in out else "off"


def test_networks_without_filtered_ports_bypass_conntrack(cluster: Cluster) -> None:
    """A host filtering one network hands only that network's bridge to
    conntrack: a network of unfiltered ports on the same host is switched
    by the bridge alone, and its traffic leaves no connection state."""
    c = cluster
    unsecured = {"port_security_enabled": False}
    c.ports[P7] = s.port(P7, NET3, "fa:16:3e:00:00:07", c.a, [("s3", "10.3.0.17")], **unsecured)
    c.ports[P8] = s.port(P8, NET3, "fa:16:3e:00:00:08", c.b, [("s3", "10.3.0.18")], **unsecured)
    c.apply()
    host_a = c.lab.hosts[c.a]
    assert _bridge_switch(host_a, n.bridge_name(s.NET1)) == "on"
    assert _bridge_switch(host_a, n.bridge_name(NET3)) == "off"
    read = {x.name: x.netfilter for x in c.planes[c.a].port.raw.list_links(host_a)}
    assert (read[n.bridge_name(s.NET1)], read[n.bridge_name(NET3)]) == (True, False)
    sysctl = ("sysctl", "-n", "net.bridge.bridge-nf-call-iptables")
    assert sh("ip", "netns", "exec", host_a, *sysctl).stdout.strip() == "0"
    assert c.ping(P7, "10.3.0.18")
    assert _tracked(host_a, "10.3.0.17") == 0
    # the filtered network's traffic on the same host is tracked
    assert c.ping(s.P1, "10.0.0.12")
    assert _tracked(host_a, "10.0.0.11") > 0
    # the last filtered port leaving the network turns its bridge's switch off
    for pid in (s.P1, s.P3, s.P4):
        c.ports[pid]["port_security_enabled"] = False
        c.ports[pid]["security_groups"] = []
    c.apply()
    assert _bridge_switch(host_a, n.bridge_name(s.NET1)) == "off"


AG = "a9000000-0000-4000-8000-00000000000c"


def test_address_group_rule_admits_its_addresses_only(cluster: Cluster) -> None:
    c = cluster
    # P3 (group OTHER) admits nothing; then pings from its address group's CIDRs
    assert not c.ping(s.P5, "10.0.0.13")
    listed = rule("r5", "ingress", protocol="icmp", remote_address_group_id=AG,
                  kumo_remote_addresses=["10.0.0.15/32", "192.0.2.0/24"])  # fmt: skip
    c.groups[OTHER] = group(OTHER, *OTHER_RULES, listed)
    c.apply()
    assert c.ping(s.P5, "10.0.0.13")  # 10.0.0.15 is listed (from host b)
    assert not c.ping(s.P1, "10.0.0.13")  # 10.0.0.11 is not (same host)
    # the address group changes: set elements only, no rewrite
    a_plane = c.planes[c.a].firewall
    rewrites = a_plane.rewrites
    c.groups[OTHER] = group(OTHER, *OTHER_RULES, {**listed, "kumo_remote_addresses": [
        "10.0.0.11/32"]})  # fmt: skip
    c.apply()
    assert a_plane.rewrites == rewrites and a_plane.element_updates >= 1
    assert c.ping(s.P1, "10.0.0.13")
    assert not c.ping(s.P5, "10.0.0.13")


STATELESS = "5e100000-0000-4000-8000-00000000000d"


def test_stateless_group_admits_replies_only_by_rule(cluster: Cluster) -> None:
    c = cluster
    out_only = (rule("r6", "egress"),)
    with_replies = (*out_only, rule("r7", "ingress", protocol="icmp"))
    c.groups[STATELESS] = {**group(STATELESS, *out_only), "stateful": False}
    c.ports[s.P3] = {**c.ports[s.P3], "security_groups": [STATELESS]}
    c.apply()
    # P3 may send, but the echo reply is no tracked connection's: no rule, no reply
    assert not c.ping(s.P3, "10.0.0.15")
    # an ingress rule admits the replies; P3's packets are never tracked on its host
    c.groups[STATELESS] = {**group(STATELESS, *with_replies), "stateful": False}
    c.apply()
    assert c.ping(s.P3, "10.0.0.15")
    assert _tracked(c.lab.hosts[c.a], "10.0.0.13") == 0
    # the same egress-only rules, stateful: the reply belongs to the connection
    c.groups[STATELESS] = group(STATELESS, *out_only)
    c.apply()
    assert c.ping(s.P3, "10.0.0.15")
    assert _tracked(c.lab.hosts[c.a], "10.0.0.13") >= 1


def _counts(c: Cluster, port_id: str) -> tuple[int, int]:
    """(packets sent, packets received) of a port, as its host reads them."""
    dp = c.planes[c.host_of(port_id)]
    index = dp.plan.firewall.by_port[port_id].index
    counts = {str(x["name"]): int(x["packets"]) for x in dp.read_counters()[HOST_NS]}
    return counts[f"tx{index}"], counts[f"rx{index}"]


def test_port_counters_count_what_the_port_sends_and_receives(cluster: Cluster) -> None:
    c = cluster
    sent, received = _counts(c, s.P1)
    assert c.ping(s.P2, "10.0.0.11", "-c", "3", "-i", "0.2")
    sent_after, received_after = _counts(c, s.P1)
    # three requests in and three replies out (ARP may add to both)
    assert received_after - received >= 3 and sent_after - sent >= 3
    # and again: each ping adds to both of the port's counters
    sent, received = _counts(c, s.P1)
    assert c.ping(s.P2, "10.0.0.11", "-c", "6", "-i", "0.2")
    sent_after, received_after = _counts(c, s.P1)
    assert received_after - received >= 6 and sent_after - sent >= 6


def test_a_remote_group_member_with_a_prefix_is_admitted(cluster: Cluster) -> None:
    c = cluster
    # P3 joins WEB with an address pair that is a prefix: the group's set
    # holds single addresses, the prefix goes to the group's prefix set
    assert c.run(s.P3, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    assert not c.ping(s.P3, "10.0.0.11", "-I", "10.0.0.99")
    c.ports[s.P3] = {**c.ports[s.P3], "security_groups": [WEB],
                     "allowed_address_pairs": [{"ip_address": "10.0.0.96/28"}]}  # fmt: skip
    c.apply()
    listed = sh("ip", "netns", "exec", c.lab.hosts[c.a], "nft", "list", "set", "inet", "kumo",
                f"g4_{WEB}_n").stdout  # fmt: skip
    assert "10.0.0.96/28" in listed
    # P1 (same host: the tunnel's ARP proxy knows no address of a prefix) admits WEB;
    # two tries of a second: P1 first has to resolve the new address (an ARP
    # exchange that a loaded machine can stretch past the one-second wait)
    assert c.ping(s.P3, "10.0.0.11", "-I", "10.0.0.99", "-c", "2")
    assert c.ping(s.P3, "10.0.0.11")  # and P3's fixed address, a single one
