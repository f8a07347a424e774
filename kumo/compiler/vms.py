"""The ``vms`` stage: servers the QEMU driver runs on this host.

A port whose server (``ServerView``, by the port's ``device_id``) has
driver ``qemu`` is a VM's NIC rather than an instance namespace: its host
side is a persistent tap (``names.tap_name``, the name a namespace
instance's veth host end has, so DHCP, metadata, the firewall's
anti-spoofing and security groups, floating IPs and DVR treat it exactly
the same), plugged into the network's bridge, with the port's MAC in the
guest and the same MAC with the first octet ``fe`` on the host side. The
port is wired once its tap is in the bridge (and its filter in place);
the VM's own state is the VM reconciler's. Each such server becomes a
``VmPlan`` with its NICs in the order of the server's ports.
"""

from __future__ import annotations

from functools import lru_cache

from kumo.compiler import names
from kumo.compiler.model import ClusterView, NetworkView, PortView, ServerView
from kumo.compiler.plan import HOST_NS, Link, ObjectKey, PortWiring, VmNic, VmPlan, VmPower

QEMU = "qemu"


def vm_servers(host: str, view: ClusterView) -> dict[str, ServerView]:
    """The servers of this host that the QEMU driver runs, by id."""
    return {sid: s for sid, s in view.servers.items() if s.host == host and s.driver == QEMU}


def is_vm_port(port: PortView, view: ClusterView) -> bool:
    server = view.servers.get(port.device_id) if port.device_id else None
    return server is not None and server.driver == QEMU and server.host == port.host


def host_mac(mac: str) -> str:
    """The tap's own MAC: the port's with the first octet ``fe`` (a bridge
    never takes the guest's address as its own)."""
    return "fe" + mac[2:]


@lru_cache(maxsize=1 << 12)
def nic_objects(
    bridge: str, network: NetworkView, port: PortView, shared: frozenset[ObjectKey]
) -> tuple[Link, PortWiring]:
    """A VM NIC's tap in the bridge, and what its port's wiring requires."""
    up = port.admin_state_up and network.admin_state_up
    tap = Link(
        HOST_NS,
        names.tap_name(port.id),
        "tap",
        mtu=port.mtu or network.mtu,
        mac=host_mac(port.mac),
        up=up,
        master=bridge,
    )
    return tap, PortWiring(port.id, frozenset({*shared, tap.key, tap.master_key}))


def compile_vms(host: str, view: ClusterView) -> frozenset[VmPlan]:
    out = set()
    for server in vm_servers(host, view).values():
        if server.root_pending:
            continue  # its root volume is still being made
        ports = {
            p.id: p
            for p in view.ports.values()
            if p.device_id == server.id and p.host == host and p.mac
        }
        order = [pid for pid in server.ports if pid in ports]
        order += sorted(set(ports) - set(order))
        nics = tuple(VmNic(pid, ports[pid].mac, names.tap_name(pid)) for pid in order)
        out.add(
            VmPlan(
                server_id=server.id,
                hostname=server.hostname,
                vcpus=server.vcpus,
                memory_mb=server.memory_mb,
                disk_gb=server.disk_gb,
                image_id=server.image_id,
                image_hash=server.image_hash,
                power=_power(server.power),
                reboots=server.reboots,
                reboot_hard=server.reboot_hard,
                rebuilds=server.rebuilds,
                snapshot=server.snapshot,
                nics=nics,
                root_volume=server.root_volume,
            )
        )
    return frozenset(out)


def _power(value: str) -> VmPower:
    if value == "stopped":
        return "stopped"
    if value == "paused":
        return "paused"
    return "running"
