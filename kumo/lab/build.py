"""Create and remove the lab's namespaces and links (idempotent, via ``ip``)."""

from __future__ import annotations

import re
import shutil
import subprocess

from kumo.compiler import names
from kumo.dataplane import netns as netnslib
from kumo.lab.naming import host_stem
from kumo.lab.topology import UPSTREAM_IP, Topology, make


class LabError(RuntimeError):
    pass


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def batch(netns: str | None, lines: list[str]) -> None:
    """Run many ``ip`` commands in one process (``ip -batch``)."""
    cmd = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    result = subprocess.run(
        cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: {result.stderr.strip()}")


def existing_namespaces() -> set[str]:
    out = ip("netns", "list", check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def sysctl(netns: str, key: str, value: str) -> None:
    subprocess.run(
        ["ip", "netns", "exec", netns, "sysctl", "-qw", f"{key}={value}"],
        capture_output=True,
        text=True,
        timeout=10,
    )


def _bridge_ns(netns: str) -> None:
    ip("netns", "add", netns)
    batch(netns, ["link set lo up", "link add br0 type bridge", "link set br0 up"])
    sysctl(netns, "net.bridge.bridge-nf-call-iptables", "0")
    sysctl(netns, "net.bridge.bridge-nf-call-ip6tables", "0")


def create(topo: Topology) -> None:
    """Build the whole topology; leftovers of an earlier lab are removed first."""
    destroy(topo)
    for ns in (topo.underlay, topo.physnet, topo.external, *(p.netns for p in topo.physnets)):
        _bridge_ns(ns)
    ip("netns", "add", topo.upstream)
    ip(
        "-n",
        topo.external,
        "link",
        "add",
        "up0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        topo.upstream,
    )
    batch(topo.external, ["link set up0 master br0 up"])
    batch(
        topo.upstream, ["link set lo up", f"addr add {UPSTREAM_IP}/24 dev eth0", "link set eth0 up"]
    )
    for host in topo.hosts:
        ns = host.netns
        ip("netns", "add", ns)
        further = {p.name: p.netns for p in topo.physnets}
        for seg_ns, dev, tag in (
            (topo.underlay, host.underlay_dev, "u"),
            (topo.physnet, host.physnet_dev, "p"),
            (topo.external, host.external_dev, "e"),
            *((further[name], dev, "p") for name, dev in host.more_physnets),
        ):
            peer = f"{tag}{host.index}"
            ip("-n", seg_ns, "link", "add", peer, "type", "veth", "peer", "name", dev, "netns", ns)
            batch(seg_ns, [f"link set {peer} master br0 up"])
        batch(
            ns,
            [
                "link set lo up",
                f"addr add {host.tunnel_ip}/24 dev {host.underlay_dev}",
                f"link set {host.underlay_dev} up",
                f"link set {host.physnet_dev} up",
                f"link set {host.external_dev} up",
                *(f"link set {dev} up" for _, dev in host.more_physnets),
            ],
        )
        sysctl(ns, "net.ipv4.ip_forward", "1")
        sysctl(ns, "net.ipv6.conf.all.forwarding", "1")
        # Every new namespace starts with bridged traffic sent through
        # iptables/conntrack; nothing filters here yet, so turn it off.
        sysctl(ns, "net.bridge.bridge-nf-call-iptables", "0")
        sysctl(ns, "net.bridge.bridge-nf-call-ip6tables", "0")


def destroy(topo: Topology) -> list[str]:
    """Remove the lab's namespaces and every instance, router and metadata
    namespace of its hosts."""
    return destroy_named(list(topo.namespaces), [h.name for h in topo.hosts])


def destroy_named(namespaces: list[str], host_names: list[str]) -> list[str]:
    """Remove ``namespaces`` and the instance, router and metadata
    namespaces of ``host_names`` (named after the host, so never another
    lab's: no two labs share a host name)."""
    present = existing_namespaces()
    prefixes = tuple(names.instance_netns_prefix(h) for h in host_names)
    wanted = set(namespaces)
    doomed = [
        ns
        for ns in present
        if ns in wanted
        or ns.startswith(prefixes)
        or any(names.is_router_netns(ns, h) or names.is_metadata_netns(ns, h) for h in host_names)
    ]
    for ns in doomed:
        try:
            netnslib.remove(ns)  # stops what runs inside (an instance's DHCP client) first
        except OSError:
            ip("netns", "delete", ns, check=False)
    return doomed


def destroy_leftovers(prefix: str, name: str) -> list[str]:
    """A lab's namespaces when nothing recorded them (its state was lost):
    the exact names its prefix makes, hosts counted from those present."""
    present = existing_namespaces()
    pattern = re.compile(rf"^{re.escape(prefix)}h(\d+)$")
    count = max((int(m.group(1)) for ns in present if (m := pattern.match(ns))), default=0)
    if count == 0 and not any(ns.startswith(prefix) for ns in present):
        return []
    topo = make(max(count, 1), prefix, host_stem(name, prefix))
    return destroy(topo)


def remove_guest_files(host_names: list[str]) -> int:
    """Remove the pid, log and lease files (and web roots) that the hosts'
    instances' guest processes left in the guest run directory, and the
    instances' UTS namespace files, and the run directories of the hosts'
    VMs (their QEMU processes went with the hosts' namespaces)."""
    from kumo.agent.config import VM_ROOT
    from kumo.dataplane import uts
    from kumo.dataplane.guest.processes import RUN_DIR

    prefixes = tuple(names.instance_netns_prefix(h) for h in host_names)
    count = 0
    for host in host_names:
        if host and (VM_ROOT / host).is_dir():
            shutil.rmtree(VM_ROOT / host, ignore_errors=True)
            count += 1
    for netns in uts.list_names():
        if netns.startswith(prefixes):
            uts.remove(netns)
            count += 1
    if not RUN_DIR.is_dir():
        return count
    for entry in RUN_DIR.iterdir():
        if entry.name.startswith(prefixes):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            count += 1
    return count
