"""A reachability probe for failover tests and benches (standard library only).

Run in namespaces with ``ip netns exec NS python3 bench/probe.py ...``:

    probe.py serve PORT                       UDP and TCP echo on PORT
    probe.py udp HOST PORT SECONDS [INTERVAL] one datagram per INTERVAL (0.01 s)
    probe.py tcp HOST PORT SECONDS [INTERVAL] one 8-byte write per INTERVAL on ONE
                                              connection, echoed back

A client prints one JSON line when done: ``replies`` (CLOCK_MONOTONIC times
of the echoes, shared by every process on the machine), ``sent``,
``error`` (a TCP connection that broke: reset, timed out) and ``closed_at``.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
import time


def serve(port: int) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", port))
    tcp.listen(64)

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    while True:
        readable, _, _ = select.select([udp, tcp], [], [])
        if udp in readable:
            data, addr = udp.recvfrom(2048)
            udp.sendto(data, addr)
        if tcp in readable:
            conn, _ = tcp.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()


def udp_client(host: str, port: int, seconds: float, interval: float) -> dict[str, object]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    replies: list[float] = []
    sent = 0
    end = time.monotonic() + seconds
    next_send = time.monotonic()
    while (now := time.monotonic()) < end:
        if now >= next_send:
            try:
                sock.sendto(struct.pack("!Q", sent), (host, port))
            except OSError:
                pass
            sent += 1
            next_send += interval
        readable, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
        if readable:
            try:
                while True:
                    sock.recv(64)
                    replies.append(time.monotonic())
            except (BlockingIOError, OSError):
                pass
    return {"sent": sent, "replies": replies, "error": None, "closed_at": None}


def tcp_client(host: str, port: int, seconds: float, interval: float) -> dict[str, object]:
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    replies: list[float] = []
    sent = 0
    error: str | None = None
    end = time.monotonic() + seconds
    next_send = time.monotonic()
    pending = b""
    while (now := time.monotonic()) < end and error is None:
        if now >= next_send:
            pending += struct.pack("!Q", sent)
            sent += 1
            next_send += interval
        if pending:
            try:
                n = sock.send(pending)
                pending = pending[n:]
            except BlockingIOError:
                pass
            except OSError as exc:
                error = f"send: {exc}"
                break
        readable, _, _ = select.select([sock], [], [], max(0.0, next_send - time.monotonic()))
        if readable:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                error = f"recv: {exc}"
                break
            if not data:
                error = "closed by peer"
                break
            replies.extend([time.monotonic()] * (len(data) // 8))
    closed_at = time.monotonic()
    sock.close()
    return {"sent": sent, "replies": replies, "error": error, "closed_at": closed_at}


def max_gap(replies: list[float], start: float, end: float) -> float:
    """The longest time without a reply within [start, end]."""
    times = [start, *(t for t in replies if start <= t <= end), end]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "serve":
        serve(int(argv[1]))
        return 0
    host, port, seconds = argv[1], int(argv[2]), float(argv[3])
    interval = float(argv[4]) if len(argv) > 4 else 0.01
    run = udp_client if mode == "udp" else tcp_client
    print(json.dumps(run(host, port, seconds, interval)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
