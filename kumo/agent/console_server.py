"""The host agent's console endpoint: API servers read an instance's
console log and open its console here, so consoles work wherever the API
servers run (``kumo agent --console-port``).

Two requests, each with a credential of ``console_credential`` in
``Authorization: Kumo-Console CREDENTIAL`` (401 without a valid, fresh,
unused one made for this host, this server and this operation):

- ``GET /v1/servers/{id}/console-log``: the instance's console output,
  ``text/plain`` (a VM's serial log; a namespace instance's guest
  process logs), whole lines; the API server cuts it to ``length``.
- ``GET /v1/servers/{id}/console`` with ``Connection: Upgrade`` and
  ``Upgrade: kumo-console``: ``101 Switching Protocols``, then the
  connection carries the console's bytes both ways (a VM's serial port;
  a shell in a namespace instance) until either end closes. The client
  sends nothing after its request until it has read the 101.

Users never reach this endpoint: their one-time console URL is spent by
the API server, which then opens the endpoint with a credential of its
own making. The host's key is fetched from the API once, on first use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import select
import signal
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kumo.agent import console_credential as credential
from kumo.agent import console_logs

log = logging.getLogger("kumo.agent.console")

UPGRADE = "kumo-console"
REQUEST_TIMEOUT = 30.0
"""Seconds a client has to send its request (a console, once open, has no timeout)."""
_PATH = re.compile(r"^/v1/servers/([A-Za-z0-9-]{1,64})/(console-log|console)$")
_NETNS = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConsoleServer:
    """The endpoint of one host, on a thread of its own."""

    def __init__(
        self,
        host: str,
        key: Callable[[], bytes],
        vm_dir: Path | None,
        address: str = "127.0.0.1",
        port: int = 0,
        advertise: str | None = None,
    ) -> None:
        self.host = host
        self._fetch_key = key
        self._key: bytes | None = None
        self._key_lock = threading.Lock()
        self.vm_dir = vm_dir
        self.nonces = credential.NonceBook()
        self.advertise = advertise
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = REQUEST_TIMEOUT

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                outer.handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="kumo-agent-console", daemon=True
        )

    @property
    def url(self) -> str:
        """Where API servers reach this endpoint (``advertise``, else the bound address)."""
        if self.advertise:
            return self.advertise.rstrip("/")
        host, port = self.server.server_address[:2]
        text = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{text}]" if ":" in text else text
        return f"http://{shown}:{port}"

    def start(self) -> None:
        self._thread.start()
        log.info("console endpoint on %s", self.url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def key(self) -> bytes:
        with self._key_lock:
            if self._key is None:
                self._key = self._fetch_key()
            return self._key

    # -- one request ---------------------------------------------------------

    def handle(self, req: BaseHTTPRequestHandler) -> None:
        match = _PATH.match(req.path.split("?", 1)[0])
        if match is None:
            return _answer(req, 404, "No such console endpoint.")
        server_id, what = match.groups()
        operation = "log" if what == "console-log" else "console"
        scheme, _, presented = (req.headers.get("Authorization") or "").partition(" ")
        if scheme != credential.SCHEME or not presented:
            return _answer(req, 401, "A console credential is required.")
        try:
            key = self.key()
        except Exception as exc:  # the API is away: no key to check with yet
            log.warning("cannot read this host's console key: %s", exc)
            return _answer(req, 503, "The console endpoint has no key yet.")
        try:
            claims = credential.verify(key, presented.strip(), host=self.host, server=server_id,
                                       operation=operation, nonces=self.nonces)  # fmt: skip
        except credential.Refused as exc:
            log.warning("console request for server %s refused: %s", server_id, exc)
            return _answer(req, 401, "The console credential is invalid, expired or used.")
        if operation == "log":
            return self._log(req, claims)
        if (req.headers.get("Upgrade") or "").lower() != UPGRADE:
            return _answer(req, 426, f"A console needs Upgrade: {UPGRADE}.")
        self._console(req, claims)

    def _log(self, req: BaseHTTPRequestHandler, claims: credential.Claims) -> None:
        if claims.vm:
            logs = [console_logs.vm_files(self.vm_dir, claims.server)[1]] if self.vm_dir else []
        elif claims.netns and _NETNS.match(claims.netns):
            logs = console_logs.guest_logs(claims.netns)
        else:
            logs = []
        lines = console_logs.read_lines(logs)
        body = ("\n".join(lines) + ("\n" if lines else "")).encode()
        _send(req, 200, body, "text/plain; charset=utf-8")

    def _console(self, req: BaseHTTPRequestHandler, claims: credential.Claims) -> None:
        if claims.vm:
            if self.vm_dir is None:
                return _answer(req, 409, "This host runs no VMs.")
            path = console_logs.vm_files(self.vm_dir, claims.server)[0]
            serial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            serial.settimeout(5.0)
            try:
                serial.connect(str(path))
            except OSError:
                serial.close()
                return _answer(req, 409, "The VM's serial console is not available.")
            serial.settimeout(None)
            _switch(req)
            with serial:
                _relay(req.connection, serial.fileno(), serial.fileno())
            return
        if not claims.netns or not _NETNS.match(claims.netns):
            return _answer(req, 409, "The instance has no console.")
        _switch(req)
        _shell(req.connection, claims.netns)


def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
    req.send_response(status)
    req.send_header("Content-Type", ctype)
    req.send_header("Content-Length", str(len(body)))
    req.send_header("Cache-Control", "no-store")
    req.end_headers()
    req.wfile.write(body)


def _answer(req: BaseHTTPRequestHandler, status: int, message: str) -> None:
    _send(req, status, json.dumps({"error": message}).encode(), "application/json")


def _switch(req: BaseHTTPRequestHandler) -> None:
    req.send_response(101)
    req.send_header("Connection", "Upgrade")
    req.send_header("Upgrade", UPGRADE)
    req.end_headers()
    req.wfile.flush()
    req.close_connection = True


def _relay(conn: socket.socket, read_fd: int, write_fd: int) -> None:
    """Bytes both ways between the connection and a console until either
    end closes (or the console's reads fail: a shell that exited)."""
    conn.settimeout(None)
    while True:
        ready, _, _ = select.select([conn.fileno(), read_fd], [], [])
        try:
            if conn.fileno() in ready:
                data = conn.recv(4096)
                if not data:
                    return
                _write_all(write_fd, data)
            if read_fd in ready:
                data = os.read(read_fd, 4096)
                if not data:
                    return
                conn.sendall(data)
        except OSError:
            return


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _shell(conn: socket.socket, netns: str) -> None:
    """A shell in a namespace instance (its network and UTS namespaces) on a
    pseudo-terminal, relayed over the connection."""
    from kumo.dataplane import uts

    proc, master = uts.shell(netns)
    try:
        _relay(conn, master, master)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
