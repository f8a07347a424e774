"""The metadata server on loopback (no root): every name is the test's own
network namespace, instances are loopback addresses. One instance's slow
or many connections never hold up another's request; caps and deadlines
close what is too much."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from kumo.compiler import ClusterView
from kumo.compiler.plan import MetadataClient, MetadataEndpoint
from kumo.metadata.connections import Limits
from kumo.metadata.server import MetadataServer

NS = "md-test"
NOISY, QUIET, OTHER = "127.0.0.2", "127.0.0.3", "127.0.0.4"
SERVERS = {
    NOISY: "5e1f0000-0000-4000-8000-00000000000a",
    QUIET: "5e1f0000-0000-4000-8000-00000000000b",
    OTHER: "5e1f0000-0000-4000-8000-00000000000c",
}
META = "/openstack/latest/meta_data.json"
BIG = os.urandom(8 << 20)  # more than the socket buffers hold


class CurrentNamespace:
    """Every name is the namespace the test runs in."""

    def inode(self, name: str) -> int | None:
        return os.stat("/proc/thread-self/ns/net").st_ino

    def socket6(self, name: str) -> socket.socket:
        return socket.socket(socket.AF_INET6, socket.SOCK_STREAM)

    def socket(self, name: str) -> socket.socket:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


class Source:
    """The compute API; lookups of the servers in ``slow`` wait for ``gate``."""

    def __init__(self) -> None:
        self.slow: set[str] = set()
        self.gate = threading.Event()

    def server(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        if server_id in self.slow:
            self.gate.wait(10)
        if server_id not in SERVERS.values():
            return None
        body: dict[str, Any] = {"id": server_id, "name": f"vm-{server_id[-1]}"}
        if server_id == SERVERS[OTHER]:
            body["OS-EXT-SRV-ATTR:user_data"] = base64.b64encode(BIG).decode()
        return body

    def public_key(self, server: Mapping[str, Any], port_id: str) -> str | None:
        return None


ENDPOINT = MetadataEndpoint(
    netns=NS,
    network_id="net1",
    clients=tuple(
        MetadataClient(ip, f"port-{ip}", server, "compute:nova") for ip, server in SERVERS.items()
    ),
)


class Running:
    def __init__(self, limits: Limits, workers: int) -> None:
        self.source = Source()
        self.server = MetadataServer(
            self.source, port=0, workers=workers, limits=limits, address="127.0.0.1", address6=None,
            namespaces=CurrentNamespace(),
        )  # fmt: skip
        self.server.start()
        self.server.update([ENDPOINT], ClusterView())
        # A new endpoint opens on the server's thread; update does not wait.
        deadline = time.monotonic() + 5
        while (address := self.server.local_address(NS)) is None:
            assert time.monotonic() < deadline, "the endpoint never opened"
            time.sleep(0.005)
        self.address = address
        self.sockets: list[socket.socket] = []

    def get(self, src: str, path: str = META, method: str = "GET") -> tuple[int, bytes, float]:
        """One request from ``src``: status, body, seconds."""
        started = time.monotonic()
        conn = http.client.HTTPConnection(*self.address, timeout=15, source_address=(src, 0))
        try:
            conn.request(method, path, headers={"Host": "169.254.169.254"})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        return resp.status, body, time.monotonic() - started

    def connect(self, src: str, count: int) -> list[socket.socket]:
        """``count`` connections from ``src`` that send nothing (yet)."""
        made = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((src, 0))
            sock.setblocking(False)
            sock.connect_ex(self.address)
            made.append(sock)
        self.sockets += made
        return made

    def close(self) -> None:
        self.source.gate.set()  # no worker stays stuck
        for sock in self.sockets:
            sock.close()
        self.server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """Start a server with these limits (and ``workers``)."""
    started: list[Running] = []

    def start(workers: int = 8, **limits: Any) -> Running:
        started.append(Running(Limits(**limits), workers))
        return started[-1]

    try:
        yield start
    finally:
        for r in started:
            r.close()


@pytest.fixture
def running(serve: Callable[..., Running]) -> Running:
    return serve()


def closed_by_server(sock: socket.socket, within: float) -> float | None:
    """Seconds until the server closed ``sock`` (None: still open after ``within``)."""
    sock.setblocking(True)
    sock.settimeout(within)
    started = time.monotonic()
    try:
        data = sock.recv(1)
    except TimeoutError:
        return None
    except ConnectionResetError:
        return time.monotonic() - started
    assert data == b""
    return time.monotonic() - started


def dribble(socks: list[socket.socket], stop: threading.Event) -> None:
    """A byte of a request head at a time, to every socket in turn."""
    head = b"GET " + META.encode() + b" HTTP/1.1\r\nHost: 169.254.169.254\r\n"  # never ends
    i = 0
    while not stop.is_set():
        for sock in socks:
            try:
                sock.send(head[i % len(head) : i % len(head) + 1])
            except OSError:
                pass
        i += 1
        stop.wait(0.01)


def test_each_instance_is_answered_for_itself(running: Running) -> None:
    for ip, server_id in SERVERS.items():
        status, body, _ = running.get(ip)
        assert status == 200 and json.loads(body)["uuid"] == server_id
    status, body, _ = running.get(QUIET, "/latest/meta-data/local-ipv4")
    assert (status, body) == (200, QUIET.encode())
    assert running.get("127.0.0.9")[0] == 404  # no instance of this host has that address
    assert running.get(QUIET, "/openstack/latest/nothing")[0] == 404
    status, body, _ = running.get(QUIET, method="HEAD")
    assert status == 200 and body == b""
    assert running.get(QUIET, method="POST")[0] == 501


def test_200_slow_connections_of_one_instance_never_delay_another(running: Running) -> None:
    silent = running.connect(NOISY, 100)
    dribbling = running.connect(NOISY, 100)
    stop = threading.Event()
    dribbler = threading.Thread(target=dribble, args=(dribbling, stop), daemon=True)
    dribbler.start()
    stats = running.server.connections.stats
    try:
        deadline = time.monotonic() + 5
        while stats["accepted"] + stats["refused"] < 200:  # all 200 connected
            assert time.monotonic() < deadline, stats
            time.sleep(0.05)
        time.sleep(0.1)  # and dribbling
        latencies = []
        for _ in range(20):
            status, body, seconds = running.get(QUIET)
            assert status == 200 and json.loads(body)["uuid"] == SERVERS[QUIET]
            latencies.append(seconds)
        assert running.server.connections.held(NS, NOISY) == Limits().per_source
        assert silent and stats["refused"] == 200 - Limits().per_source
    finally:
        stop.set()
        dribbler.join()
    latencies.sort()
    assert latencies[len(latencies) // 2] < 0.1, latencies
    assert latencies[-2] < 0.1, latencies  # the 95th percentile


def test_excess_is_closed_at_once_and_a_silent_connection_after_the_header_timeout(
    serve: Callable[..., Running],
) -> None:
    running = serve(per_source=4, header_timeout=0.3)
    socks = []
    started = time.monotonic()
    for _ in range(6):
        socks += running.connect(NOISY, 1)
        time.sleep(0.02)  # accepted in this order
    for sock in socks[4:]:
        assert closed_by_server(sock, 0.1) is not None
    for sock in socks[:4]:
        assert closed_by_server(sock, 2.0) is not None
        assert 0.3 <= time.monotonic() - started < 1.0
    assert running.server.connections.stats["timed_out"] == 4


def test_a_request_dribbled_within_the_header_timeout_is_answered(running: Running) -> None:
    (sock,) = running.connect(QUIET, 1)
    sock.setblocking(True)
    head = f"GET {META} HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n".encode()
    for i in range(0, len(head), 10):
        sock.sendall(head[i : i + 10])
        time.sleep(0.02)
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    assert reply.startswith(b"HTTP/1.0 200 OK\r\n") and SERVERS[QUIET].encode() in reply


def test_at_the_total_cap_a_newcomer_displaces_the_heaviest_source(
    serve: Callable[..., Running],
) -> None:
    running = serve(per_source=4, total=6)
    noisy = running.connect(NOISY, 4)
    running.connect(OTHER, 2)
    time.sleep(0.2)
    assert running.server.connections.open_count == 6
    status, _, seconds = running.get(QUIET)
    assert status == 200 and seconds < 0.5
    assert running.server.connections.stats["displaced"] == 1
    assert closed_by_server(noisy[0], 0.2) is not None  # the oldest of the heaviest
    # full again with NOISY 3, OTHER 3: not enough more to displace one of NOISY's
    (admitted,) = running.connect(OTHER, 1)
    time.sleep(0.1)
    (late,) = running.connect(OTHER, 1)
    assert closed_by_server(late, 0.5) is not None
    assert closed_by_server(admitted, 0.1) is None
    assert running.server.connections.stats["refused"] == 1


def test_requests_stuck_on_the_api_take_at_most_their_share_of_workers(
    serve: Callable[..., Running],
) -> None:
    running = serve(workers=4, busy_per_source=2)
    running.source.slow.add(SERVERS[NOISY])
    stuck = [threading.Thread(target=running.get, args=(NOISY,), daemon=True) for _ in range(6)]
    for t in stuck:
        t.start()
    time.sleep(0.3)
    status, _, seconds = running.get(QUIET)
    assert status == 200 and seconds < 0.5
    running.source.gate.set()
    for t in stuck:
        t.join(5)
        assert not t.is_alive()


def test_a_network_that_leaves_the_plan_takes_its_connections_along(running: Running) -> None:
    socks = running.connect(NOISY, 3)
    time.sleep(0.2)
    running.server.update([], ClusterView())
    assert running.server.listening == frozenset()
    for sock in socks:
        assert closed_by_server(sock, 0.5) is not None
    assert running.server.connections.open_count == 0


def test_a_reply_nobody_reads_is_dropped_after_the_write_timeout(
    serve: Callable[..., Running],
) -> None:
    running = serve(write_timeout=0.5)
    (sock,) = running.connect(OTHER, 1)
    sock.setblocking(True)
    sock.sendall(b"GET /openstack/latest/user_data HTTP/1.0\r\n\r\n")  # and never reads
    while running.server.connections.stats["stalled"] == 0:  # its reply is being written
        time.sleep(0.01)
    status, _, seconds = running.get(QUIET)  # the loop never waits on the stuck reply
    assert status == 200 and seconds < 0.1
    deadline = time.monotonic() + 5
    while running.server.connections.open_count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.server.connections.open_count == 0
    assert running.server.connections.stats["timed_out"] == 1


class SlowNamespaces(CurrentNamespace):
    """Opening a listener waits for ``gate`` (a namespace slow to enter)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def inode(self, name: str) -> int | None:
        self.gate.wait(5)
        return super().inode(name)


def test_a_pass_waits_for_the_thread_only_when_an_endpoint_leaves() -> None:
    namespaces = SlowNamespaces()
    server = MetadataServer(
        Source(), port=0, address="127.0.0.1", address6=None, namespaces=namespaces
    )
    server.start()
    try:
        started = time.monotonic()
        server.update([ENDPOINT], ClusterView())  # a new endpoint: opened on the thread
        assert time.monotonic() - started < 0.5
        namespaces.gate.set()
        deadline = time.monotonic() + 5
        while server.local_address(NS) is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        server.update([], ClusterView())  # leaving: closed before update returns
        assert server.listening == frozenset()
    finally:
        server.stop()
