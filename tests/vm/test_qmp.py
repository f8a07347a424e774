"""The QMP client against a fake QEMU that answers and fails as QEMU does."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.vm.qmp import (
    QmpClient,
    QmpClosed,
    QmpCommandError,
    QmpConnectError,
    QmpProtocolError,
    QmpTimeout,
)
from tests.vm.fakeqmp import FakeQmp


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "qmp.sock"


@pytest.fixture
def qemu(sock: Path) -> Iterator[FakeQmp]:
    fake = FakeQmp(sock)
    yield fake
    fake.close()


def test_connect_negotiates_capabilities_and_echoes_ids(qemu: FakeQmp, sock: Path) -> None:
    with QmpClient(sock) as q:
        assert q.greeting["version"]["qemu"]["major"] == 7
        assert q.execute("query-status")["status"] == "running"
    assert [r["execute"] for r in qemu.received] == ["qmp_capabilities", "query-status"]
    assert len({r["id"] for r in qemu.received}) == 2


def test_commands_before_negotiation_are_refused_by_qemu(qemu: FakeQmp, sock: Path) -> None:
    # What the client's negotiation step is for: a raw command is refused.
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(sock))
    reader = raw.makefile("rb")
    reader.readline()
    raw.sendall(b'{"execute": "query-status"}\n')
    assert b"Expecting capabilities negotiation" in reader.readline()
    raw.close()


def test_errors_carry_qemus_class(qemu: FakeQmp, sock: Path) -> None:
    with QmpClient(sock) as q:
        with pytest.raises(QmpCommandError) as err:
            q.execute("device_del", {"id": "nic-nope"})
        assert err.value.cls == "DeviceNotFound"
        with pytest.raises(QmpCommandError) as err:
            q.execute("no-such-command")
        assert err.value.cls == "CommandNotFound"
        # The connection stays usable after an error.
        assert q.execute("query-status")["status"] == "running"


def test_events_before_answers_are_kept_for_wait_event(qemu: FakeQmp, sock: Path) -> None:
    with QmpClient(sock) as q:
        q.execute("stop")  # STOP arrives before the answer
        assert q.execute("query-status")["status"] == "paused"
        assert q.wait_event("STOP", 1.0).name == "STOP"
        q.execute("system_powerdown")
        assert q.wait_event("SHUTDOWN", 2.0).data["reason"] == "guest-shutdown"
        q.execute("device_add", {"driver": "virtio-net-pci", "id": "nic-1"})
        q.execute("device_del", {"id": "nic-1"})
        event = q.wait_event("DEVICE_DELETED", 2.0, {"device": "nic-1"})
        assert event.timestamp > 0


def test_quit_answers_then_closes(qemu: FakeQmp, sock: Path) -> None:
    with QmpClient(sock) as q:
        assert q.execute("quit") == {}
        with pytest.raises(QmpClosed):
            q.wait_event("NEVER", 2.0)
        with pytest.raises(QmpClosed):
            q.execute("query-status")


def test_no_socket_and_nobody_listening(tmp_path: Path) -> None:
    with pytest.raises(QmpConnectError):
        QmpClient(tmp_path / "missing.sock").connect()
    stale = tmp_path / "stale.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(stale))
    server.close()  # the file stays, as after QEMU was killed
    with pytest.raises(QmpConnectError):
        QmpClient(stale).connect()


def test_a_hung_qemu_times_out(sock: Path) -> None:
    fake = FakeQmp(sock, fault="hang")
    try:
        started = time.monotonic()
        with pytest.raises(QmpTimeout):
            QmpClient(sock, timeout=0.3).connect()
        assert time.monotonic() - started < 2
    finally:
        fake.close()


def test_split_messages_are_reassembled(sock: Path) -> None:
    fake = FakeQmp(sock, fault="split")
    try:
        with QmpClient(sock) as q:
            q.execute("stop")
            assert q.execute("query-status")["status"] == "paused"
    finally:
        fake.close()


def test_garbage_is_a_protocol_error(sock: Path) -> None:
    fake = FakeQmp(sock, fault="garbage")
    try:
        q = QmpClient(sock)
        q.connect()
        with pytest.raises(QmpProtocolError):
            q.execute("query-status")
        with pytest.raises(QmpClosed):
            q.execute("query-status")
    finally:
        fake.close()


def test_a_late_answer_to_a_timed_out_call_is_not_taken_for_the_next(sock: Path) -> None:
    fake = FakeQmp(sock, fault="slow")
    try:
        with QmpClient(sock) as q:
            with pytest.raises(QmpTimeout):
                q.execute("query-status", timeout=0.1)
            # The late {"status": "running"} answer arrives first and is skipped.
            q.execute("stop", timeout=3)
            assert q.execute("query-status", timeout=3)["status"] == "paused"
    finally:
        fake.close()
