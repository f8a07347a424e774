"""DNS integration over HTTP: dns_name and dns_assignment on ports, dns_domain
on networks, dns_name/dns_domain on floating IPs, and their validation."""

from __future__ import annotations

import pytest

from kumo.network import dns
from tests.network.conftest import Cloud, N
from tests.network.test_floatingips import fip
from tests.network.test_routers import external, internal, put


def test_port_dns_name_and_assignment(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    inner = internal(cloud, alice, "10.0.5.0/24")
    net_id = inner["network"]["id"]
    plain = cloud.post(alice, "/ports", {"port": {"network_id": net_id}})["port"]
    ip = plain["fixed_ips"][0]["ip_address"]
    host = "host-" + ip.replace(".", "-")
    assert plain["dns_name"] == ""
    assert plain["dns_assignment"] == [
        {"hostname": host, "ip_address": ip, "fqdn": host + ".openstacklocal."}
    ]
    named = cloud.post(alice, "/ports", {"port": {"network_id": net_id, "dns_name": "web-1"}})
    (a,) = named["port"]["dns_assignment"]
    assert a["hostname"] == "web-1" and a["fqdn"] == "web-1.openstacklocal."
    body = {"port": {"dns_name": "db", "dns_domain": "x.org."}}
    r = put(cloud, alice, f"/ports/{plain['id']}", body)
    assert r.status_code == 200, r.text
    assert r.json()["port"]["dns_domain"] == "x.org."
    assert r.json()["port"]["dns_assignment"][0]["fqdn"] == "db.openstacklocal."
    r = put(cloud, alice, f"/ports/{plain['id']}", {"port": {"dns_name": "db.openstacklocal."}})
    assert r.status_code == 200 and r.json()["port"]["dns_assignment"][0]["hostname"] == "db"
    got = cloud.c.get(N + "/ports", headers=alice, params={"dns_name": "db.openstacklocal."})
    assert [p["id"] for p in got.json()["ports"]] == [plain["id"]]


@pytest.mark.parametrize(
    "bad",
    ["-lead", "trail-", "under_score", "a" * 64, "a..b", "host.123", "x.other.org.", 5, "a b"],
)
def test_port_dns_name_refused(cloud: Cloud, bad: object) -> None:
    alice = cloud.member("alice")
    net_id = internal(cloud, alice, "10.0.6.0/24")["network"]["id"]
    r = cloud.c.post(
        N + "/ports", headers=alice, json={"port": {"network_id": net_id, "dns_name": bad}}
    )
    assert r.status_code == 400, r.text
    assert r.json()["NeutronError"]["type"] in ("BadRequest", "InvalidInput")


def test_network_dns_domain(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.post(alice, "/networks", {"network": {"name": "d", "dns_domain": "corp.example."}})
    assert net["network"]["dns_domain"] == "corp.example."
    r = put(cloud, alice, f"/networks/{net['network']['id']}", {"network": {"dns_domain": ""}})
    assert r.status_code == 200 and r.json()["network"]["dns_domain"] == ""
    for bad in ("bad_domain.", "-x.example.", "a..b.", "x" * 256 + "."):
        r = cloud.c.post(
            N + "/networks", headers=alice, json={"network": {"name": "d", "dns_domain": bad}}
        )
        assert r.status_code == 400, (bad, r.text)


def test_floatingip_dns_name_and_domain(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    ext_id = external(cloud)["network"]["id"]
    f = fip(cloud, alice, ext_id, dns_name="www", dns_domain="example.org.")
    assert f["dns_name"] == "www" and f["dns_domain"] == "example.org."
    shown = cloud.c.get(N + f"/floatingips/{f['id']}", headers=alice).json()["floatingip"]
    assert shown["dns_name"] == "www" and shown["dns_domain"] == "example.org."
    assert fip(cloud, alice, ext_id, 400, dns_name="-bad") in ("BadRequest", "InvalidInput")
    assert fip(cloud, alice, ext_id, 400, dns_domain="bad_dom.") in ("BadRequest", "InvalidInput")


def test_extensions_listed(cloud: Cloud) -> None:
    aliases = {
        e["alias"] for e in cloud.c.get(N + "/extensions", headers=cloud.admin).json()["extensions"]
    }
    assert {"dns-integration", "dns-domain-ports"} <= aliases


def test_assignment_pure() -> None:
    out = dns.assignment("", [{"ip_address": "fd00::5", "subnet_id": "s"}], "cloud.test.")
    assert out == [
        {"hostname": "host-fd00--5", "ip_address": "fd00::5", "fqdn": "host-fd00--5.cloud.test."}
    ]
    assert dns.host_label("My_Server.x") == "myserver" and dns.host_label("123") == ""


def test_dns_domain_keywords(cloud: Cloud) -> None:
    from tests.network.test_routers import events

    alice = cloud.member("alice")
    aliases = {e["alias"] for e in cloud.c.get(N + "/extensions", headers=alice).json()[
        "extensions"]}  # fmt: skip
    assert "dns-integration-domain-keywords" in aliases
    body = {"network": {"name": "kw", "dns_domain": "<project_name>.<project_id>.example."}}
    net = cloud.post(alice, "/networks", body)["network"]
    # shown as given; the hosts get it with the request's values
    assert net["dns_domain"] == "<project_name>.<project_id>.example."
    zone = f"alice.{cloud.projects['alice']}.example."
    assert events(cloud, "network", net["id"])[-1].body["kumo_dns_zone"] == zone
    r = put(cloud, alice, f"/networks/{net['id']}", {"network": {"dns_domain": "<user_name>.x."}})
    assert r.status_code == 200 and r.json()["network"]["dns_domain"] == "<user_name>.x."
    assert events(cloud, "network", net["id"])[-1].body["kumo_dns_zone"] == "alice.x."
    # ports and floating IPs take them too; an unknown keyword is no label
    inner = internal(cloud, alice, "10.0.9.0/24")["network"]["id"]
    port = cloud.post(alice, "/ports", {"port": {"network_id": inner,
                                                 "dns_domain": "<user_id>.example."}})  # fmt: skip
    assert port["port"]["dns_domain"] == "<user_id>.example."
    for bad in ("<tenant>.example.", "<project_name.example.", "<project_id>"):
        r = cloud.c.post(N + "/networks", headers=alice,
                         json={"network": {"dns_domain": bad}})  # fmt: skip
        assert r.status_code == 400, (bad, r.text)


def test_keywords_expand() -> None:
    values = {"project_id": "p1", "project_name": "demo", "user_id": "", "user_name": "u"}
    assert dns.expand("<project_name>.<user_name>.<user_id>.x.", values) == "demo.u.<user_id>.x."
