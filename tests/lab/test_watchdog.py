"""The lab's supervisor loop on real processes: restarts with backoff,
deliberate stops and starts over its control socket."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.lab.watchdog import Watchdog, request, spawn


@pytest.fixture
def dog(tmp_path: Path) -> Iterator[tuple[Watchdog, list[str]]]:
    notes: list[str] = []
    wd = Watchdog(note=notes.append, on_change=lambda pids: None)
    for key in ("api", "h1"):
        log = tmp_path / f"{key}.log"
        wd.adopt(key, lambda: ["sleep", "60"], log, spawn(["sleep", "60"], log))
    yield wd, notes
    wd.stop_all()


def _until(cond: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_crashed_child_is_restarted_with_growing_delays(dog: tuple[Watchdog, list[str]]) -> None:
    wd, notes = dog
    delays = []
    for _ in range(3):
        pid = wd.children["h1"].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _until(lambda: wd.step(time.monotonic()) or wd.children["h1"].pid is None)
        delays.append(wd.children["h1"].restart_at - time.monotonic())  # type: ignore[operator]
        _until(lambda p=pid: wd.step(time.monotonic()) or wd.children["h1"].pid not in (None, p))
    assert delays[0] < delays[1] < delays[2]
    assert wd.children["h1"].restarts == 3
    assert any("the agent of h1 exited (signal 9)" in n for n in notes)
    assert wd.children["api"].restarts == 0


def test_stop_holds_a_child_until_start(dog: tuple[Watchdog, list[str]], tmp_path: Path) -> None:
    wd, _ = dog
    sock = Path(f"/tmp/kumo-wd-{os.getpid()}.sock")
    wd.listen(sock)
    done = threading.Event()
    loop = threading.Thread(target=wd.run, args=(done.is_set,))
    loop.start()
    try:
        old = wd.children["h1"].pid
        reply = request(sock, {"op": "stop", "target": "h1", "signal": "KILL"})
        assert reply["ok"] and "stopped" in reply["message"]
        time.sleep(1.0)  # past the first restart delay
        assert wd.children["h1"].pid is None
        assert old is not None and not os.path.exists(f"/proc/{old}")
        reply = request(sock, {"op": "start", "target": "h1"})
        assert reply["ok"] and wd.children["h1"].pid not in (None, old)
        status = request(sock, {"op": "status"})
        assert status["children"]["h1"]["held"] is False
        assert not request(sock, {"op": "stop", "target": "nope"})["ok"]
    finally:
        done.set()
        loop.join()
        sock.unlink(missing_ok=True)
