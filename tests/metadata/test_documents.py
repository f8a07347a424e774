"""The metadata documents and paths, and who gets them (no sockets)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from kumo.compiler import ClusterView, compile_host
from kumo.metadata.documents import answer, instance_from
from kumo.metadata.server import MetadataServer
from tests.compiler import states as s

SERVER_ID = "5e1f0000-0000-4000-8000-000000000001"
SERVER: dict[str, Any] = {
    "id": SERVER_ID,
    "name": "web 1",
    "tenant_id": "proj",
    "user_id": "alice",
    "key_name": "k1",
    "metadata": {"role": "web"},
    "OS-EXT-AZ:availability_zone": "nova",
    "OS-EXT-SRV-ATTR:hostname": "web-1",
    "OS-EXT-SRV-ATTR:user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
    "OS-EXT-SRV-ATTR:launch_index": 0,
    "OS-EXT-SRV-ATTR:reservation_id": "r-abc",
    "flavor": {"original_name": "m1.tiny"},
    "security_groups": [{"name": "default"}],
}


def view(*extra_ports: Mapping[str, Any]) -> ClusterView:
    ports = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")],
               device_id=SERVER_ID),
        s.port(s.P3, s.NET2, "fa:16:3e:00:00:03", "host-a", [("s2", "10.0.0.11")],
               owner="compute:lab"),
        *extra_ports,
    ]  # fmt: skip
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
        [
            s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1", dns_nameservers=["192.0.2.53"]),
            s.subnet("s2", s.NET2, "10.0.0.0/24", "10.0.0.1"),
        ],
        ports,
        s.AGENTS,
        floatingips=[{"id": "f1", "floating_ip_address": "203.0.113.9",
                      "floating_network_id": "ext", "port_id": s.P1,
                      "fixed_ip_address": "10.0.0.11", "router_id": "r1"}],
    )  # fmt: skip


def text(path: str) -> str:
    inst = instance_from(SERVER, view(), "10.0.0.11")
    reply = answer(path, inst)
    assert reply.status == 200, (path, reply)
    return reply.body.decode()


def test_openstack_documents() -> None:
    meta = json.loads(text("/openstack/latest/meta_data.json"))
    assert meta["uuid"] == SERVER_ID and meta["name"] == "web 1"
    assert meta["hostname"] == "web-1.novalocal"
    assert meta["meta"] == {"role": "web"} and meta["availability_zone"] == "nova"
    assert meta["project_id"] == "proj" and meta["launch_index"] == 0
    # dated versions serve what latest serves
    assert json.loads(text("/openstack/2018-08-27/meta_data.json")) == meta
    assert text("/openstack/latest/user_data") == "#!/bin/sh\necho hi\n"
    assert "2012-08-10" in text("/openstack").split("\n") and "latest" in text("/openstack/")
    assert "user_data" in text("/openstack/latest").split("\n")
    net = json.loads(text("/openstack/latest/network_data.json"))
    (link,) = net["links"]
    assert link["ethernet_mac_address"] == "fa:16:3e:00:00:01" and link["vif_id"] == s.P1
    (network,) = net["networks"]
    assert network["ip_address"] == "10.0.0.11" and network["netmask"] == "255.255.255.0"
    assert network["routes"][0] == {"network": "0.0.0.0", "netmask": "0.0.0.0",
                                    "gateway": "10.0.0.1"}  # fmt: skip
    assert net["services"] == [{"type": "dns", "address": "192.0.2.53"}]


def test_ec2_tree() -> None:
    listing = text("/latest/meta-data/").split("\n")
    assert {"instance-id", "hostname", "local-ipv4", "placement/", "public-ipv4"} <= set(listing)
    assert text("/latest/meta-data/instance-id") == "i-5e1f0000"
    assert text("/latest/meta-data/local-hostname") == "web-1.novalocal"
    assert text("/latest/meta-data/local-ipv4") == "10.0.0.11"
    assert text("/latest/meta-data/public-ipv4") == "203.0.113.9"
    assert text("/2009-04-04/meta-data/placement/availability-zone") == "nova"
    assert text("/latest/user-data") == "#!/bin/sh\necho hi\n"
    assert text("/latest") == "meta-data/\nuser-data"
    assert "2009-04-04" in text("/")


def test_keys() -> None:
    inst = instance_from(SERVER, view(), "10.0.0.11", keys=(_key(),))
    assert answer("/latest/meta-data/public-keys/", inst).body == b"0=k1"
    assert answer("/latest/meta-data/public-keys/0/", inst).body == b"openssh-key"
    assert answer("/latest/meta-data/public-keys/0/openssh-key", inst).body == b"ssh-ed25519 AAA"
    meta = json.loads(answer("/openstack/latest/meta_data.json", inst).body)
    assert meta["public_keys"] == {"k1": "ssh-ed25519 AAA"}
    assert meta["keys"] == [{"name": "k1", "type": "ssh", "data": "ssh-ed25519 AAA"}]
    # without a key there is no public-keys directory
    plain = instance_from(SERVER, view(), "10.0.0.11")
    assert answer("/latest/meta-data/public-keys/", plain).status == 404


def _key() -> Any:
    from kumo.metadata.documents import Key

    return Key("k1", "ssh-ed25519 AAA")


def test_unknown_paths_and_no_user_data() -> None:
    inst = instance_from({**SERVER, "OS-EXT-SRV-ATTR:user_data": None}, view(), "10.0.0.11")
    for path in ("/openstack/latest/user_data", "/latest/user-data", "/nope",
                 "/openstack/1999-01-01/meta_data.json", "/openstack/latest/x.json",
                 "/latest/meta-data/instance-id/x", "/latest/meta-data/nope",
                 "/openstack/latest/meta_data.json/x"):  # fmt: skip
        assert answer(path, inst).status == 404, path
    assert "user_data" not in answer("/openstack/latest", inst).body.decode()


class FakeSource:
    def __init__(self) -> None:
        self.servers = {SERVER_ID: SERVER}
        self.calls: list[str] = []

    def server(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        self.calls.append(server_id)
        return self.servers.get(server_id)

    def public_key(self, server: Mapping[str, Any], port_id: str) -> str | None:
        return "ssh-ed25519 AAA" if server.get("key_name") == "k1" else None


def test_the_caller_is_the_port_with_that_address_on_that_network() -> None:
    v = view()
    plan = compile_host("host-a", v)
    by_net = {e.network_id: e for e in plan.metadata}
    server = MetadataServer(FakeSource())
    server.update(plan.metadata, v)
    ns1, ns2 = by_net[s.NET1].netns, by_net[s.NET2].netns
    reply = server.reply(ns1, "/openstack/latest/meta_data.json?x=1", "10.0.0.11")
    assert reply.status == 200 and json.loads(reply.body)["uuid"] == SERVER_ID
    # the same address on the other network is a lab instance: no server there
    other = server.reply(ns2, "/openstack/latest/meta_data.json", "10.0.0.11")
    assert other.status == 404 and b"lab instance" in other.body
    # an address no local port has
    assert server.reply(ns1, "/openstack/latest/meta_data.json", "10.0.0.99").status == 404
    # a namespace that is not (or no longer) in the plan
    server.update((), v)
    assert server.reply(ns1, "/openstack/latest/meta_data.json", "10.0.0.11").status == 404
    server.stop()


def test_a_deleted_server_is_not_found() -> None:
    v = view()
    plan = compile_host("host-a", v)
    source = FakeSource()
    source.servers.clear()
    server = MetadataServer(source)
    server.update(plan.metadata, v)
    ns = next(e.netns for e in plan.metadata if e.network_id == s.NET1)
    reply = server.reply(ns, "/latest/meta-data/", "10.0.0.11")
    assert reply.status == 404 and b"not found" in reply.body
    server.stop()


def test_an_ipv6_caller_is_its_port_by_fixed_or_link_local_address() -> None:
    """Over IPv6 the instance asks fe80::a9fe:a9fe from the link-local
    address its MAC makes (or a fixed IPv6 address); its local-ipv4 is still
    its port's IPv4 address, and the zone of the source is dropped."""
    dual = s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", "host-a",
                  [("s1", "10.0.0.12"), ("s6", "2001:db8:6::2")], device_id=SERVER_ID)  # fmt: skip
    v = ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1"),
         s.subnet("s6", s.NET1, "2001:db8:6::/64", None)],
        [dual], s.AGENTS,
    )  # fmt: skip
    (endpoint,) = compile_host("host-a", v).metadata
    server = MetadataServer(FakeSource())
    server.update((endpoint,), v)
    for source in ("fe80::f816:3eff:fe00:2", "2001:db8:6::2"):
        reply = server.reply(endpoint.netns, "/latest/meta-data/local-ipv4", source)
        assert reply.status == 200 and reply.body == b"10.0.0.12", source
    head = b"GET /openstack/latest/meta_data.json HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = server._answer(endpoint.netns + "/6", ("fe80::f816:3eff:fe00:2%eth0", 4000), head)
    assert raw.startswith(b"HTTP/1.0 200") and SERVER_ID.encode() in raw
    assert (
        server.reply(endpoint.netns, "/latest/meta-data/", "fe80::f816:3eff:fe00:3").status == 404
    )
    server.stop()
