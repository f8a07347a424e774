"""dns-integration from the compute side: a server's ports carry its
hostname as their ``dns_name`` (made or given ports); a given port named
otherwise is refused (Nova's PortNotUsableDNS); detaching a given port
clears its ``dns_name``."""

from __future__ import annotations

from tests.compute.conftest import Cloud, N
from tests.compute.test_servers import boot


def _port(cloud: Cloud, h: dict[str, str], net: str, **body: str) -> str:
    r = cloud.c.post(N + "/ports", headers=h, json={"port": {"network_id": net, **body}})
    assert r.status_code == 201, r.text
    return str(r.json()["port"]["id"])


def test_server_ports_carry_the_hostname(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    sid = boot(cloud, alice, "Web Server_1", [{"uuid": net}])
    (port,) = cloud.ports_of(sid)
    assert port["dns_name"] == "web-server-1"
    ip = port["fixed_ips"][0]["ip_address"]
    assert port["dns_assignment"] == [
        {"hostname": "web-server-1", "ip_address": ip, "fqdn": "web-server-1.openstacklocal."}
    ]

    pid = _port(cloud, alice, net, dns_name="other")
    r = boot(cloud, alice, "db", [{"port": pid}], status=400)
    assert r["badRequest"]["message"].endswith(
        "assigned to dns_name attribute does not match instance's hostname db"
    )
    given = _port(cloud, alice, net)
    sid = boot(cloud, alice, "db", [{"port": given}])
    cloud.activate(sid)
    assert cloud.c.get(N + f"/ports/{given}", headers=alice).json()["port"]["dns_name"] == "db"
    r = cloud.c.delete(f"/compute/v2.1/servers/{sid}/os-interface/{given}", headers=alice)
    assert r.status_code == 202, r.text
    kept = cloud.c.get(N + f"/ports/{given}", headers=alice).json()["port"]
    assert kept["dns_name"] == "" and kept["device_id"] == ""
