"""The metadata server of one host: two listening sockets in every metadata
namespace of the plan (bound to 169.254.169.254:80 and, on the leg
``eth0``, [fe80::a9fe:a9fe]:80, freely, so they may open before the
addresses are there), one thread that accepts on
all of them and reads and writes every connection without blocking, and a
small pool that turns complete requests into replies
(``kumo.metadata.connections``: caps per instance and in total, short
deadlines, so slow clients of one instance never hold up another's).

Who asks is known from the socket (its namespace is one network) and the
source address (the plan's ``MetadataClient`` with that address on that
network, one of this host's instance ports: over IPv6 an instance asks
from the link-local address its MAC makes; the host firewall keeps
ports with port security from sending from addresses that are not
theirs). The server and its key come from the compute API (``Source``),
cached for a few seconds per server. An instance never sees another's
data: the lookup has no other input.

Sockets are opened and closed by the server thread only: ``update`` (the
agent calls it with each plan, before the dataplane runs) waits until
sockets of namespaces that left the plan are closed, with their
connections, since an open socket would keep a removed namespace, and its
veth pair, alive. A namespace recreated behind the server's back is
noticed by its inode and its socket reopened.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from kumo.compiler.metadata import METADATA_IFNAME, METADATA_IP, METADATA_IP6
from kumo.compiler.model import ClusterView
from kumo.compiler.plan import MetadataClient, MetadataEndpoint
from kumo.dataplane import netns
from kumo.metadata.connections import Connections, Limits
from kumo.metadata.documents import Key, Reply, answer, instance_from

log = logging.getLogger("kumo.metadata")

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
PORT = 80
V6 = "/6"
"""Suffix of the label of a namespace's IPv6 listener (names have no slash)."""
BACKLOG = 1024
"""Connections the kernel queues until accepted (one instance's burst must
not leave none for the others: the loop accepts and sheds them quickly)."""


class Source(Protocol):
    """Where servers and keys come from (the internal API)."""

    def server(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        """The server that ``port_id`` is an interface of, if it is ``server_id``."""
        ...

    def public_key(self, server: Mapping[str, Any], port_id: str) -> str | None:
        """The public key of the server's key pair, as it was when it booted."""
        ...


class Unavailable(Exception):
    """The compute API could not be asked (a 500 for the instance, not a 404)."""


class Namespaces(Protocol):
    """Where the listening sockets are made."""

    def inode(self, name: str) -> int | None:
        """The namespace's identity now (None: it is not there)."""

    def socket6(self, name: str) -> socket.socket:
        """A TCP/IPv6 socket inside the namespace."""

    def socket(self, name: str) -> socket.socket:
        """A TCP/IPv4 socket inside the namespace."""


class NamedNamespaces:
    """The kernel's named network namespaces (``/run/netns``)."""

    def inode(self, name: str) -> int | None:
        try:
            return os.stat(netns.path(name)).st_ino
        except OSError:
            return None

    def socket6(self, name: str) -> socket.socket:
        return netns.socket_in(name, socket.AF_INET6, socket.SOCK_STREAM)

    def socket(self, name: str) -> socket.socket:
        return netns.socket_in(name, socket.AF_INET, socket.SOCK_STREAM)


def _ns_of(label: str) -> str:
    return label.removesuffix(V6)


@dataclass
class _Listener:
    sock: socket.socket
    inode: int


class MetadataServer:
    def __init__(
        self,
        source: Source,
        port: int = PORT,
        workers: int = 8,
        limits: Limits | None = None,
        address: str = METADATA_IP,
        namespaces: Namespaces | None = None,
        address6: str | None = METADATA_IP6,
    ) -> None:
        """``address6``: the link-local address to listen on too, on each
        namespace's leg (None: IPv4 only)."""
        self.source = source
        self.port = port
        self.address = address
        self.address6 = address6
        self.namespaces = namespaces or NamedNamespaces()
        self._endpoints: dict[str, MetadataEndpoint] = {}
        self._view = ClusterView()
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()
        self._synced = threading.Condition(self._lock)
        self._generation = 0
        self._done_generation = 0
        self._sync_wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connections = Connections(self._answer, limits, workers)
        self.stats = {"requests": 0, "answered": 0, "not_found": 0, "errors": 0}

    # -- the agent's side --------------------------------------------------------------

    def update(self, endpoints: Iterable[MetadataEndpoint], view: ClusterView) -> None:
        """Serve exactly these endpoints from now on, with this view of ports.
        Waits for the listeners of endpoints that left to close (their
        namespaces may go next); a pass that removes none goes on at once
        (waiting for the thread costs a pass a thread switch or more)."""
        with self._lock:
            fresh = {e.netns: e for e in endpoints}
            leaving = self._endpoints.keys() - fresh.keys()
            self._endpoints = fresh
            self._view = view
            self._generation += 1
            wanted = self._generation
        self._wake()
        if not leaving or self._thread is None or not self._thread.is_alive():
            return
        deadline = time.monotonic() + 2.0
        with self._synced:
            while self._done_generation < wanted and time.monotonic() < deadline:
                self._synced.wait(0.1)

    def ensure(self) -> None:
        """Open what is missing now (the dataplane has just made namespaces)."""
        self._wake()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="metadata", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.connections.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                return  # stuck: leave its sockets to it rather than pull them away
        self._close_all()
        self.connections.close()

    @property
    def listening(self) -> frozenset[str]:
        """Namespaces with an open socket."""
        with self._lock:
            return frozenset(_ns_of(label) for label in self._listeners)

    def local_address(self, ns: str) -> tuple[str, int] | None:
        """Where namespace ``ns``'s IPv4 socket listens (None: it has none)."""
        with self._lock:
            lst = self._listeners.get(ns)
            return None if lst is None else lst.sock.getsockname()[:2]

    # -- the server thread ---------------------------------------------------------------

    def _wake(self) -> None:
        self._sync_wanted.set()
        self.connections.wake()

    def run(self) -> None:
        next_sync = 0.0
        while not self._stop.is_set():
            if self._sync_wanted.is_set() or time.monotonic() >= next_sync:
                self._sync_wanted.clear()
                self._sync()
                next_sync = time.monotonic() + 0.5  # a namespace made late is found soon
            try:
                self.connections.step(next_sync - time.monotonic())
            except OSError as exc:
                log.warning("metadata: waiting for connections failed: %s", exc)
                self._stop.wait(0.1)  # never a busy loop
        self._close_all()

    def _sync(self) -> None:
        with self._lock:
            wanted = {ns + v for ns in self._endpoints for v in self._families()}
            generation = self._generation
            current = dict(self._listeners)
        for label in sorted(set(current) - wanted):
            self._close(label)
        for label in sorted(wanted):
            inode = self.namespaces.inode(_ns_of(label))
            lst = current.get(label)
            if lst is not None and lst.inode == inode:
                continue
            if lst is not None:
                self._close(label)  # the namespace was recreated
            if inode is None:
                continue  # not made yet: the next tick, or ensure(), tries again
            sock = self._listen(label)
            if sock is None:
                continue
            self.connections.listen(label, sock)
            with self._lock:
                self._listeners[label] = _Listener(sock, inode)
        with self._synced:
            self._done_generation = max(self._done_generation, generation)
            self._synced.notify_all()

    def _families(self) -> tuple[str, ...]:
        return ("", V6) if self.address6 is not None else ("",)

    def _listen(self, label: str) -> socket.socket | None:
        """A listening socket for ``label`` (None: not now; logged)."""
        ns = _ns_of(label)
        try:
            sock = self.namespaces.socket6(ns) if label != ns else self.namespaces.socket(ns)
        except OSError as exc:
            log.debug("metadata: no socket in %s yet: %s", ns, exc)
            return None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if label != ns and self.address6 is not None:
                netns.bind_on_link(sock, self.address6, self.port, METADATA_IFNAME)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                sock.bind((self.address, self.port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            log.warning(
                "metadata: cannot listen on %s in %s: %s", label[len(ns) :] or "IPv4", ns, exc
            )
            return None
        return sock

    def _close(self, label: str) -> None:
        with self._lock:
            self._listeners.pop(label, None)
        self.connections.forget(label)

    def _close_all(self) -> None:
        for label in list(self._listeners):
            self._close(label)

    # -- answering (on a worker) ---------------------------------------------------------

    def _answer(self, label: str, addr: tuple[str, int], head: bytes) -> bytes:
        client = (addr[0].split("%", 1)[0], addr[1])  # an IPv6 source without its zone
        return _Handler(head, client, _Context(self, _ns_of(label))).reply_bytes()  # type: ignore[arg-type]

    def reply(self, ns: str, path: str, client_ip: str) -> Reply:
        """The answer to ``GET path`` from ``client_ip`` on namespace ``ns``'s network."""
        self.stats["requests"] += 1
        path = path.split("?", 1)[0].split("#", 1)[0]
        with self._lock:
            endpoint = self._endpoints.get(ns)
            view = self._view
        client = None
        if endpoint is not None:
            client = next((c for c in endpoint.clients if c.ip == client_ip), None)
        if endpoint is None or client is None:
            return self._missing(f"No instance of this host has address {client_ip} here.")
        owner = client.device_owner
        if not owner.startswith("compute:") or owner == "compute:lab" or not client.device_id:
            return self._missing(
                f"Port {client.port_id} is not a server's (a lab instance): it has no metadata."
            )
        try:
            # the port's device_id is the tenant's to write: the API answers only
            # when the port really is an interface of that server
            server = self.source.server(client.device_id, client.port_id)
            if server is None:
                return self._missing(f"Server {client.device_id} not found.")
            keys: tuple[Key, ...] = ()
            key_name = server.get("key_name")
            if key_name:
                data = self.source.public_key(server, client.port_id)
                if data:
                    keys = (Key(str(key_name), data.strip()),)
            result = answer(path, instance_from(server, view, _ipv4_of(endpoint, client), keys))
        except Unavailable as exc:
            self.stats["errors"] += 1
            return Reply(500, f"Metadata is not available now: {exc}\n".encode())
        if result.status == 404:
            self.stats["not_found"] += 1
        else:
            self.stats["answered"] += 1
        return result

    def _missing(self, why: str) -> Reply:
        self.stats["not_found"] += 1
        return Reply.not_found(why)


def _ipv4_of(endpoint: MetadataEndpoint, client: MetadataClient) -> str:
    """The IPv4 address the instance has on the network (its ``local-ipv4``):
    the one it asked from, else its port's first ("" for none)."""
    if ":" not in client.ip:
        return client.ip
    return next(
        (c.ip for c in endpoint.clients if c.port_id == client.port_id and ":" not in c.ip), ""
    )


@dataclass(frozen=True)
class _Context:
    """What a request handler needs: stands in for socketserver's server."""

    server: MetadataServer
    netns: str


class _Handler(BaseHTTPRequestHandler):
    """http.server's request parsing and replies, over a request head already
    read (``request``) and into bytes the connection loop writes."""

    server_version = "kumo-metadata"
    sys_version = ""
    server: _Context  # type: ignore[assignment]
    request: bytes

    def setup(self) -> None:
        self.rfile = io.BytesIO(self.request)
        self._out = io.BytesIO()
        self.wfile = self._out

    def finish(self) -> None:
        pass

    def reply_bytes(self) -> bytes:
        return self._out.getvalue()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._send(self.server.server.reply(self.server.netns, self.path, self.client_address[0]))

    def do_HEAD(self) -> None:  # noqa: N802
        reply = self.server.server.reply(self.server.netns, self.path, self.client_address[0])
        self._send(reply, body=False)

    def _send(self, reply: Reply, body: bool = True) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("metadata %s: " + format, self.client_address[0], *args)
