"""Instance hostnames: Nova's sanitising, and the hostname each port carries
on the watch feed (``kumo_hostname``) for the agent's UTS namespaces."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kumo.compute.hostnames import port_hostname, sanitize, server_hostname
from kumo.db.outbox_models import OutboxEvent
from kumo.watch import snapshot
from tests.compute.conftest import Cloud, N
from tests.compute.test_servers import boot


@pytest.mark.parametrize(
    ("name", "hostname"),
    [
        ("vm1", "vm1"),
        ("Web Server_1.example.com", "web-server-1-example-com"),  # space _ . become -
        ("a@b!c", "abc"),  # other invalid characters go
        ("--.web.--", "web"),  # no - or . at either end
        ("café", "caf"),  # a valid host name is ASCII
        ("日本web", "web"),
        ("x" * 70, "x" * 63),
        ("a" * 62 + "_b", "a" * 62),  # cut to 63 first, then cleaned
    ],
)
def test_sanitize_as_nova(name: str, hostname: str) -> None:
    assert sanitize(name) == hostname


def test_nothing_left_gives_the_default() -> None:
    assert sanitize("!!!", "fallback") == "fallback"
    assert server_hostname("2f0c", "***") == "Server-2f0c"
    assert server_hostname("2f0c", "Vm 1") == "vm-1"


def test_port_hostname_server_then_port_name_then_address() -> None:
    body: dict[str, Any] = {
        "id": "p1",
        "name": "Lab_VM",
        "device_id": "s1",
        "device_owner": "compute:nova",
        "fixed_ips": [{"subnet_id": "x", "ip_address": "10.0.0.3"}],
    }
    assert port_hostname(body, {"s1": "My Server"}) == "my-server"
    assert port_hostname(body, {}) == "lab-vm"  # no such server: a lab instance's name
    # a router or DHCP port whose device_id is some server's id is no server's port
    assert port_hostname({**body, "device_owner": "network:dhcp"}, {"s1": "x"}) == "lab-vm"
    assert port_hostname({**body, "name": ""}, {}) == "host-10-0-0-3"
    assert port_hostname({**body, "name": "", "fixed_ips": []}, {}) == "port-p1"


def _port_events(cloud: Cloud, port_id: str) -> list[dict[str, Any]]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == "port", OutboxEvent.object_id == port_id)
        return [dict(e.body) for e in s.scalars(q.order_by(OutboxEvent.revision))]


def test_watch_feed_carries_the_servers_hostname(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    server_id = boot(cloud, alice, "Web Server_1", [{"uuid": net}])
    shown = cloud.get(cloud.admin, f"/servers/{server_id}")["server"]
    assert shown["OS-EXT-SRV-ATTR:hostname"] == "web-server-1"
    (port,) = cloud.ports_of(server_id)
    assert "kumo_hostname" not in port  # the Networking API shows no such attribute
    assert _port_events(cloud, port["id"])[-1]["kumo_hostname"] == "web-server-1"

    def listed() -> dict[str, Any]:
        """The port as the watch feed's snapshot (``/internal/v1/list``) has it."""
        _, objects = snapshot.take(cloud.rt.db, cloud.rt.settings, frozenset({"host:host1"}))
        (body,) = [o for o in objects if o["kind"] == "port"]
        return dict(body)

    assert listed()["kumo_hostname"] == "web-server-1"
    # a rename renames the instance: its ports are sent again
    cloud.call("PUT", alice, f"/servers/{server_id}", {"server": {"name": "db 2"}})
    assert _port_events(cloud, port["id"])[-1]["kumo_hostname"] == "db-2"
    assert listed()["kumo_hostname"] == "db-2"


def test_watch_feed_names_a_bare_port_by_its_name(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    body = {"port": {"network_id": net, "name": "Lab VM", "device_owner": "compute:lab"}}
    r = cloud.c.post(N + "/ports", headers=cloud.admin, json=body)
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    assert "kumo_hostname" not in port
    assert _port_events(cloud, port["id"])[-1]["kumo_hostname"] == "lab-vm"
