"""The console sessions gauge follows the serial console's websocket: one
while a session is open, back to none once the client has closed it.

The session is a VM's serial console: a unix socket that answers like
QEMU's (it takes one client and echoes what it gets) stands in for the VM.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from kumo.db.compute_models import ConsoleToken
from kumo.identity.keys import KeyRing
from tests.network.conftest import Cloud, open_cloud
from tests.telemetry.test_api_metrics import _samples

SESSIONS = ("kumo_console_sessions", ())
OPENED = ("kumo_console_sessions_opened_total", ())


@pytest.fixture
def serial_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "serial.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def echo() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    try:
        yield path
    finally:
        server.close()


def _console_path(cloud: Cloud, sock: Path) -> str:
    """A console URL's path for the VM serial socket ``sock``, made as the API makes one."""
    nonce = uuid.uuid4().hex
    claims = {"server": "s", "socket": str(sock), "exp": time.time() + 60, "nonce": nonce}
    token = KeyRing(cloud.rt.db, "console").encrypt(json.dumps(claims).encode())
    with cloud.rt.db.engine.begin() as conn:
        conn.execute(
            insert(ConsoleToken).values(
                nonce=nonce, server_id="s", expires_at=dt.datetime(2999, 1, 1)
            )
        )
    return f"/compute/console?token={token}"


def _value(cloud: Cloud, key: tuple[str, tuple[()]]) -> float:
    return float(_samples(cloud.c.get("/metrics").text).get(key, 0.0))


def test_console_sessions_gauge_counts_open_sessions(
    db_url: str, tmp_path: Path, serial_socket: Path
) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        opened = _value(cloud, OPENED)
        assert _value(cloud, SESSIONS) == 0
        with cloud.c.websocket_connect(_console_path(cloud, serial_socket)) as ws:
            ws.send_bytes(b"hello\n")
            assert ws.receive_bytes() == b"hello\n"
            assert _value(cloud, SESSIONS) == 1
            assert _value(cloud, OPENED) == opened + 1
        deadline = time.monotonic() + 5
        while _value(cloud, SESSIONS) != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _value(cloud, SESSIONS) == 0
        assert _value(cloud, OPENED) == opened + 1


def test_a_refused_console_opens_no_session(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        opened = _value(cloud, OPENED)
        path = _console_path(cloud, tmp_path / "no-such.sock")
        with pytest.raises(Exception), cloud.c.websocket_connect(path):  # noqa: B017, PT011
            pass
        assert _value(cloud, SESSIONS) == 0
        assert _value(cloud, OPENED) == opened
