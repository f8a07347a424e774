"""Real VMs end to end on a 3-host lab, one VM boot shared by every check:
``cirros`` registered by the API at its start, a QEMU server on host1 and
a namespace server on host2 on one network behind a router, reaching each
other; a floating IP to the VM; SSH from the upstream with a Nova keypair
prints the server's name; user data ran; the VM outlives its agent's
restart; the serial console and console
log; usage in ``hypervisor show``; ``No valid host was found`` for a
flavor no host has room for; ``server image create --wait`` of the
running VM (its disk into an active image, the guest running on); stop
(QEMU really gone), then the stopped VM rebuilt from that snapshot boots
with the file written before it and SSH works again;
a port hot-plugged and unplugged, and one on an IPv6-only network (its
advertisement's DNS server joins resolv.conf and leaves with it);
block storage (host1 is also the storage host): a volume hot-plugged into the
running VM is its /dev/vdb at once, and what the guest wrote there is
back after a detach and a second attach; a second VM, booted at the same
time as the first, boots from a volume made from ``cirros`` (its root disk
is the volume, served over NBD from host1's storage daemon to host3) on an
IPv6-only network: its hostname and SSH key come from the metadata at
fe80::a9fe:a9fe (SSH from a namespace instance there to its IPv6 address),
its resolver from the advertisements' RDNSS (it resolves that instance's
name to its IPv6 address, AAAA); what it wrote is on the volume, read
back from a namespace instance once the server is gone;
a security group without port 22 blocks SSH; delete removes the VM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.lab.labs import running_lab
from tests.lab.test_secgroups_lab import openstack
from tests.lab.test_servers_lab import show, wait_status
from tests.lab.test_storage_lab import _inside, _mount_path
from tests.lab.test_storage_lab import _until as volume_until

GUEST_IMAGE = Path(os.environ.get("KUMO_TEST_GUEST_IMAGE") or "/var/lib/kumo/images/cirros.tar")
"""The installed guest image, or another bundle (``kumo image build --output DIR``)."""

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(
        not all(shutil.which(p) for p in ("qemu-system-x86_64", "qemu-img", "ssh", "ssh-keygen")),
        reason="needs qemu-system-x86, qemu-utils, openssh-client",
    ),
    pytest.mark.skipif(not GUEST_IMAGE.is_file(), reason="needs `kumo image build`"),
]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    monkeypatch.setenv("KUMO_GUEST_IMAGE", str(GUEST_IMAGE))
    prefix = ""
    try:
        with running_lab(tmp_path, "kvm", "--storage-hosts", "1") as running:
            prefix = running[1]
            yield running
    finally:
        for i in (1, 2, 3):  # the VMs' run directories (QEMU went with the hosts)
            if prefix:
                shutil.rmtree(f"/run/kumo/vms/{prefix}host{i}", ignore_errors=True)


def ssh(prefix: str, key: Path, ip: str, command: str, timeout: float = 15) -> str | None:
    """The command's output over SSH from the upstream namespace; None when
    SSH does not get through."""
    argv = ["ip", "netns", "exec", f"{prefix}up", "ssh", "-i", str(key), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", f"cirros@{ip}", command]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return done.stdout if done.returncode == 0 else None


def wait_ssh(
    prefix: str, key: Path, ip: str, command: str, want: str = "", timeout: float = 240
) -> str:
    """The command's output once SSH gets through (and the output starts with
    ``want``: the guest's SSH server may answer before its init has set the
    hostname from the metadata)."""
    deadline = time.monotonic() + timeout
    while (out := ssh(prefix, key, ip, command)) is None or not out.startswith(want):
        assert time.monotonic() < deadline, f"no SSH to {ip} within {timeout} s: {out!r}"
        time.sleep(2)
    return out


def ssh_from(state: Path, server: str, key: Path, ip: str, command: str) -> str | None:
    """The command's output over SSH from the namespace instance ``server``
    (its own network namespace: to an address only it reaches); None when
    SSH does not get through."""
    argv = [str(Path(sys.executable).parent / "kumo"), "exec", server, "--state-dir", str(state),
            "--", "ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", f"cirros@{ip}",
            command]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return None
    return done.stdout if done.returncode == 0 else None


def wait_ssh_from(
    state: Path, server: str, key: Path, ip: str, command: str, want: str, timeout: float = 240
) -> str:
    """``ssh_from``'s output once it holds ``want``."""
    deadline = time.monotonic() + timeout
    while want not in (out := ssh_from(state, server, key, ip, command) or ""):
        assert time.monotonic() < deadline, f"no {want!r} over SSH to {ip} in {timeout} s: {out!r}"
        time.sleep(2)
    return out


def qemu_pids(server_id: str) -> str:
    found = subprocess.run(["pgrep", "-f", f"guest={server_id},"], capture_output=True, text=True)
    return found.stdout


def qemu_running(server_id: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"guest={server_id},"], capture_output=True)
    return found.returncode == 0


def serial_banner(url: str) -> bytes:
    from websockets.sync.client import connect

    out = b""
    with connect(url, subprotocols=["binary"]) as ws:  # type: ignore[list-item]
        ws.send(b"\n")
        deadline = time.monotonic() + 20
        while b"cirros" not in out and time.monotonic() < deadline:
            try:
                got = ws.recv(timeout=1)
            except TimeoutError:
                continue
            out += got if isinstance(got, bytes) else got.encode()
    return out


@pytest.mark.timeout(1200)
def test_a_vm_and_a_namespace_instance(lab: tuple[Path, str], tmp_path: Path) -> None:
    state, prefix = lab
    images = json.loads(openstack(state, "image", "list", "-f", "json", "--long"))
    cirros = next(i for i in images if i["Name"] == "cirros")
    assert cirros["Status"] == "active" and cirros["Disk Format"] == "qcow2"

    openstack(state, "network", "create", "net1")
    openstack(state, "subnet", "create", "--network", "net1", "--subnet-range", "10.92.1.0/24",
              "sub1")  # fmt: skip
    openstack(state, "router", "create", "r1")
    openstack(state, "router", "set", "--external-gateway", "public", "r1")
    openstack(state, "router", "add", "subnet", "r1", "sub1")
    openstack(state, "network", "create", "net6")  # IPv6 only, no router
    openstack(state, "subnet", "create", "--network", "net6", "--ip-version", "6",
              "--ipv6-ra-mode", "dhcpv6-stateless", "--ipv6-address-mode", "dhcpv6-stateless",
              "--subnet-range", "fd92:6::/64", "sub6")  # fmt: skip
    for group, ports in (("ssh", ("22", "80")), ("nossh", ("80",))):
        openstack(state, "security", "group", "create", group)
        openstack(state, "security", "group", "rule", "create", "--protocol", "icmp", group)
        for port in ports:
            openstack(state, "security", "group", "rule", "create", "--protocol", "tcp",
                      "--dst-port", port, group)  # fmt: skip
    openstack(state, "security", "group", "rule", "create", "--ethertype", "IPv6",
              "--protocol", "tcp", "--dst-port", "22", "ssh")  # fmt: skip
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    openstack(state, "keypair", "create", "--public-key", f"{key}.pub", "k1")
    user_data = tmp_path / "user-data"
    # (user data runs as root: it lets user cirros use the disks plugged later)
    user_data.write_text("#!/bin/sh\necho written-by-user-data > /home/cirros/user-data.txt\n"
                         "(while sleep 1; do chmod 666 /dev/vd[b-z] 2>/dev/null; done) &\n")  # fmt: skip

    # a bootable volume made from the image, and a blank one
    openstack(state, "volume", "create", "--image", "cirros", "--size", "1", "bootvol")
    openstack(state, "volume", "create", "--size", "1", "data1")
    boot_volume = volume_until(state, "bootvol", "available")
    assert boot_volume["bootable"] in ("true", True), boot_volume
    assert boot_volume["volume_image_metadata"]["image_id"] == cirros["ID"], boot_volume
    data1 = volume_until(state, "data1", "available")

    started = time.monotonic()
    openstack(state, "server", "create", "--image", "cirros", "--flavor", "m1.tiny",
              "--network", "net1", "--security-group", "ssh", "--key-name", "k1",
              "--user-data", str(user_data), "--availability-zone", f"nova:{prefix}host1",
              "vm1")  # fmt: skip
    openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
              "--network", "net1", "--security-group", "ssh",
              "--availability-zone", f"nova:{prefix}host2", "ns1")  # fmt: skip
    openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
              "--network", "net6", "--availability-zone", f"nova:{prefix}host2", "ns6")  # fmt: skip
    openstack(state, "server", "create", "--volume", "bootvol", "--flavor", "m1.tiny",
              "--network", "net6", "--security-group", "ssh", "--key-name", "k1",
              "--availability-zone", f"nova:{prefix}host3", "bfv1")  # fmt: skip
    vm = wait_status(state, "vm1", "ACTIVE", timeout=180)
    ns = wait_status(state, "ns1", "ACTIVE")
    assert vm["OS-EXT-SRV-ATTR:host"] == f"{prefix}host1"
    assert ns["OS-EXT-SRV-ATTR:host"] == f"{prefix}host2"
    vm_id = str(vm["id"])
    assert qemu_running(vm_id)
    (vm_ip,) = dict(vm["addresses"])["net1"]  # type: ignore[arg-type]
    (ns_ip,) = dict(ns["addresses"])["net1"]  # type: ignore[arg-type]

    fip = openstack(state, "floating", "ip", "create", "public", "-f", "value",
                    "-c", "floating_ip_address").strip()  # fmt: skip
    openstack(state, "server", "add", "floating", "ip", "vm1", fip)

    # SSH with the Nova keypair: the guest took its name and user data from metadata
    name = wait_ssh(prefix, key, fip, "hostname", want="vm1").strip()
    booted = time.monotonic() - started
    assert name.split(".")[0] == "vm1", name
    assert ssh(prefix, key, fip, "cat /home/cirros/user-data.txt") == "written-by-user-data\n"

    # a volume hot-plugged into the running VM: /dev/vdb in the guest at once;
    # written, detached (flushed), attached again: the data is back
    openstack(state, "server", "add", "volume", "vm1", "data1")
    volume_until(state, "data1", "in-use")
    serial = "test -w /dev/vdb && cat /sys/block/vdb/serial"
    assert wait_ssh(prefix, key, fip, serial, want=data1["id"][:20], timeout=60)
    wrote = ssh(prefix, key, fip, "echo kumo-volume-data | dd of=/dev/vdb conv=fsync 2>/dev/null"
                " && echo ok")  # fmt: skip
    assert wrote == "ok\n", wrote
    openstack(state, "server", "remove", "volume", "vm1", "data1")
    volume_until(state, "data1", "available")  # only once host1 let go of it
    assert ssh(prefix, key, fip, "test -e /dev/vdb || echo gone") == "gone\n"
    openstack(state, "server", "add", "volume", "vm1", "data1")
    volume_until(state, "data1", "in-use")
    assert wait_ssh(prefix, key, fip, serial, want=data1["id"][:20], timeout=60)
    assert ssh(prefix, key, fip, "head -c 17 /dev/vdb") == "kumo-volume-data\n"
    openstack(state, "server", "remove", "volume", "vm1", "data1")
    volume_until(state, "data1", "available")

    # the VM booted from a volume: its root disk is the volume, over NBD
    bfv = wait_status(state, "bfv1", "ACTIVE", timeout=180)
    assert bfv["image"] in ("", "N/A (booted from volume)"), bfv["image"]
    assert boot_volume["id"] in json.dumps(bfv["volumes_attached"]), bfv
    # ... on an IPv6-only network: its key and hostname from the metadata at
    # fe80::a9fe:a9fe, SSH from ns6 (a namespace instance on net6) to its IPv6 address
    (bfv_ip6,) = dict(bfv["addresses"])["net6"]  # type: ignore[arg-type]
    ns6 = wait_status(state, "ns6", "ACTIVE")
    (ns_ip6,) = dict(ns6["addresses"])["net6"]  # type: ignore[arg-type]
    name = wait_ssh_from(state, "ns6", key, bfv_ip6, "hostname", want="bfv1")
    assert name.split(".")[0] == "bfv1", name
    log = openstack(state, "console", "log", "show", "bfv1")
    assert "metadata from http://[fe80::a9fe:a9fe%eth0]" in log, log
    # its resolver from the advertisements' RDNSS: the host's, which names ns6 (AAAA)
    resolv = wait_ssh_from(state, "ns6", key, bfv_ip6, "cat /etc/resolv.conf",
                           want="nameserver fe80::a9fe:a9fe%eth0")  # fmt: skip
    assert "search openstacklocal" in resolv, resolv
    found = ssh_from(state, "ns6", key, bfv_ip6, "nslookup -type=AAAA ns6")
    assert found is not None and f"Address: {ns_ip6}" in found, found
    assert ssh_from(state, "ns6", key, bfv_ip6,
                    "echo on-the-volume > /home/cirros/bfv.txt && sync") == ""  # fmt: skip
    assert "nbd://" in subprocess.run(["pgrep", "-af", f"guest={bfv['id']},"],
                                      capture_output=True, text=True).stdout  # fmt: skip
    openstack(state, "server", "delete", "--wait", "bfv1")
    volume_until(state, "bootvol", "available")  # not deleted with its server
    openstack(state, "server", "add", "volume", "ns1", "bootvol")
    where = _mount_path(state, "ns1", boot_volume["id"])
    assert _inside(state, "ns1", f"cat {where}/home/cirros/bfv.txt") == "on-the-volume\n"
    openstack(state, "server", "remove", "volume", "ns1", "bootvol")
    volume_until(state, "bootvol", "available")

    # an agent restart kills no VM: the new agent finds it and leaves it be
    host1 = f"{prefix}host1"
    qemu_pid = qemu_pids(vm_id)
    old = LabState.load(state).pids[host1]  # type: ignore[union-attr]
    supervisor.control(state, "restart", host1, "KILL")
    supervisor.wait_restarted(state, host1, old)
    time.sleep(5)
    assert qemu_pids(vm_id) == qemu_pid
    assert show(state, "vm1")["status"] == "ACTIVE"
    assert ssh(prefix, key, fip, "true") == ""

    # the VM on host1 and the namespace instance on host2 reach each other
    ping = subprocess.run([str(Path(sys.executable).parent / "kumo"), "exec", "ns1",
                           "--state-dir", str(state), "--", "ping", "-c", "2", "-W", "2", vm_ip],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr
    page = ssh(prefix, key, fip, f"wget -q -O - http://{ns_ip}/ >/dev/null && echo reached")
    assert page == "reached\n"

    # the serial console and the console log
    url = openstack(state, "console", "url", "show", "--serial", "vm1", "-f", "value", "-c", "url")
    assert b"cirros" in serial_banner(url.strip())
    log = openstack(state, "console", "log", "show", "vm1")
    assert "kumo:" in log and "user data" in log
    # both through host1's agent's console endpoint (after its restart: on a new port)
    agents = json.loads(openstack(state, "network", "agent", "list", "--host", host1, "-f", "json"))
    agent_id = next(a["ID"] for a in agents if a["Binary"] == "kumo-agent")
    shown = json.loads(openstack(state, "network", "agent", "show", agent_id, "-f", "json"))
    assert str(shown["configuration"]["console_url"]).startswith("http://127.0.0.1:"), shown

    # capacity: the hypervisor shows the VM's flavor, a flavor nothing fits is refused
    hyper = json.loads(openstack(state, "hypervisor", "show", f"{prefix}host1", "-f", "json"))
    assert hyper["hypervisor_type"] == "QEMU"
    assert hyper["vcpus_used"] >= 1 and hyper["memory_mb_used"] >= 512
    memory = int(hyper["memory_mb"])
    openstack(state, "flavor", "create", "--ram", str(memory * 2), "--vcpus", "1", "--disk", "1",
              "huge")  # fmt: skip
    openstack(state, "server", "create", "--image", "cirros", "--flavor", "huge",
              "--network", "net1", "big")  # fmt: skip
    big = show(state, "big")
    assert big["status"] == "ERROR", big
    assert "No valid host was found" in str(big["fault"])

    # a snapshot of the running VM (paused for the copy, running again after)
    assert ssh(prefix, key, fip, "echo snapped > /home/cirros/snap.txt && sync") == ""
    started_snapshot = time.monotonic()
    openstack(state, "server", "image", "create", "--wait", "--name", "snap1", "vm1")
    snapshot_took = time.monotonic() - started_snapshot
    snap = json.loads(openstack(state, "image", "show", "snap1", "-f", "json"))
    assert snap["status"] == "active" and snap["size"] > 0, snap
    props = snap["properties"]
    assert props["image_type"] == "snapshot" and props["instance_uuid"] == vm_id, props
    assert props["base_image_ref"] == cirros["ID"] and snap["visibility"] == "private"
    assert show(state, "vm1")["OS-EXT-STS:task_state"] is None
    assert qemu_pids(vm_id) == qemu_pid and ssh(prefix, key, fip, "true") == ""

    # stop: SHUTOFF only once QEMU is gone; then the stopped VM rebuilt from the
    # snapshot boots (the one boot this test adds nothing for) with its data
    openstack(state, "server", "stop", "vm1")
    wait_status(state, "vm1", "SHUTOFF", timeout=120)
    assert not qemu_running(vm_id)
    assert show(state, "vm1")["OS-EXT-STS:power_state"] in (4, "Shutdown")
    openstack(state, "server", "rebuild", "--image", "snap1", "vm1")
    wait_status(state, "vm1", "ACTIVE", timeout=120)
    assert qemu_running(vm_id)
    assert snap["id"] in str(show(state, "vm1")["image"])  # "snap1 (<id>)"
    assert wait_ssh(prefix, key, fip, "cat /home/cirros/snap.txt", want="snapped") == "snapped\n"
    assert wait_ssh(prefix, key, fip, "hostname", want="vm1").split(".")[0] == "vm1"

    # a port hot-plugged over QMP: the guest leases its address on the new NIC
    # (a network without a gateway: the guest's replies keep leaving by eth0)
    openstack(state, "network", "create", "net2")
    openstack(state, "subnet", "create", "--network", "net2", "--subnet-range", "10.92.2.0/24",
              "--gateway", "none", "sub2")  # fmt: skip
    port = json.loads(openstack(state, "port", "create", "--network", "net2",
                                "--security-group", "ssh", "extra", "-f", "json"))  # fmt: skip
    extra_ip = port["fixed_ips"][0]["ip_address"]
    openstack(state, "server", "add", "port", "vm1", "extra")
    deadline = time.monotonic() + 90
    while extra_ip not in (ssh(prefix, key, fip, "ip -4 -o addr") or ""):
        assert time.monotonic() < deadline, f"{extra_ip} never appeared in the guest"
        time.sleep(2)
    openstack(state, "server", "remove", "port", "vm1", "extra")
    deadline = time.monotonic() + 60
    while extra_ip in (ssh(prefix, key, fip, "ip -4 -o addr") or extra_ip):
        assert time.monotonic() < deadline, f"{extra_ip} still in the guest"
        time.sleep(2)

    # a port on the IPv6-only network hot-plugged (dual-stack now): the RDNSS
    # server joins the lease's in resolv.conf, after it, and leaves with the port
    openstack(state, "port", "create", "--network", "net6", "extra6")
    openstack(state, "server", "add", "port", "vm1", "extra6")
    resolv = wait_ssh(prefix, key, fip, "grep -q a9fe:a9fe /etc/resolv.conf && cat /etc/resolv.conf",
                      want="search")  # fmt: skip
    servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
    assert servers[0] == "169.254.169.254" and servers[1].startswith("fe80::a9fe:a9fe%eth"), resolv
    openstack(state, "server", "remove", "port", "vm1", "extra6")
    deadline = time.monotonic() + 60
    while "a9fe:a9fe" in (ssh(prefix, key, fip, "cat /etc/resolv.conf") or "a9fe:a9fe"):
        assert time.monotonic() < deadline, "the unplugged NIC's resolver is still in resolv.conf"
        time.sleep(2)

    # a security group without port 22 blocks SSH (the VM still answers pings)
    (vm_port,) = openstack(state, "port", "list", "--server", "vm1", "-f", "value",
                           "-c", "ID").split()  # fmt: skip
    openstack(state, "port", "set", "--no-security-group", "--security-group", "nossh", vm_port)
    deadline = time.monotonic() + 30
    while ssh(prefix, key, fip, "true", timeout=8) is not None:
        assert time.monotonic() < deadline, "SSH still gets through without port 22"
        time.sleep(1)
    up = subprocess.run(["ip", "netns", "exec", f"{prefix}up", "ping", "-c", "2", "-W", "2", fip],
                        capture_output=True, timeout=30)  # fmt: skip
    assert up.returncode == 0

    openstack(state, "server", "delete", "--wait", "vm1")
    deadline = time.monotonic() + 30
    while Path(f"/run/kumo/vms/{prefix}host1/vms/{vm_id}").exists() or qemu_running(vm_id):
        assert time.monotonic() < deadline, "the VM outlived its server"
        time.sleep(0.5)
    print(f"boot to SSH: {booted:.1f} s; snapshot of the running VM: {snapshot_took:.1f} s")
