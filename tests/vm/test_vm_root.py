"""One real VM, booted once, checked end to end: the cirros bundle (the
installed one, or built now) boots under QEMU in a throwaway namespace, its
tap on a bridge beside a veth to a "peer" namespace that runs busybox
udhcpd (with an option 121 route to 169.254.169.254) and busybox httpd
serving ``meta_data.json`` and a user-data script on 169.254.169.254. Then:
the guest leases its address, fetches its metadata, ``ssh cirros@vm
hostname`` (with the key from the metadata) prints the metadata's
hostname, the user data ran once, pause/unpause work, a NIC hot-plugs in
and out, and the ACPI power button turns the guest off cleanly in time.
Boot → SSH time and the idle RSS are printed (docs/PERFORMANCE.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kumo.guestimage import build
from kumo.vm.runner import VmRunner, VmState
from kumo.vm.spec import Nic, VmSpec, tap_name

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(
        not all(shutil.which(p) for p in ("qemu-system-x86_64", "qemu-img", "ssh", "busybox")),
        reason="needs qemu-system-x86, qemu-utils, openssh-client, busybox",
    ),
]

SERVER = "c1a55e00-0000-4000-8000-00000000c0de"
PORT = "b0a7d000-0000-4000-8000-000000000001"
PORT2 = "b0a7d002-0000-4000-8000-000000000002"
MAC = "fa:16:3e:12:34:56"
HOSTNAME = "kumo-guest-1"
VM_IP = "10.99.0.50"
PEER_IP = "10.99.0.1"
BOOT_TIMEOUT = 180.0


def sh(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result


def guest_image(tmp: Path) -> Path:
    """``KUMO_TEST_GUEST_IMAGE`` (a bundle of ``kumo image build --output DIR``),
    else the installed image, else one built here."""
    if chosen := os.environ.get("KUMO_TEST_GUEST_IMAGE"):
        return Path(chosen)
    installed, _ = build.paths(build.DEFAULT_OUTPUT)
    if installed.is_file():
        return installed
    return build.build(tmp / "images", build.DEFAULT_CACHE).image


@dataclass
class Lab:
    tag: str
    root: Path
    key: Path
    procs: list[subprocess.Popen[bytes]]

    @property
    def vm_ns(self) -> str:
        return f"kgv{self.tag}"

    @property
    def peer_ns(self) -> str:
        return f"kgp{self.tag}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    # A short directory: unix socket paths must fit in 107 bytes.
    root = Path(f"/tmp/kgvm-{uuid.uuid4().hex[:6]}")
    root.mkdir()
    tag = root.name[-6:]
    lab = Lab(tag, root, root / "id_ed25519", [])
    try:
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kumo-test", "-f", str(lab.key))
        for ns in (lab.vm_ns, lab.peer_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", lab.vm_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", lab.vm_ns, "link", "set", "br0", "up")
        sh("ip", "-n", lab.vm_ns, "link", "add", "v0", "type", "veth",
           "peer", "name", "p0", "netns", lab.peer_ns)  # fmt: skip
        sh("ip", "-n", lab.vm_ns, "link", "set", "v0", "master", "br0", "up")
        sh("ip", "-n", lab.peer_ns, "addr", "add", f"{PEER_IP}/24", "dev", "p0")
        sh("ip", "-n", lab.peer_ns, "addr", "add", "169.254.169.254/32", "dev", "p0")
        sh("ip", "-n", lab.peer_ns, "link", "set", "p0", "up")
        _serve(lab)
        yield lab
    finally:
        for proc in lab.procs:
            proc.kill()
            proc.wait()
        for ns in (lab.vm_ns, lab.peer_ns):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _serve(lab: Lab) -> None:
    www = lab.root / "www" / "openstack" / "latest"
    www.mkdir(parents=True)
    meta = {
        "uuid": SERVER,
        "name": "guest one",
        "hostname": HOSTNAME,
        "public_keys": {"test": (lab.key.with_suffix(".pub")).read_text().strip()},
        "keys": [],
        "meta": {},
    }
    (www / "meta_data.json").write_text(json.dumps(meta))
    (www / "user_data").write_text(
        "#!/bin/sh\necho \"ran as $(id -u) at $(cut -d' ' -f1 /proc/uptime)\" >> /home/cirros/ud\n"
    )
    leases = lab.root / "udhcpd.leases"
    leases.touch()
    conf = lab.root / "udhcpd.conf"
    conf.write_text(
        f"start {VM_IP}\nend {VM_IP}\ninterface p0\nlease_file {leases}\n"
        f"pidfile {lab.root}/udhcpd.pid\nopt subnet 255.255.255.0\nopt router {PEER_IP}\n"
        f"opt dns {PEER_IP}\nopt domain kumo.test\nopt lease 3600\n"
        f"opt staticroutes 169.254.169.254/32 {PEER_IP} 0.0.0.0/0 {PEER_IP}\n"
    )
    netns = ["ip", "netns", "exec", lab.peer_ns, "busybox"]
    for argv in (
        [*netns, "udhcpd", "-f", "-a", "100", str(conf)],  # ARP probe 100 ms, not 2 s
        [*netns, "httpd", "-f", "-p", "169.254.169.254:80", "-h", str(lab.root / "www")],
    ):
        lab.procs.append(
            subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )


def _ssh(lab: Lab, command: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return sh(
        "ip", "netns", "exec", lab.peer_ns,
        "ssh", "-i", str(lab.key), "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        "-o", "ConnectTimeout=2", "-o", "BatchMode=yes",
        f"cirros@{VM_IP}", command,
        check=False, timeout=timeout,
    )  # fmt: skip


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_vm_boots_takes_metadata_answers_ssh_and_powers_off(
    lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    image = guest_image(tmp_path_factory.mktemp("guest"))
    runner = VmRunner(lab.root / "run", lab.root / "cache")
    nic = Nic(PORT, MAC, tap_name(PORT))
    spec = VmSpec(SERVER, vcpus=1, ram_mb=128, disk_gb=1, image=image, nics=(nic,),
                  netns=lab.vm_ns, uuid=SERVER)  # fmt: skip
    started = time.monotonic()
    runner.create(spec)
    try:
        sh("ip", "-n", lab.vm_ns, "link", "set", nic.tap, "master", "br0")
        assert runner.state(SERVER) is VmState.RUNNING
        assert runner.names() == [SERVER]

        # Boot → SSH: the key and the hostname come from the metadata.
        deadline = started + BOOT_TIMEOUT
        while True:
            result = _ssh(lab, "hostname")
            if result.returncode == 0:
                break
            assert time.monotonic() < deadline, (
                (lab.root / "run")
                .joinpath("vms", SERVER, "console.log")
                .read_text(errors="replace")[-3000:]
            )
            time.sleep(1)
        boot_to_ssh = time.monotonic() - started
        assert result.stdout.strip() == HOSTNAME

        facts = _ssh(lab, "cat /home/cirros/ud; cat /etc/resolv.conf; ip -4 route; id").stdout
        assert facts.count("ran as 0") == 1, facts
        assert "nameserver 10.99.0.1" in facts and "search kumo.test" in facts
        assert "169.254.169.254 via 10.99.0.1" in facts
        assert "uid=1000(cirros)" in facts
        console = runner.paths(SERVER).console_log.read_text(errors="replace")
        assert "] metadata from http://169.254.169.254" in console

        pid = runner.pid(SERVER)
        assert pid is not None
        time.sleep(3)
        rss_mib = _rss_kib(pid) / 1024
        chosen = json.loads((lab.root / "run" / "accel.json").read_text())["accel"]
        up = [line for line in console.splitlines() if line.endswith("] up")]
        print(
            f"\nboot→ssh {boot_to_ssh:.1f} s (guest {up[-1] if up else '?'}), "
            f"idle RSS {rss_mib:.0f} MiB, accel {chosen}"
        )
        if os.environ.get("KUMO_TEST_SHOW_CONSOLE"):
            print(console)
        assert chosen in ("tcg", "kvm")

        # A restarted agent finds the VM again (a new runner, same directory).
        again = VmRunner(lab.root / "run", lab.root / "cache")
        assert again.pid(SERVER) == pid

        runner.pause(SERVER)
        assert runner.state(SERVER) is VmState.PAUSED
        runner.unpause(SERVER)
        assert runner.state(SERVER) is VmState.RUNNING

        # NIC hot-plug: the guest sees a second interface, then loses it.
        second = Nic(PORT2, "fa:16:3e:12:34:57", tap_name(PORT2))
        runner.attach_nic(SERVER, second)
        assert _wait(lambda: "fa:16:3e:12:34:57" in _ssh(lab, "ip -o link").stdout, 30)
        assert [n.port_id for n in runner.spec(SERVER).nics] == [PORT, PORT2]
        runner.detach_nic(SERVER, PORT2, timeout=30)
        assert "fa:16:3e:12:34:57" not in _ssh(lab, "ip -o link").stdout
        assert sh("ip", "-n", lab.vm_ns, "link", "show", second.tap, check=False).returncode != 0

        # The power button: a clean poweroff (the guest's shutdown hook ran).
        down = time.monotonic()
        assert runner.powerdown(SERVER, timeout=60) is True
        powerdown_s = time.monotonic() - down
        print(f"powerdown {powerdown_s:.1f} s")
        assert runner.pid(SERVER) is None
        assert runner.state(SERVER) is VmState.SHUTOFF
        assert "kumo: shutting down" in runner.paths(SERVER).console_log.read_text(errors="replace")
    finally:
        runner.delete(SERVER)
    assert not runner.paths(SERVER).directory.exists()
    assert sh("ip", "-n", lab.vm_ns, "link", "show", nic.tap, check=False).returncode != 0


def _wait(predicate: object, timeout: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(1)
    return False
