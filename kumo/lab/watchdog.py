"""The lab's supervisor loop: keeps the API server and every host's agent
running, restarting one that exits with a growing delay, and obeys
deliberate stops and starts sent over its control socket.

Children are keyed as in ``LabState.pids``: ``api`` and each host's name.
A child stopped on purpose (``kumo lab stop agent host2``) is *held*: the
loop leaves it down until ``kumo lab start``. Every restart is logged to
the lab's ``logs/supervisor.log`` (and the foreground console).

Control protocol: one JSON request per connection on the Unix socket
``/run/kumo/labs/NAME.sock``, ``{"op": "stop"|"start"|"restart"|"status",
"target": KEY, "signal": "TERM"|"KILL"}``; one JSON reply line with
``ok`` and ``message`` (and ``children`` for ``status``).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
STEADY = 30.0
"""A child that ran this long before exiting restarts after BACKOFF_FIRST again."""
STOP_GRACE = 5.0
"""Seconds a child stopped on request has to exit on SIGTERM before it is killed."""
TEARDOWN_GRACE = 0.5
"""The same when the whole lab goes down: its namespaces go with it, so an
agent has nothing to finish (``kumo down`` answers within 5 s)."""


@dataclass
class Child:
    key: str
    command: Callable[[], list[str]]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    held: bool = False
    failures: int = 0
    restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    ready: Callable[[subprocess.Popen[bytes]], None] | None = None
    """Waits until a child started on request serves (the API answers)."""

    @property
    def what(self) -> str:
        return "the API server" if self.key == "api" else f"the agent of {self.key}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A child in its own session (Ctrl-C on the lab's terminal reaches
    only the supervisor), writing to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_processes(
    procs: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM, grace: float = STOP_GRACE
) -> None:
    """Signal every process (and its group) at once; kill what is left
    after ``grace`` seconds; reap them all."""
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc.pid, sig)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        # what the child left in its group (it was its session leader)
        _signal_group(proc.pid, signal.SIGKILL)


@dataclass
class Watchdog:
    note: Callable[[str], None]
    """Where restarts and deliberate stops are reported."""
    on_change: Callable[[dict[str, int]], None]
    """Called with the children's pids whenever one starts."""
    children: dict[str, Child] = field(default_factory=dict)
    stopping: bool = False
    _server: socket.socket | None = None
    _selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)

    def adopt(
        self,
        key: str,
        command: Callable[[], list[str]],
        log: Path,
        proc: subprocess.Popen[bytes],
        ready: Callable[[subprocess.Popen[bytes]], None] | None = None,
    ) -> None:
        self.children[key] = Child(
            key, command, log, proc, started_at=time.monotonic(), ready=ready
        )

    def listen(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        os.chmod(path, 0o600)
        server.listen(8)
        server.setblocking(False)
        self._server = server
        self._selector.register(server, selectors.EVENT_READ)

    # -- the loop -----------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> None:
        while not should_stop():
            for _key, _ in self._selector.select(timeout=0.1):
                self._serve_one()
            self.step(time.monotonic())

    def step(self, now: float) -> None:
        """Reap children that exited; start those whose delay is over."""
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                ran = now - child.started_at
                child.proc = None
                if child.held:
                    continue
                child.failures = 0 if ran >= STEADY else child.failures + 1
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, child.failures - 1))
                child.restart_at = now + delay
                how = f"signal {-code}" if code < 0 else f"code {code}"
                self.note(
                    f"{child.what} exited ({how}) after {ran:.1f} s; "
                    f"restarting in {delay:.1f} s (see {child.log})"
                )
            due = child.restart_at is not None and now >= child.restart_at
            if child.proc is None and not child.held and due:
                child.restarts += 1
                self._start(child, "restarted")

    def _start(self, child: Child, how: str) -> None:
        """Start ``child``, log it, then publish its pid (in that order: who
        sees the new pid finds the log line)."""
        child.proc = spawn(child.command(), child.log)
        child.started_at = time.monotonic()
        child.restart_at = None
        self.note(f"{child.what} {how} (pid {child.pid})")
        self.on_change(self.pids())

    def pids(self) -> dict[str, int]:
        return {k: c.pid for k, c in self.children.items() if c.pid is not None}

    def stop_all(self) -> None:
        """Stop every child at once (the lab is going away: no agent needs
        the API any more)."""
        self.stopping = True
        procs = [c.proc for c in self.children.values() if c.proc is not None]
        stop_processes(procs, grace=TEARDOWN_GRACE)
        for child in self.children.values():
            child.proc = None
        if self._server is not None:
            self._selector.unregister(self._server)
            self._server.close()
            self._server = None

    # -- deliberate stops and starts ----------------------------------------

    def stop(self, key: str, sig: int = signal.SIGTERM) -> str:
        child = self.children[key]
        child.held = True
        child.restart_at = None
        if child.proc is None:
            return f"{child.what} is stopped already"
        pid = child.proc.pid
        stop_processes([child.proc], sig)
        child.proc = None
        self.note(f"{child.what} stopped on request (pid {pid}, {signal.Signals(sig).name})")
        return f"{child.what} stopped (pid {pid})"

    def start(self, key: str) -> str:
        child = self.children[key]
        child.held = False
        child.failures = 0
        if child.proc is not None and child.proc.poll() is None:
            return f"{child.what} runs already (pid {child.pid})"
        self._start(child, "started on request")
        if child.ready is not None and child.proc is not None:
            try:
                child.ready(child.proc)
            except RuntimeError as exc:
                return f"{child.what} started (pid {child.pid}) but is not ready: {exc}"
        return f"{child.what} started (pid {child.pid})"

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return {"ok": True, "message": "", "children": {
                k: {"pid": c.pid, "held": c.held, "restarts": c.restarts}
                for k, c in self.children.items()
            }}  # fmt: skip
        target = str(request.get("target", ""))
        if target not in self.children:
            known = ", ".join(sorted(self.children))
            return {"ok": False, "message": f"no process {target!r} in this lab ({known})"}
        sig = signal.Signals[f"SIG{request.get('signal', 'TERM')}"]
        if op == "stop":
            return {"ok": True, "message": self.stop(target, sig)}
        if op == "start":
            return {"ok": True, "message": self.start(target)}
        if op == "restart":
            first = self.stop(target, sig)
            return {"ok": True, "message": f"{first}; {self.start(target)}"}
        return {"ok": False, "message": f"unknown request {op!r}"}

    def _serve_one(self) -> None:
        assert self._server is not None
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(2)
            try:
                line = conn.makefile("rb").readline()
                reply = self.handle(json.loads(line))
            except (OSError, ValueError, KeyError) as exc:
                reply = {"ok": False, "message": f"bad request: {exc}"}
            try:
                conn.sendall(json.dumps(reply).encode() + b"\n")
            except OSError:
                pass


def request(path: Path, body: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    """Send one control request to a lab's supervisor; its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(json.dumps(body).encode() + b"\n")
        reply = conn.makefile("rb").readline()
    return dict(json.loads(reply))
