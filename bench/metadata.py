"""Metadata latency of one instance while a neighbour holds slow connections (needs root).

    .venv/bin/python -m bench.metadata [--slow 0,200] [--samples 300] [--interval 0.02]
        [--reopen 0.05] [--before REV]

One throwaway namespace stands in for a host's metadata namespace:
169.254.169.254 and two instance addresses on its loopback, the agent's
``MetadataServer`` listening on port 80 there, found and opened exactly as
the agent does it (by namespace name). The neighbour (10.0.0.11), a
process of its own, keeps ``--slow`` connections open, half sending
nothing, half dribbling a request head that never ends a byte every
100 ms; once leaving closed what the server closes, once reopening it
every ``--reopen`` seconds (0: only the first way). The quiet instance
(10.0.0.12) asks for ``meta_data.json`` ``--samples`` times,
``--interval`` apart, and its latency (connect to last byte) is reported
as p50/p99. A request not answered in ``--timeout`` seconds counts as
timed out; a scenario stops after ``--max-seconds``. The server's source
answers from memory (a warm cache).

Each scenario runs against the server of this tree and, when ``--before``
names a revision (default: the one before the non-blocking connection
loop came in), against ``kumo/metadata/server.py`` as it was there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import logging
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import ROOT, machine, percentile
from kumo.compiler import ClusterView
from kumo.compiler.metadata import METADATA_IP
from kumo.compiler.plan import MetadataClient, MetadataEndpoint
from kumo.dataplane import netns
from tests.dataplane.rootlab import sh

NOISY, QUIET = "10.0.0.11", "10.0.0.12"
SERVERS = {
    NOISY: "5e1f0000-0000-4000-8000-0000000000a1",
    QUIET: "5e1f0000-0000-4000-8000-0000000000a2",
}
PATH = "/openstack/latest/meta_data.json"
HEAD = f"GET {PATH} HTTP/1.1\r\nHost: {METADATA_IP}\r\nUser-Agent: bench\r\n".encode()


class Source:
    def server(self, server_id: str) -> Mapping[str, Any] | None:
        return {"id": server_id, "name": "vm", "metadata": {"role": "bench"}}

    def public_key(self, name: str, user_id: str) -> str | None:
        return None


class Neighbour:
    """``count`` slow connections from NOISY, kept at that count."""

    def __init__(self, ns: str, count: int, reopen: float) -> None:
        self.ns = ns
        self.count = count
        self.reopen = reopen
        self.stop = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def _open(self) -> socket.socket:
        sock = netns.socket_in(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((NOISY, 0))
        sock.setblocking(False)
        sock.connect_ex((METADATA_IP, 80))
        return sock

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        socks: list[socket.socket | None] = [self._open() for _ in range(self.count)]
        for i, sock in enumerate(socks):
            selector.register(sock, selectors.EVENT_READ, i)  # type: ignore[arg-type]
        sent = 0
        next_byte = next_reopen = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if self.reopen and now >= next_reopen:  # open any the server closed
                for i, sock in enumerate(socks):
                    if sock is None:
                        socks[i] = self._open()
                        selector.register(socks[i], selectors.EVENT_READ, i)  # type: ignore[arg-type]
                        self.reopened += 1
                next_reopen = now + self.reopen
            if now >= next_byte:  # the first half dribbles, the other sends nothing
                byte = HEAD[sent % len(HEAD) : sent % len(HEAD) + 1]
                for sock in socks[: self.count // 2]:
                    try:
                        if sock is not None:
                            sock.send(byte)
                    except OSError:
                        pass
                sent += 1
                next_byte = now + 0.1
            for key, _ in selector.select(0.02):
                sock = socks[key.data]
                assert sock is not None
                try:
                    if sock.recv(4096):
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                selector.unregister(sock)
                sock.close()
                socks[key.data] = None
        for sock in socks:
            if sock is not None:
                sock.close()
        selector.close()


class NeighbourProcess:
    """A ``Neighbour`` in a process of its own (another instance shares no
    interpreter lock with the agent)."""

    def __init__(self, ns: str, count: int, reopen: float) -> None:
        self.ns = ns
        self.count = count
        self.reopen = reopen
        self.reopened = 0
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> NeighbourProcess:
        if self.count:
            cmd = [sys.executable, "-m", "bench.metadata", "--reopen", str(self.reopen),
                   "--neighbour", self.ns, str(self.count)]  # fmt: skip
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True, cwd=ROOT)  # fmt: skip
            assert self.proc.stdout is not None
            assert self.proc.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            out, _ = self.proc.communicate("stop\n", timeout=30)
            self.reopened = int(out.split()[-1])


def run_neighbour(ns: str, count: int, reopen: float) -> None:
    """The child's side: open, dribble and reopen until told to stop on stdin."""
    neighbour = Neighbour(ns, count, reopen)
    neighbour.thread.start()
    time.sleep(1.0)  # all connected, the server has seen them
    print("ready", flush=True)
    sys.stdin.readline()
    neighbour.stop.set()
    neighbour.thread.join()
    print(f"reopened {neighbour.reopened}", flush=True)


def ask(ns: str, timeout: float) -> float | None:
    """Seconds for one request from QUIET (None: no answer within ``timeout``)."""
    sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
    started = time.monotonic()
    try:
        sock.settimeout(timeout)
        sock.bind((QUIET, 0))
        sock.connect((METADATA_IP, 80))
        sock.sendall(HEAD + b"\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
            if time.monotonic() - started > timeout:
                return None
    except OSError:
        return None
    finally:
        sock.close()
    if not reply.startswith(b"HTTP/1.0 200 ") or SERVERS[QUIET].encode() not in reply:
        raise RuntimeError(f"unexpected reply: {reply[:200]!r}")
    return time.monotonic() - started


def server_module(revision: str | None) -> ModuleType:
    """``kumo.metadata.server`` of this tree, or as it was at ``revision``."""
    if revision is None:
        from kumo.metadata import server

        return server
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:kumo/metadata/server.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kumo-bench-") as tmp:
        path = Path(tmp) / "server_before.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location("kumo_metadata_server_before", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def default_before() -> str | None:
    """The revision before ``kumo/metadata/connections.py`` was added."""
    added = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H", "--",
         "kumo/metadata/connections.py"],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return f"{added[-1]}^" if added else None


def scenario(
    module: ModuleType,
    ns: str,
    slow: int,
    reopen: float,
    samples: int,
    interval: float,
    timeout: float,
    max_seconds: float,
) -> str:
    server = module.MetadataServer(Source())
    endpoint = MetadataEndpoint(
        netns=ns,
        network_id="net-bench",
        clients=tuple(
            MetadataClient(ip, f"port-{ip}", sid, "compute:nova") for ip, sid in SERVERS.items()
        ),
    )
    server.start()
    try:
        server.update([endpoint], ClusterView())
        deadline = time.monotonic() + 5
        while ns not in server.listening:
            assert time.monotonic() < deadline, "the server does not listen"
            time.sleep(0.05)
        ask(ns, timeout)  # warm
        latencies: list[float] = []
        timed_out = 0
        with NeighbourProcess(ns, slow, reopen) as neighbour:
            stop_at = time.monotonic() + max_seconds
            while len(latencies) + timed_out < samples and time.monotonic() < stop_at:
                seconds = ask(ns, timeout)
                if seconds is None:
                    timed_out += 1
                else:
                    latencies.append(seconds)
                time.sleep(interval)
    finally:
        server.stop()
    stats = getattr(server, "connections", None) and server.connections.stats
    closed = f"{stats['refused']} / {stats['timed_out']}" if stats else "-"
    if latencies:
        p50 = f"{percentile(latencies, 50) * 1000:.2f} ms"
        p99 = f"{percentile(latencies, 99) * 1000:.2f} ms"
    else:
        p50 = p99 = "-"
    asked = len(latencies) + timed_out
    return (
        f"| {slow}{f', reopened every {reopen * 1000:g} ms' if reopen else ''} | {p50} | {p99} | {len(latencies)}/{asked} answered, {timed_out} timed out"
        f" (>{timeout:g} s) | {neighbour.reopened} | {closed} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", default="0,200", help="neighbour's slow connections, a list")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between requests")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    parser.add_argument(
        "--reopen", type=float, default=0.05, help="seconds between reopenings; 0: never"
    )
    parser.add_argument("--before", default="auto", help="a revision, 'auto' or 'none'")
    parser.add_argument("--neighbour", nargs=2, metavar=("NETNS", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.neighbour:
        run_neighbour(args.neighbour[0], int(args.neighbour[1]), args.reopen)
        return
    # the server before logs each connection the neighbour or a timed-out request dropped
    logging.getLogger("kumo.metadata").setLevel(logging.CRITICAL)
    before = {"auto": default_before(), "none": None}.get(args.before, args.before)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench/metadata.py {stamp}, {machine()}, pid {os.getpid()}")
    ns = f"kmdb{os.getpid()}"
    netns.create(ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for address in (METADATA_IP, NOISY, QUIET):
            sh("ip", "-n", ns, "addr", "add", f"{address}/32", "dev", "lo")
        codes: list[tuple[str, str | None]] = [("after (this tree)", None)]
        if before:
            codes.insert(0, (f"before ({before})", before))
        for label, revision in codes:
            module = server_module(revision)
            print(f"\n{label}\n")
            print(
                "| slow connections | p50 | p99 | requests | neighbour reopened"
                " | closed by the server at once / on timeout |"
            )
            print("|---|---|---|---|---|---|")  # fmt: skip
            for slow in (int(x) for x in args.slow.split(",")):
                for reopen in (0.0, args.reopen) if slow and args.reopen else (0.0,):
                    line = scenario(
                        module, ns, slow, reopen, args.samples, args.interval, args.timeout,
                        args.max_seconds,
                    )  # fmt: skip
                    print(line, flush=True)
    finally:
        netns.remove(ns)


if __name__ == "__main__":
    main()
