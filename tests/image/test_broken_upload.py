"""A broken upload leaves the image ``killed`` and no file behind.

The connection tests run the app in a real uvicorn server and break the
upload the way a client does: it closes the socket part way through the
body it declared, or part way through a chunked body.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from kumo.api.app import create_app
from kumo.errors import BadRequest
from tests.image.conftest import G, ImageCloud


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(cloud: ImageCloud) -> Iterator[int]:
    port = _free_port()
    config = uvicorn.Config(
        create_app(cloud.rt), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield port
    srv.should_exit = True
    thread.join(10)


def _status_when_settled(cloud: ImageCloud, h: dict[str, str], image_id: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        status: str = cloud.show(h, image_id)["status"]
        if status != "saving" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def _send_and_hang_up(port: int, token: str, image_id: str, head: str, body: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            (
                f"PUT {G}/images/{image_id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n{head}\r\n"
            ).encode()
            + body
        )
        time.sleep(0.5)  # the server has begun saving the bytes
        sock.shutdown(socket.SHUT_RDWR)


def test_client_disconnect_mid_body_kills_the_image(cloud: ImageCloud, server: int) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="cut")
    head = f"Content-Length: {8 << 20}\r\n"
    _send_and_hang_up(server, alice["X-Auth-Token"], image["id"], head, b"x" * (3 << 20))
    assert _status_when_settled(cloud, alice, image["id"]) == "killed"
    assert cloud.files() == []
    r = cloud.c.get(f"{G}/images/{image['id']}/file", headers=alice)
    assert r.status_code == 204
    # A killed image takes no more data.
    assert cloud.upload(alice, image["id"], b"again").status_code == 409


def test_client_disconnect_mid_chunked_body_kills_the_image(cloud: ImageCloud, server: int) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="chunked")
    piece = b"y" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(40))
    _send_and_hang_up(
        server, alice["X-Auth-Token"], image["id"], "Transfer-Encoding: chunked\r\n", chunks
    )
    assert _status_when_settled(cloud, alice, image["id"]) == "killed"
    assert cloud.files() == []


def test_fewer_bytes_than_declared_kills_the_image(cloud: ImageCloud) -> None:
    """The service's own check, for servers that end a short body without a disconnect."""
    alice = cloud.member("alice")
    image = cloud.create(alice, name="short")
    ctx = cloud.rt.identity.validate_token(alice["X-Auth-Token"])
    up = cloud.rt.image.start_upload(ctx, image["id"], 10)
    assert cloud.show(alice, image["id"])["status"] == "saving"
    up.write(b"12345")
    assert len(cloud.files()) == 1 and cloud.files()[0].endswith(".part")
    with pytest.raises(BadRequest):
        up.complete()
    assert cloud.show(alice, image["id"])["status"] == "killed"
    assert cloud.files() == []


def test_an_image_deleted_while_uploading_keeps_no_data(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="gone")
    ctx = cloud.rt.identity.validate_token(alice["X-Auth-Token"])
    up = cloud.rt.image.start_upload(ctx, image["id"], None)
    up.write(b"some bytes")
    assert cloud.c.delete(f"{G}/images/{image['id']}", headers=alice).status_code == 204
    with pytest.raises(Exception) as info:
        up.complete()
    assert getattr(info.value, "status", None) == 410
    assert cloud.files() == []
