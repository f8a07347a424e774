"""Root tests of conntrack sync on the real kernel: a client, two router
namespaces with the same addresses, MACs and SNAT rule (``tcp_loose=0``),
and a server, cabled through two bridges in a wiring namespace; router A's
legs are up, B's down until the failover moves the cabling.

Checks: a TCP connection synced from A (Watcher + apply) carries data both
ways through B after the move, one left out of the sync does not; entries
are created NATed; existing entries are reported by the first dump and a
closed connection as a delete; 1,000 entries created, updated and deleted
in one call each, and a flush; IPv6, UDP with DNAT and ICMP entries through the wire
format. Traffic only flows between namespaces these tests create.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from kumo.dataplane import netns
from kumo.ha import ctsync
from kumo.ha.ctsync import Entry, FlowTuple
from tests.dataplane.rootlab import sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

SNAT_IP = "203.0.113.10"
SERVER_IP = "203.0.113.20"
PORT = 5000
NFT = f"""table ip kt {{
  chain post {{
    type nat hook postrouting priority srcnat;
    oifname "qg" snat to {SNAT_IP}
  }}
}}
"""


class Gateways:
    """client (10.0.0.2) ─ brI ─ router A or B ─ brE ─ server (203.0.113.20)"""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.client, self.server = f"kt{tag}c", f"kt{tag}s"
        self.a, self.b, self.wires = f"kt{tag}a", f"kt{tag}b", f"kt{tag}w"
        self.created: list[str] = []

    def up(self) -> Gateways:
        for name in (self.wires, self.client, self.server, self.a, self.b):
            sh("ip", "netns", "add", name)
            self.created.append(name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        w = self.wires
        sh("ip", "netns", "exec", w, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0",
           check=False)  # fmt: skip
        for br in ("brI", "brE"):
            sh("ip", "-n", w, "link", "add", br, "type", "bridge")
            sh("ip", "-n", w, "link", "set", br, "up")
        for leg, ns, br, addr in (
            ("wc", self.client, "brI", "10.0.0.2/24"),
            ("ws", self.server, "brE", f"{SERVER_IP}/24"),
        ):
            sh("ip", "-n", w, "link", "add", leg, "type", "veth", "peer", "name", "eth0",
               "netns", ns)  # fmt: skip
            sh("ip", "-n", w, "link", "set", leg, "master", br, "up")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", self.client, "route", "add", "default", "via", "10.0.0.1")
        for r, ns in (("a", self.a), ("b", self.b)):
            for leg, inner, br, mac, addr in (
                (f"{r}i", "qr", "brI", "02:00:5e:00:00:01", "10.0.0.1/24"),
                (f"{r}e", "qg", "brE", "02:00:5e:00:00:02", f"{SNAT_IP}/24"),
            ):
                sh("ip", "-n", w, "link", "add", leg, "type", "veth", "peer", "name", inner,
                   "netns", ns)  # fmt: skip
                sh("ip", "-n", w, "link", "set", leg, "master", br)
                sh("ip", "-n", ns, "link", "set", inner, "address", mac)
                sh("ip", "-n", ns, "addr", "add", addr, "dev", inner)
                sh("ip", "-n", ns, "link", "set", inner, "up")
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=NFT, text=True,
                           check=True, timeout=20)  # fmt: skip
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0")
            ctsync.enable_events(ns)
        self._legs("a", "up")
        return self

    def _legs(self, router: str, state: str) -> None:
        for leg in (f"{router}i", f"{router}e"):
            sh("ip", "-n", self.wires, "link", "set", leg, state)

    def fail_over(self) -> None:
        """A's cables out, B's in."""
        self._legs("a", "down")
        self._legs("b", "up")

    def close(self) -> None:
        for name in reversed(self.created):
            sh("ip", "netns", "del", name, check=False)


@pytest.fixture
def gw() -> Iterator[Gateways]:
    gateways = Gateways()
    try:
        yield gateways.up()
    finally:
        gateways.close()


class Server:
    def __init__(self, ns: str) -> None:
        self.sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((SERVER_IP, PORT))
        self.sock.listen(256)
        self.sock.settimeout(5)

    def accept(self) -> socket.socket:
        conn, _ = self.sock.accept()
        conn.settimeout(3)
        return conn


def connect(ns: str, sport: int = 0) -> socket.socket:
    sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", sport))
    sock.settimeout(3)
    sock.connect((SERVER_IP, PORT))
    return sock


def exchange(client: socket.socket, server: socket.socket, data: bytes) -> None:
    """``data`` from server to client, then back, whole (read while sent)."""
    for sender, receiver in ((server, client), (client, server)):
        got = bytearray()

        def read(receiver: socket.socket = receiver, got: bytearray = got) -> None:
            while len(got) < len(data):
                chunk = receiver.recv(1 << 20)
                if not chunk:
                    return
                got.extend(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sender.sendall(data)
        reader.join(timeout=10)
        assert bytes(got) == data


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def tcp_entry(entries: list[Entry], sport: int) -> Entry | None:
    found = [e for e in entries if e.proto == ctsync.TCP and e.orig.sport == sport]
    return found[0] if found else None


def test_failover_keeps_synced_connection_only(gw: Gateways) -> None:
    server = Server(gw.server)
    synced_port, unsynced_port = 40001, 40002

    def want(e: Entry) -> bool:
        return ctsync.worth_syncing(e) and e.orig.sport != unsynced_port

    results: list[ctsync.Applied] = []
    watcher = ctsync.Watcher(
        gw.a, lambda ups, dels: results.append(ctsync.apply(gw.b, ups, dels)), want=want
    )
    watcher.start()
    conns = []
    try:
        assert watcher.synced.wait(5)
        for sport in (synced_port, unsynced_port):
            client = connect(gw.client, sport)
            conns.append((client, server.accept()))
            exchange(*conns[-1], b"before" * 1000)
        assert wait_for(lambda: tcp_entry(ctsync.dump(gw.b), synced_port) is not None)
    finally:
        watcher.stop()
    assert all(r.ok for r in results), results
    in_b = ctsync.dump(gw.b)
    copied = tcp_entry(in_b, synced_port)
    assert copied is not None and tcp_entry(in_b, unsynced_port) is None
    assert copied.status & ctsync.SRC_NAT and copied.status & ctsync.ASSURED
    assert copied.tcp_state == ctsync.TCP_ESTABLISHED
    assert copied.reply == FlowTuple(SERVER_IP, SNAT_IP, PORT, synced_port)
    original = tcp_entry(ctsync.dump(gw.a), synced_port)
    assert original is not None
    assert dataclasses.replace(copied, timeout=0) == dataclasses.replace(original, timeout=0)

    gw.fail_over()
    client, conn = conns[0]
    exchange(client, conn, os.urandom(4 << 20))  # the server speaks first
    exchange(client, conn, b"and again")

    client, conn = conns[1]
    client.sendall(b"lost")
    conn.settimeout(2)
    with pytest.raises((TimeoutError, ConnectionError)):
        assert conn.recv(100) == b""
    for pair in conns:
        for sock in pair:
            sock.close()
    server.sock.close()


def test_watcher_reports_existing_entries_then_deletes(gw: Gateways) -> None:
    server = Server(gw.server)
    client = connect(gw.client)
    conn = server.accept()
    exchange(client, conn, b"hello")
    sport = client.getsockname()[1]
    batches: list[tuple[list[Entry], list[Entry]]] = []
    lock = threading.Lock()

    def on_change(ups: list[Entry], dels: list[Entry]) -> None:
        assert ctsync.apply(gw.b, ups, dels).ok
        with lock:
            batches.append((ups, dels))

    watcher = ctsync.Watcher(gw.a, on_change)
    watcher.start()
    try:
        assert watcher.synced.wait(5)
        assert tcp_entry(batches[0][0], sport) is not None  # the first dump
        assert tcp_entry(ctsync.dump(gw.b), sport) is not None
        client.close()
        conn.close()  # both sides close: TIME_WAIT, a delete for the standby

        def deleted() -> bool:
            with lock:
                return any(tcp_entry(dels, sport) for _, dels in batches)

        assert wait_for(deleted)
        assert tcp_entry(ctsync.dump(gw.b), sport) is None
    finally:
        watcher.stop()
        server.sock.close()


def synthetic(count: int) -> list[Entry]:
    """``count`` established, SNATed TCP connections."""
    entries = []
    for i in range(count):
        src, sport = f"10.0.{i // 250}.{i % 250 + 2}", 20000 + i
        entries.append(
            Entry(
                4, ctsync.TCP,
                FlowTuple(src, SERVER_IP, sport, 443),
                FlowTuple(SERVER_IP, SNAT_IP, 443, 30000 + i),
                ctsync.SEEN_REPLY | ctsync.ASSURED | ctsync.SRC_NAT,
                ctsync.TCP_ESTABLISHED, (7, 7), (3, 3), 3600, mark=i % 3,
            )
        )  # fmt: skip
    return entries


def comparable(entries: list[Entry]) -> set[Entry]:
    return {dataclasses.replace(e, timeout=0) for e in entries}


def test_apply_thousand_entries(gw: Gateways) -> None:
    entries = synthetic(1000)
    started = time.perf_counter()
    created = ctsync.apply(gw.b, entries, [])
    create_time = time.perf_counter() - started
    assert created.ok and created.created == 1000, created.failed[:3]
    assert comparable(ctsync.dump(gw.b)) == comparable(entries)

    later = [dataclasses.replace(e, tcp_state=ctsync.TCP_FIN_WAIT, timeout=60) for e in entries]
    started = time.perf_counter()
    updated = ctsync.apply(gw.b, later, [])
    update_time = time.perf_counter() - started
    assert updated.ok and updated.updated == 1000
    assert {e.tcp_state for e in ctsync.dump(gw.b)} == {ctsync.TCP_FIN_WAIT}

    started = time.perf_counter()
    deleted = ctsync.apply(gw.b, [], entries)
    delete_time = time.perf_counter() - started
    assert deleted.ok and deleted.deleted == 1000 and ctsync.dump(gw.b) == []
    again = ctsync.apply(gw.b, [], entries)
    assert again.ok and again.absent == 1000
    assert ctsync.apply(gw.b, entries[:10], []).created == 10
    ctsync.flush(gw.b)
    assert ctsync.dump(gw.b) == []
    print(
        f"\napply 1000: create {create_time * 1000:.1f} ms, update (create refused, then"
        f" update) {update_time * 1000:.1f} ms, delete {delete_time * 1000:.1f} ms"
    )


def test_mixed_entries_through_the_wire(gw: Gateways) -> None:
    seen = ctsync.SEEN_REPLY | ctsync.ASSURED
    entries = [
        # UDP to a floating IP: DNAT to the fixed address and SNAT of the client
        Entry(4, ctsync.UDP, FlowTuple("198.51.100.7", "203.0.113.50", 5353, 53),
              FlowTuple("10.0.0.5", "203.0.113.10", 53, 61000),
              seen | ctsync.DST_NAT | ctsync.SRC_NAT, timeout=120, zone=7),
        Entry(4, ctsync.ICMP, FlowTuple("10.0.0.2", SERVER_IP, 77, 8 << 8),
              FlowTuple(SERVER_IP, SNAT_IP, 77, 0), ctsync.SEEN_REPLY | ctsync.SRC_NAT,
              timeout=30),
        Entry(6, ctsync.TCP, FlowTuple("2001:db8::2", "2001:db8:1::20", 41000, 443),
              FlowTuple("2001:db8:1::20", "2001:db8:1::10", 443, 41000),
              seen | ctsync.SRC_NAT, ctsync.TCP_ESTABLISHED, (7, 9), (1, 3), 3000, mark=9),
        Entry(6, ctsync.ICMPV6, FlowTuple("2001:db8::2", "2001:db8:1::20", 9, 128 << 8),
              FlowTuple("2001:db8:1::20", "2001:db8::2", 9, 129 << 8), ctsync.SEEN_REPLY,
              timeout=30),
    ]  # fmt: skip
    [datagram] = ctsync.encode(entries, [], router_id="r1", seq=1)
    _, _, upserts, _ = ctsync.decode(datagram)
    result = ctsync.apply(gw.b, upserts, [])
    assert result.ok and result.created == 4, result.failed
    assert comparable(ctsync.dump(gw.b)) == comparable(entries)
    [datagram] = ctsync.encode([], entries, router_id="r1", seq=2)
    _, _, _, deletes = ctsync.decode(datagram)
    assert ctsync.apply(gw.b, [], deletes).deleted == 4
    assert ctsync.dump(gw.b) == []


@pytest.mark.parametrize("first", ["established", "new"])
def test_event_to_standby_latency(gw: Gateways, first: str) -> None:
    """From ``connect()`` in the client to the entry existing in B, with the
    Watcher on A handing its batches to ``apply`` on B in this process.
    "new": every entry synced, so the SYN's NEW event is the first;
    "established": the default filter, first synced at the handshake's end."""
    server = Server(gw.server)
    applied: dict[int, float] = {}
    done = threading.Condition()

    def on_change(ups: list[Entry], dels: list[Entry]) -> None:
        result = ctsync.apply(gw.b, ups, dels)
        assert result.ok, result.failed
        now = time.perf_counter()
        with done:
            for e in ups:
                if e.proto == ctsync.TCP:
                    applied.setdefault(e.orig.sport, now)
            done.notify_all()

    want = ctsync.worth_syncing if first == "established" else (lambda e: True)
    watcher = ctsync.Watcher(gw.a, on_change, want=want)
    watcher.start()
    delays = []
    try:
        assert watcher.synced.wait(5)
        for _ in range(50):
            started = time.perf_counter()
            client = connect(gw.client)
            sport = client.getsockname()[1]
            with done:
                assert done.wait_for(lambda: sport in applied, timeout=5)  # noqa: B023
            delays.append(applied[sport] - started)
            server.accept().close()
            client.close()
    finally:
        watcher.stop()
        server.sock.close()
    delays.sort()
    median, p90 = statistics.median(delays), delays[int(len(delays) * 0.9)]
    print(
        f"\n{first}: connect() to entry in B: median {median * 1e3:.2f} ms,"
        f" p90 {p90 * 1e3:.2f} ms, max {delays[-1] * 1e3:.2f} ms"
    )
    assert median < 0.5
