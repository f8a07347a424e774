"""Golden tests of the ``vms`` stage: a QEMU server's ports become taps in
the same bridge, with the same firewall, DHCP and wiring as a namespace
instance's veth; the server becomes one ``VmPlan``; a namespace server on
the same network stays a namespace."""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, compile_host
from kumo.compiler.names import instance_netns
from kumo.compiler.plan import HostPlan, VmNic, VmPlan
from tests.compiler import states as s
from tests.compiler.test_compile_golden import BR1, VXLAN1, describe, instance_lines

VM = "b1000000-0000-4000-8000-0000000000a1"
NS = "b2000000-0000-4000-8000-0000000000a2"
SUB = "c1000000-0000-4000-8000-000000000001"
SG = "d1000000-0000-4000-8000-000000000001"
MAC1, MAC2, MAC3 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03"


def server(sid: str, driver: str, ports: list[str], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sid, "name": "vm1", "hostname": "vm1", "host": "host-a", "driver": driver,
        "vcpus": 1, "memory_mb": 512, "disk_gb": 1,
        "image": {"id": "img-1", "checksum": "md5", "os_hash_value": "sha-1"},
        "power": "running", "reboots": 0, "reboot_hard": False, "ports": ports,
    }  # fmt: skip
    body.update(extra)
    return body


def plan(servers: list[dict[str, Any]], **port_extra: Any) -> HostPlan:
    ports = [
        s.port(s.P2, s.NET1, MAC2, "host-a", [(SUB, "10.0.0.12")], device_id=VM, **port_extra),
        s.port(s.P1, s.NET1, MAC1, "host-a", [(SUB, "10.0.0.11")], device_id=VM, **port_extra),
        s.port(s.P3, s.NET1, MAC3, "host-a", [(SUB, "10.0.0.13")], device_id=NS),
        s.port(s.P4, s.NET1, "fa:16:3e:00:00:04", "host-b", [(SUB, "10.0.0.14")]),
    ]
    view = ClusterView.from_bodies(
        [s.network(s.NET1)],
        [s.subnet(SUB, s.NET1, "10.0.0.0/24", "10.0.0.1", enable_dhcp=True)],
        ports,
        s.AGENTS,
        security_groups=[{"id": SG, "security_group_rules": []}],
        servers=servers,
    )
    return compile_host("host-a", view)


def test_a_vm_gets_taps_in_the_bridge_and_a_namespace_server_its_namespace() -> None:
    got = plan([server(VM, "qemu", [s.P2, s.P1]), server(NS, "namespace", [s.P3])])
    ns3 = instance_netns("host-a", s.P3)
    assert describe(got) == sorted(
        [
            f"link host {BR1} bridge mtu 1450 up",
            VXLAN1,
            "link host kta1000000000 tap mtu 1450 mac fe:16:3e:00:00:01 up master " + BR1,
            "link host kta2000000000 tap mtu 1450 mac fe:16:3e:00:00:02 up master " + BR1,
            *instance_lines(ns3, "kta3000000000", BR1, MAC3, 1450, hostname=""),
            f"fdb host {VXLAN1.split()[2]} fa:16:3e:00:00:04 master static",
            f"fdb host {VXLAN1.split()[2]} fa:16:3e:00:00:04 self dst 192.0.2.12",
            f"neigh host {VXLAN1.split()[2]} 10.0.0.14 fa:16:3e:00:00:04",
            f"vm {VM} vm1 1cpu 512M 1G image img-1 running reboots 0 nics "
            "kta2000000000=fa:16:3e:00:00:02 kta1000000000=fa:16:3e:00:00:01",
        ]
    )
    (vm,) = got.vms
    assert vm == VmPlan(
        server_id=VM, hostname="vm1", vcpus=1, memory_mb=512, disk_gb=1, image_id="img-1",
        image_hash="sha-1", power="running",
        nics=(VmNic(s.P2, MAC2, "kta2000000000"), VmNic(s.P1, MAC1, "kta1000000000")),
    )  # fmt: skip
    # DHCP answers on the tap as on a veth; the wiring needs the tap in its bridge
    assert {lease.ifname for lease in got.dhcp} == {
        "kta1000000000", "kta2000000000", "kta3000000000",
    }  # fmt: skip
    wiring = {w.port_id: w.requires for w in got.wiring}
    assert ("link", "", "kta1000000000") in wiring[s.P1]
    assert ("master", "", "kta1000000000") in wiring[s.P1]
    assert not any(k[0] == "netns" for k in wiring[s.P1])
    assert {c.port_id for e in got.metadata for c in e.clients} == {s.P1, s.P2, s.P3}


def test_a_vm_port_is_filtered_like_any_other() -> None:
    got = plan([server(VM, "qemu", [s.P1, s.P2])], port_security_enabled=True,
               security_groups=[SG])  # fmt: skip
    filters = {f.port_id: f for f in got.firewall.ports}
    assert filters[s.P1].ifname == "kta1000000000"
    assert filters[s.P1].mac == MAC1
    assert ("firewall", "") in {k for w in got.wiring if w.port_id == s.P1 for k in w.requires}


def test_power_reboots_and_a_server_without_ports() -> None:
    got = plan([server(VM, "qemu", [], power="stopped", reboots=2, reboot_hard=True)])
    (vm,) = got.vms
    assert (vm.power, vm.reboots, vm.reboot_hard) == ("stopped", 2, True)
    assert [n.port_id for n in vm.nics] == [s.P1, s.P2]  # not named: by id
    lonely = plan([server("b3000000-0000-4000-8000-0000000000a3", "qemu", [])])
    assert [v.nics for v in lonely.vms] == [()]


def test_servers_of_other_hosts_and_namespace_servers_are_no_vms() -> None:
    assert plan([server(VM, "qemu", [s.P1], host="host-b")]).vms == frozenset()
    assert plan([server(VM, "namespace", [s.P1])]).vms == frozenset()
    # without its server in the view, a port is an instance namespace (as before)
    assert instance_netns("host-a", s.P1) in {n.name for n in plan([]).netns}
