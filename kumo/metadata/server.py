"""The metadata server of one host: a listening socket in every metadata
namespace of the plan (bound to 169.254.169.254:80 with ``IP_FREEBIND``,
so it may open before the address is there), one thread that accepts on
all of them, and a small pool that answers.

Who asks is known from the socket (its namespace is one network) and the
source address (the plan's ``MetadataClient`` with that IPv4 address on
that network, one of this host's instance ports; the host firewall keeps
ports with port security from sending from addresses that are not
theirs). The server and its key come from the compute API (``Source``),
cached for a few seconds per server. An instance never sees another's
data: the lookup has no other input.

Sockets are opened and closed by the server thread only: ``update`` (the
agent calls it with each plan, before the dataplane runs) waits until
sockets of namespaces that left the plan are closed, since an open socket
would keep a removed namespace, and its veth pair, alive. A namespace
recreated behind the server's back is noticed by its inode and its socket
reopened.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from kumo import pollwait
from kumo.compiler.metadata import METADATA_IP
from kumo.compiler.model import ClusterView
from kumo.compiler.plan import MetadataEndpoint
from kumo.dataplane import netns
from kumo.metadata.documents import Key, Reply, answer, instance_from

log = logging.getLogger("kumo.metadata")

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
PORT = 80


class Source(Protocol):
    """Where servers and keys come from (the internal API)."""

    def server(self, server_id: str) -> Mapping[str, Any] | None: ...

    def public_key(self, server: Mapping[str, Any]) -> str | None:
        """The public key of the server's key pair, as it was when it booted."""
        ...


class Unavailable(Exception):
    """The compute API could not be asked (a 500 for the instance, not a 404)."""


@dataclass
class _Listener:
    sock: socket.socket
    inode: int


class MetadataServer:
    def __init__(self, source: Source, port: int = PORT, workers: int = 8) -> None:
        self.source = source
        self.port = port
        self._endpoints: dict[str, MetadataEndpoint] = {}
        self._view = ClusterView()
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()
        self._synced = threading.Condition(self._lock)
        self._generation = 0
        self._done_generation = 0
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metadata")
        self.stats = {"requests": 0, "answered": 0, "not_found": 0, "errors": 0}

    # -- the agent's side --------------------------------------------------------------

    def update(self, endpoints: Iterable[MetadataEndpoint], view: ClusterView) -> None:
        """Serve exactly these endpoints from now on, with this view of ports."""
        with self._lock:
            self._endpoints = {e.netns: e for e in endpoints}
            self._view = view
            self._generation += 1
            wanted = self._generation
        self._wake()
        if self._thread is None or not self._thread.is_alive():
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
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        os.close(self._wake_r)
        os.close(self._wake_w)

    @property
    def listening(self) -> frozenset[str]:
        """Namespaces with an open socket."""
        with self._lock:
            return frozenset(self._listeners)

    # -- the server thread ---------------------------------------------------------------

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def run(self) -> None:
        while not self._stop.is_set():
            self._sync()
            with self._lock:
                socks = {lst.sock.fileno(): (ns, lst.sock) for ns, lst in self._listeners.items()}
            try:
                ready = pollwait.readable([self._wake_r, *socks], 0.5)
            except OSError:
                self._stop.wait(0.1)  # never a busy loop
                continue
            for fd in ready:
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                ns, sock = socks[fd]
                try:
                    conn, addr = sock.accept()
                except OSError:
                    continue
                self._pool.submit(self._serve, ns, conn, addr)
        self._close_all()

    def _sync(self) -> None:
        with self._lock:
            wanted = set(self._endpoints)
            generation = self._generation
            current = dict(self._listeners)
        for ns in sorted(set(current) - wanted):
            self._close(ns)
        for ns in sorted(wanted):
            inode = _inode(ns)
            lst = current.get(ns)
            if lst is not None and lst.inode == inode:
                continue
            if lst is not None:
                self._close(ns)  # the namespace was recreated
            if inode is None:
                continue  # not made yet: the next tick, or ensure(), tries again
            try:
                sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
            except OSError as exc:
                log.debug("metadata: no socket in %s yet: %s", ns, exc)
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                sock.bind((METADATA_IP, self.port))
                sock.listen(64)
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                log.warning("metadata: cannot listen in %s: %s", ns, exc)
                continue
            with self._lock:
                self._listeners[ns] = _Listener(sock, inode)
        with self._synced:
            self._done_generation = max(self._done_generation, generation)
            self._synced.notify_all()

    def _close(self, ns: str) -> None:
        with self._lock:
            lst = self._listeners.pop(ns, None)
        if lst is not None:
            lst.sock.close()

    def _close_all(self) -> None:
        for ns in list(self._listeners):
            self._close(ns)

    # -- answering -----------------------------------------------------------------------

    def _serve(self, ns: str, conn: socket.socket, addr: tuple[str, int]) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(10)
            _Handler(conn, addr, _Context(self, ns))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - one bad connection never stops the server
            log.exception("metadata: request from %s in %s failed", addr[0], ns)
        finally:
            conn.close()

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
            server = self.source.server(client.device_id)
            if server is None:
                return self._missing(f"Server {client.device_id} not found.")
            keys: tuple[Key, ...] = ()
            key_name = server.get("key_name")
            if key_name:
                data = self.source.public_key(server)
                if data:
                    keys = (Key(str(key_name), data.strip()),)
            result = answer(path, instance_from(server, view, client.ip, keys))
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


def _inode(ns: str) -> int | None:
    try:
        return os.stat(netns.path(ns)).st_ino
    except OSError:
        return None


@dataclass(frozen=True)
class _Context:
    """What a request handler needs: stands in for socketserver's server."""

    server: MetadataServer
    netns: str


class _Handler(BaseHTTPRequestHandler):
    server_version = "kumo-metadata"
    sys_version = ""
    server: _Context  # type: ignore[assignment]

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
