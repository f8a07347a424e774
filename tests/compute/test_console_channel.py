"""Consoles across machines: the API reads a VM's console log and opens
its serial console at its host agent's console endpoint when it cannot
see the VM's run directory (the agent reports its endpoint, no
``vm_dir``). The endpoint here is the agent's own (``ConsoleServer``)
with a stand-in serial port (a unix socket that greets and echoes), its
key fetched over the internal API with the host's enrolment credential;
it refuses requests without a fresh credential made for it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.testclient import WebSocketDenialResponse

from kumo.agent import console_credential
from kumo.agent.console_server import ConsoleServer
from kumo.image.guest import CIRROS_ID
from tests.agent.test_agent_credentials import enroll
from tests.compute.conftest import Cloud
from tests.compute.test_vm_console import _serial_port, short_dir
from tests.compute.test_vm_servers import QEMU_HOST, vmcloud

__all__ = ["short_dir", "vmcloud"]


@pytest.fixture
def endpoint(vmcloud: Cloud, short_dir: Path) -> Iterator[ConsoleServer]:
    """kvm2's agent's console endpoint, its VMs in a directory the API is not told of."""
    cloud = vmcloud
    agent, _ = enroll(cloud, "kvm2")

    def key() -> bytes:
        r = cloud.c.get("/internal/v1/console-key?host=kvm2", headers=agent)
        assert r.status_code == 200, r.text
        return base64.b64decode(r.json()["console_key"]["key"])

    server = ConsoleServer("kvm2", key, short_dir / "kvm2")
    server.start()
    server.key()  # fetched once, here (the agent fetches it on first use)
    cloud.host("kvm2", vcpus=4, memory_mb=8192, console_url=server.url, **QEMU_HOST)
    yield server
    server.stop()


def test_the_api_reads_the_log_and_opens_the_console_through_the_agent(
    vmcloud: Cloud, endpoint: ConsoleServer, short_dir: Path
) -> None:
    cloud = vmcloud
    body = {"server": {"name": "vm2", "imageRef": CIRROS_ID, "flavorRef": "1",
                       "networks": "none", "availability_zone": "nova:kvm2"}}  # fmt: skip
    sid = cloud.post(cloud.admin, "/servers", body)["server"]["id"]
    run = short_dir / "kvm2" / "vms" / sid
    listener = _serial_port(run / "console.sock")
    (run / "console.log").write_text("SeaBIOS\nLinux version 6.1\nvm2 login: \n")
    try:
        out = cloud.post(cloud.admin, f"/servers/{sid}/action",
                         {"os-getConsoleOutput": {"length": 2}}, status=200)  # fmt: skip
        assert out["output"] == "Linux version 6.1\nvm2 login: "
        got = cloud.post(cloud.admin, f"/servers/{sid}/remote-consoles",
                         {"remote_console": {"protocol": "serial", "type": "serial"}}, status=200)  # fmt: skip
        url = urlsplit(got["remote_console"]["url"])
        with cloud.c.websocket_connect(f"{url.path}?{url.query}", subprotocols=["binary"]) as ws:
            assert ws.receive_bytes() == b"vm-on-host2 login: "
            ws.send_bytes(b"cirros\n")
            assert ws.receive_bytes() == b"CIRROS\n"
        # the API's credentials were spent: the endpoint holds their nonces
        assert len(endpoint.nonces) == 2
    finally:
        listener.close()


def test_the_endpoint_opens_nothing_without_a_fresh_credential_for_it(
    vmcloud: Cloud, endpoint: ConsoleServer
) -> None:
    cloud = vmcloud
    http = httpx.Client()
    log = f"{endpoint.url}/v1/servers/s1/console-log"
    assert http.get(log).status_code == 401
    # what a user holds: an identity token, or a console URL's token
    user = {"Authorization": f"Kumo-Console {cloud.admin['X-Auth-Token']}"}
    assert http.get(log, headers=user).status_code == 401
    secret = cloud.rt.compute.console_channel.secret()
    good = console_credential.mint(console_credential.host_key(secret, "kvm2"), "kvm2", "s1", "log")
    # another host's key (what kvm1's agent holds), then the right one twice
    kvm1 = console_credential.host_key(secret, "kvm1")
    forged = console_credential.mint(kvm1, "kvm2", "s1", "log")
    assert http.get(log, headers={"Authorization": f"Kumo-Console {forged}"}).status_code == 401
    assert http.get(log, headers={"Authorization": f"Kumo-Console {good}"}).status_code == 200
    assert http.get(log, headers={"Authorization": f"Kumo-Console {good}"}).status_code == 401
    # an agent reads its own host's key only
    kvm1_agent, _ = enroll(cloud, "kvm1")
    r = cloud.c.get("/internal/v1/console-key?host=kvm2", headers=kvm1_agent)
    assert r.status_code == 403, r.text
    assert cloud.c.get("/internal/v1/console-key?host=kvm1", headers=kvm1_agent).status_code == 200


def test_a_silent_agent_gives_a_conflict_and_a_refused_console(
    vmcloud: Cloud, endpoint: ConsoleServer
) -> None:
    cloud = vmcloud
    body = {"server": {"name": "vm3", "imageRef": CIRROS_ID, "flavorRef": "1",
                       "networks": "none", "availability_zone": "nova:kvm2"}}  # fmt: skip
    sid = cloud.post(cloud.admin, "/servers", body)["server"]["id"]
    endpoint.stop()
    r = cloud.c.post(f"/compute/v2.1/servers/{sid}/action", headers=cloud.admin,
                     json={"os-getConsoleOutput": {}})  # fmt: skip
    assert r.status_code == 409, r.text
    assert "not available" in r.json()["conflictingRequest"]["message"]
    got = cloud.post(cloud.admin, f"/servers/{sid}/remote-consoles",
                     {"remote_console": {"protocol": "serial", "type": "serial"}}, status=200)  # fmt: skip
    url = urlsplit(got["remote_console"]["url"])
    path = f"{url.path}?{url.query}"
    with pytest.raises(WebSocketDenialResponse) as refused, cloud.c.websocket_connect(path):
        pass
    assert refused.value.status_code == 401
    assert "console is not available" in refused.value.text
