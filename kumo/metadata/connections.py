"""The metadata server's connections, all driven by one thread with epoll,
so a slow client costs a descriptor and a buffer, never a worker.

A connection is read until its request head is complete (a blank line),
within ``Limits.header_timeout`` of being accepted and ``Limits.max_request``
bytes; only then is it handed to the worker pool, which turns the request
into reply bytes (the compute API may be slow, so this is not done on the
loop); the loop writes those back within ``Limits.write_timeout``. One
request per connection (HTTP/1.0, as before).

Who a connection is from is its *source*: the listener it came in on (one
network) and its address. A source holds at most ``Limits.per_source``
connections (more are closed as they are accepted) and has at most
``Limits.busy_per_source`` requests with the workers at once (the rest wait
their turn, in arrival order). When ``Limits.total`` connections are open, a
new one displaces the oldest unfinished request head of the source holding
the most, if that source holds at least two more than the newcomer's;
otherwise the newcomer is closed.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

log = logging.getLogger("kumo.metadata")

SourceKey = tuple[str, str]
"""(listener label, client address): one instance on one network."""

Answer = Callable[[str, tuple[str, int], bytes], bytes]
"""(listener label, client (address, port), request head) → reply bytes;
run on a worker."""

_ACCEPT_BATCH = 256  # per listener and wakeup: a burst is shed, others still get a turn
_READ_SIZE = 4096


@dataclass(frozen=True)
class Limits:
    per_source: int = 8
    """Open connections from one address on one network."""
    total: int = 512
    """Open connections on this host."""
    busy_per_source: int = 2
    """Requests of one source being answered at once."""
    header_timeout: float = 3.0
    """Seconds from accept to a complete request head."""
    write_timeout: float = 5.0
    """Seconds to write a reply."""
    max_request: int = 8192
    """Bytes of request head."""


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    label: str
    addr: tuple[str, int]
    deadline: float
    buf: bytearray = field(default_factory=bytearray)
    out: memoryview | None = None
    """The reply still to write (None: not answered yet)."""
    registered: bool = True
    """With the selector (while reading, and while a reply waits for room)."""
    closed: bool = False

    @property
    def source(self) -> SourceKey:
        return (self.label, self.addr[0])


class Connections:
    def __init__(self, answer: Answer, limits: Limits | None = None, workers: int = 8) -> None:
        self.answer = answer
        self.limits = limits or Limits()
        self.workers = workers
        self.stats = {"accepted": 0, "refused": 0, "displaced": 0, "timed_out": 0, "stalled": 0}
        """Connections accepted; closed at once (over a cap); closed for a
        newcomer at the total cap; closed at a deadline; replies that waited
        for the client to read."""
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)  # a full pipe wakes the loop already
        self._wake_lock = threading.Lock()  # a late worker never writes to a reused descriptor
        self._closed = False
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._listeners: dict[str, socket.socket] = {}
        self._conns: dict[int, _Conn] = {}
        self._reading: dict[int, _Conn] = {}  # accept order = deadline order
        self._writing: dict[int, _Conn] = {}  # write start order = deadline order
        self._per_source: dict[SourceKey, int] = {}
        self._waiting: deque[_Conn] = deque()  # complete heads, arrival order
        self._busy: dict[SourceKey, int] = {}
        self._in_flight = 0
        self._done: queue.SimpleQueue[tuple[_Conn, bytes | None]] = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metadata")

    # -- called from any thread -----------------------------------------------------------

    def wake(self) -> None:
        """Make a ``step`` in progress return now."""
        with self._wake_lock:
            if self._closed:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    @property
    def open_count(self) -> int:
        return len(self._conns)

    def held(self, label: str, address: str) -> int:
        """Open connections from ``address`` through ``label``'s listener."""
        return self._per_source.get((label, address), 0)

    # -- called from the loop thread only -------------------------------------------------

    def listen(self, label: str, sock: socket.socket) -> None:
        """Accept on ``sock`` (listening, non-blocking) as ``label``."""
        self.forget(label)
        self._listeners[label] = sock
        self._selector.register(sock, selectors.EVENT_READ, label)

    def forget(self, label: str) -> None:
        """Close ``label``'s listener and every connection that came through it."""
        sock = self._listeners.pop(label, None)
        if sock is not None:
            self._selector.unregister(sock)
            sock.close()
        for conn in [c for c in self._conns.values() if c.label == label]:
            self._close(conn)

    def close(self) -> None:
        for label in list(self._listeners):
            self.forget(label)
        for conn in list(self._conns.values()):
            self._close(conn)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._selector.close()
        with self._wake_lock:
            self._closed = True
            os.close(self._wake_r)
            os.close(self._wake_w)

    def step(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for something to do, then do it."""
        now = time.monotonic()
        timeout = min(timeout, self._next_deadline(now))
        for key, _ in self._selector.select(max(0.0, timeout)):
            if key.fd == self._wake_r:
                _drain(self._wake_r)
            elif isinstance(key.data, str):
                self._accept(key.data, key.fileobj)  # type: ignore[arg-type]
            elif key.data.closed:
                continue  # displaced earlier in this batch
            elif key.data.out is None:
                self._read(key.data)
            else:
                self._write(key.data)
        self._collect()
        self._expire(time.monotonic())
        self._dispatch()

    # -- accepting ------------------------------------------------------------------------

    def _accept(self, label: str, listener: socket.socket) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("metadata: accept on %s: %s", label, exc)
                return
            source = (label, addr[0])
            if not self._admit(source):
                self.stats["refused"] += 1
                _abort(sock)
                continue
            sock.setblocking(False)
            deadline = time.monotonic() + self.limits.header_timeout
            conn = _Conn(sock, label, (addr[0], addr[1]), deadline)
            fd = sock.fileno()
            self._conns[fd] = conn
            self._reading[fd] = conn
            self._per_source[source] = self._per_source.get(source, 0) + 1
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self.stats["accepted"] += 1

    def _admit(self, source: SourceKey) -> bool:
        """Room for one more connection from ``source``, making it if fair."""
        held = self._per_source.get(source, 0)
        if held >= self.limits.per_source:
            return False
        if len(self._conns) < self.limits.total:
            return True
        heaviest = max(self._per_source, key=self._per_source.__getitem__)
        if self._per_source[heaviest] < held + 2:
            return False
        victim = next((c for c in self._reading.values() if c.source == heaviest), None)
        if victim is None:
            return False
        self.stats["displaced"] += 1
        self._close(victim)
        return True

    # -- reading --------------------------------------------------------------------------

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            self._close(conn)  # gone before its request was complete
            return
        conn.buf += data
        end = _head_end(conn.buf)
        if end < 0:
            if len(conn.buf) > self.limits.max_request:
                self._close(conn)
            return
        del conn.buf[end:]  # a body (GET and HEAD have none) is not read
        del self._reading[conn.sock.fileno()]
        self._selector.unregister(conn.sock)  # nothing to wait for until the reply
        conn.registered = False
        self._waiting.append(conn)

    # -- answering ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if not self._waiting or self._in_flight >= self.workers:
            return
        held: deque[_Conn] = deque()
        cap = self.limits.busy_per_source
        while self._waiting and self._in_flight < self.workers:
            conn = self._waiting.popleft()
            if conn.closed:
                continue
            if self._busy.get(conn.source, 0) >= cap:
                held.append(conn)
                continue
            self._busy[conn.source] = self._busy.get(conn.source, 0) + 1
            self._in_flight += 1
            self._pool.submit(self._work, conn)
        held.extend(self._waiting)
        self._waiting = held

    def _work(self, conn: _Conn) -> None:
        reply: bytes | None = None
        try:
            reply = self.answer(conn.label, conn.addr, bytes(conn.buf))
        except Exception:  # noqa: BLE001 - one bad request never stops the server
            log.exception("metadata: request from %s in %s failed", conn.addr[0], conn.label)
        self._done.put((conn, reply))
        self.wake()

    def _collect(self) -> None:
        while True:
            try:
                conn, reply = self._done.get_nowait()
            except queue.Empty:
                return
            self._in_flight -= 1
            left = self._busy[conn.source] - 1
            if left:
                self._busy[conn.source] = left
            else:
                del self._busy[conn.source]
            if conn.closed:
                continue
            if not reply:
                self._close(conn)
                continue
            conn.out = memoryview(reply)
            conn.deadline = time.monotonic() + self.limits.write_timeout
            self._writing[conn.sock.fileno()] = conn
            self._write(conn)

    # -- writing --------------------------------------------------------------------------

    def _write(self, conn: _Conn) -> None:
        assert conn.out is not None
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        conn.out = conn.out[sent:]
        if conn.out:
            if not conn.registered:
                self._selector.register(conn.sock, selectors.EVENT_WRITE, conn)
                conn.registered = True
                self.stats["stalled"] += 1
            return
        self._close(conn, finished=True)

    # -- deadlines ------------------------------------------------------------------------

    def _next_deadline(self, now: float) -> float:
        """Seconds to the earliest deadline (each dict is in deadline order)."""
        firsts = [next(iter(d.values())).deadline for d in (self._reading, self._writing) if d]
        return min(firsts, default=now + 3600.0) - now

    def _expire(self, now: float) -> None:
        for pending in (self._reading, self._writing):
            while pending:
                conn = next(iter(pending.values()))
                if conn.deadline > now:
                    break
                self.stats["timed_out"] += 1
                self._close(conn)

    def _close(self, conn: _Conn, finished: bool = False) -> None:
        """Forget ``conn`` and close it (``finished``: its reply was written)."""
        if conn.closed:
            return
        conn.closed = True
        fd = conn.sock.fileno()
        self._conns.pop(fd, None)
        self._reading.pop(fd, None)
        self._writing.pop(fd, None)
        left = self._per_source[conn.source] - 1
        if left:
            self._per_source[conn.source] = left
        else:
            del self._per_source[conn.source]
        if conn.registered:
            self._selector.unregister(conn.sock)
        if finished:
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        conn.sock.close()


def _head_end(buf: bytearray) -> int:
    """Where the request head ends (after its blank line), or -1."""
    ends = [at + len(blank) for blank in (b"\r\n\r\n", b"\n\n") if (at := buf.find(blank)) >= 0]
    return min(ends, default=-1)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def _abort(sock: socket.socket) -> None:
    """Close at once, with a reset: nothing is kept for the connection."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
