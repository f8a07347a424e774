"""A VM's serial console through the API's websocket proxy, whichever host
runs it: the URL names the serial socket under the run directory that the
VM's own host's agent reported (``vm_dir``), and the proxy carries bytes
both ways between the websocket and that socket (a stand-in serial port
here: a unix socket server that greets and echoes)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kumo.image.guest import CIRROS_ID
from tests.compute.conftest import Cloud
from tests.compute.test_vm_servers import QEMU_HOST, server, vmcloud

__all__ = ["vmcloud"]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(f"/tmp/kvc-{os.getpid()}-{time.monotonic_ns() % 100000}")  # socket paths <= 107
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _serial_port(path: Path) -> socket.socket:
    """A serial port as QEMU offers one: greets each client, echoes what it types."""
    path.parent.mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"vm-on-host2 login: ")
            while data := conn.recv(1024):
                conn.sendall(data.upper())

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_the_console_reaches_a_vm_on_any_host(vmcloud: Cloud, short_dir: Path) -> None:
    cloud = vmcloud
    for host in ("kvm1", "kvm2"):
        cloud.host(host, vcpus=4, memory_mb=8192, vm_dir=str(short_dir / host), **QEMU_HOST)
    body = {"server": {"name": "vm2", "imageRef": CIRROS_ID, "flavorRef": "1",
                       "networks": "none", "availability_zone": "nova:kvm2"}}  # fmt: skip
    sid = cloud.post(cloud.admin, "/servers", body)["server"]["id"]
    assert server(cloud, cloud.admin, sid)["OS-EXT-SRV-ATTR:host"] == "kvm2"
    listener = _serial_port(short_dir / "kvm2" / "vms" / sid / "console.sock")
    try:
        got = cloud.post(cloud.admin, f"/servers/{sid}/remote-consoles",
                         {"remote_console": {"protocol": "serial", "type": "serial"}}, status=200)  # fmt: skip
        url = urlsplit(got["remote_console"]["url"])
        with cloud.c.websocket_connect(f"{url.path}?{url.query}", subprotocols=["binary"]) as ws:
            assert ws.receive_bytes() == b"vm-on-host2 login: "
            ws.send_bytes(b"cirros\n")
            assert ws.receive_bytes() == b"CIRROS\n"
    finally:
        listener.close()
