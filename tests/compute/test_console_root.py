"""Root test: the serial console's websocket on a live API server: its shell
runs in the instance's UTS namespace (``hostname`` prints the instance's
name), and a client closing it ends the session quietly (no traceback in
the server's log)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid

import pytest
from sqlalchemy import create_engine, insert
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from kumo.dataplane import uts
from kumo.db.compute_models import ConsoleToken
from kumo.db.engine import Database
from kumo.identity.keys import KeyRing
from tests.dataplane.rootlab import sh
from tests.live import LiveServer

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def _console_url(server: LiveServer, ns: str) -> str:
    """A console URL for namespace ``ns``, made as the API makes one."""
    nonce = uuid.uuid4().hex
    claims = {"server": "s", "netns": ns, "exp": time.time() + 60, "nonce": nonce}
    db = Database(server.database_url)
    try:
        token = KeyRing(db, "console").encrypt(json.dumps(claims).encode())
    finally:
        db.dispose()
    engine = create_engine(server.database_url)
    with engine.begin() as conn:
        conn.execute(
            insert(ConsoleToken).values(
                nonce=nonce, server_id="s", expires_at=dt.datetime(2999, 1, 1)
            )
        )
    engine.dispose()
    return server.base.replace("http", "ws", 1) + f"/compute/console?token={token}"


def test_client_closing_the_console_logs_no_traceback(live_server: LiveServer) -> None:
    ns = f"kc{uuid.uuid4().hex[:10]}"
    sh("ip", "netns", "add", ns)
    log = live_server.state_dir / "server.log"
    try:
        uts.create(ns, f"console-{ns}")  # as the host agent makes an instance's
        for _ in range(3):
            before = log.stat().st_size
            url = _console_url(live_server, ns)
            with connect(url, subprotocols=[Subprotocol("binary")], open_timeout=10) as ws:
                ws.send(b"echo kumo-$((6*7)) $(hostname); sleep 0.3; echo more; echo more\n")
                expected = f"kumo-42 console-{ns}".encode()
                seen = b""
                deadline = time.monotonic() + 10
                while expected not in seen and time.monotonic() < deadline:
                    got = ws.recv(timeout=5)
                    seen += got if isinstance(got, bytes) else got.encode()
                assert expected in seen, seen
            time.sleep(1.0)  # the shell's next output meets a closed socket
            with open(log, "rb") as f:
                f.seek(before)
                written = f.read().decode(errors="replace")
            assert "Traceback" not in written, written
    finally:
        sh("ip", "netns", "del", ns, check=False)
        uts.remove(ns)
