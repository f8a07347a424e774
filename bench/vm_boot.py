"""Where one VM's boot goes, without a lab (needs root, QEMU and a guest bundle).

    .venv/bin/python -m bench.vm_boot [--rounds 5] [--image A.tar [--image B.tar]] \
        [--cpu MODEL [--cpu MODEL]] [--shipped] [--append 'KERNEL ARGS' ...]

One throwaway pair of namespaces (prefix ``kvb``): the VM's, with a bridge,
and a peer's that answers DHCP (busybox ``udhcpd``, ARP probe 100 ms) and
serves the metadata (busybox ``httpd`` on 169.254.169.254: a public key
and a user-data script). Each round creates one VM with kumo's runner
(TCG given, so no KVM probe), bridges its tap, and times from the
``create`` call: QEMU started (``create`` returned), the first ping
answered, the first SSH login (``hostname`` with the key), then waits (30 s at
most) for the cloud stage's last line, the host key's fingerprint, so that
the whole first boot is in CPU seconds too. It also reads
the serial console as it comes: each of the guest's ``kumo: ...`` lines
(and the kernel's hand-over to init) stamped with the host's clock and
with the QEMU process's CPU time so far (the guest's own uptime stamps
are not trusted: a guest that calibrates its clock while the host is
busy keeps a wrong one). CPU time barely moves when other work loads the
machine, wall time does: on a shared machine compare CPU seconds; the
load average is printed. With two ``--image``
bundles the rounds alternate between them (A, B, A, B...), so both see
the same load. With two ``--cpu`` models (QEMU's ``-cpu`` under TCG;
kumo's default when none is given) every image boots with each in turn.
With ``--shipped`` every image also boots from the bundle's own
compressed kernel and initramfs (as hosts did before ``kumo.vm.bootfiles``).
Each ``--append`` adds a variant booted with those kernel arguments too.
With ``--ipv6-only`` the peer answers no DHCPv4: it sends router
advertisements (a SLAAC prefix and fe80::a9fe:a9fe as RDNSS, kumo's own
frames, every 0.5 s) and serves the metadata at fe80::a9fe:a9fe, and the
ping and the SSH login go to the VM's SLAAC address, as for a VM on an
IPv6-only network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import machine
from kumo.compiler.plan import RouterAdvert
from kumo.dataplane import netns
from kumo.dhcp.ra import advert_frame
from kumo.guestimage import build
from kumo.vm import accel, bootfiles, images
from kumo.vm.runner import VmRunner
from kumo.vm.spec import Nic, VmSpec, tap_name

MAC = "fa:16:3e:00:be:01"
VM_IP = "10.98.0.50"
PEER_IP = "10.98.0.1"
PREFIX6 = "fd98::/64"
VM_IP6 = "fd98::f816:3eff:fe00:be01"
"""The VM's address by SLAAC (EUI-64 of ``MAC``)."""
PEER_IP6 = "fd98::1"
TIMEOUT = float(os.environ.get("KUMO_BENCH_TIMEOUT", "300"))
STAMP = re.compile(r"kumo: (?:\[[0-9.]+\] )?(.*)$")
LAST = "ssh host key"
"""The cloud stage's last line on a first boot (then its hot-plug loop)."""
LAST_LINE_WAIT = 30.0
EVENTS = ("Run /init as init process",)
"""Kernel lines stamped too, when the command line lets them through (not with ``quiet``)."""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result


@dataclass
class Net:
    root: Path
    vm_ns: str
    peer_ns: str
    key: Path
    ipv6_only: bool = False

    @property
    def vm_ip(self) -> str:
        return VM_IP6 if self.ipv6_only else VM_IP


def _advertise(peer_ns: str, stop: threading.Event) -> None:
    """Router advertisements on the peer's leg until ``stop``: the prefix for
    SLAAC and the metadata address as the DNS server, as a kumo host sends."""
    advert = RouterAdvert(port_id="bench-port", ifname="p0", src_mac="fa:16:3e:00:be:fe",
                          prefixes=((PREFIX6, True),), managed=False, other=False,
                          router_lifetime=0, rdnss=("fe80::a9fe:a9fe",),
                          dnssl=("openstacklocal",))  # fmt: skip
    with netns.socket_in(peer_ns, socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind(("p0", 0))
        while not stop.wait(0.5):
            sock.send(advert_frame(advert))


@contextmanager
def network(ipv6_only: bool = False) -> Iterator[Net]:
    tag = uuid.uuid4().hex[:6]
    root = Path(f"/tmp/kvb-{tag}")  # short: unix socket paths
    root.mkdir()
    net = Net(root, f"kvb{tag}", f"kvbp{tag}", root / "id_ed25519", ipv6_only)
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    adverts = threading.Thread(target=_advertise, args=(net.peer_ns, stop), daemon=True)
    try:
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(net.key))
        for ns in (net.vm_ns, net.peer_ns):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", net.vm_ns, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", net.vm_ns, "link", "set", "br0", "up")
        sh("ip", "-n", net.vm_ns, "link", "add", "v0", "type", "veth",
           "peer", "name", "p0", "netns", net.peer_ns)  # fmt: skip
        sh("ip", "-n", net.vm_ns, "link", "set", "v0", "master", "br0", "up")
        for addr in (f"{PEER_IP}/24", "169.254.169.254/32"):
            sh("ip", "-n", net.peer_ns, "addr", "add", addr, "dev", "p0")
        for addr in (f"{PEER_IP6}/64", "fe80::a9fe:a9fe/64"):
            sh("ip", "-n", net.peer_ns, "addr", "add", addr, "dev", "p0", "nodad")
        sh("ip", "-n", net.peer_ns, "link", "set", "p0", "up")
        www = root / "www" / "openstack" / "latest"
        www.mkdir(parents=True)
        meta = {"uuid": str(uuid.uuid4()), "name": "bench", "hostname": "bench-vm",
                "public_keys": {"bench": net.key.with_suffix(".pub").read_text().strip()}}  # fmt: skip
        (www / "meta_data.json").write_text(json.dumps(meta))
        (www / "user_data").write_text("#!/bin/sh\necho ran > /tmp/user-data-ran\n")
        (root / "leases").touch()
        conf = root / "udhcpd.conf"
        conf.write_text(
            f"start {VM_IP}\nend {VM_IP}\ninterface p0\nlease_file {root}/leases\n"
            f"pidfile {root}/udhcpd.pid\nopt subnet 255.255.255.0\nopt router {PEER_IP}\n"
            f"opt lease 3600\nopt staticroutes 169.254.169.254/32 {PEER_IP} 0.0.0.0/0 {PEER_IP}\n"
        )
        peer = ["ip", "netns", "exec", net.peer_ns, "busybox"]
        listen = "80" if ipv6_only else "169.254.169.254:80"  # "80": both families
        servers = [[*peer, "httpd", "-f", "-p", listen, "-h", str(root / "www")]]
        if ipv6_only:
            adverts.start()
        else:
            servers.append([*peer, "udhcpd", "-f", "-a", "100", str(conf)])
        for argv in servers:
            procs.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        yield net
    finally:
        stop.set()
        if adverts.is_alive():
            adverts.join()
        for proc in procs:
            proc.kill()
            proc.wait()
        for ns in (net.vm_ns, net.peer_ns):
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _until(check: Callable[[], bool], started: float) -> float:
    while not check():
        if time.monotonic() - started > TIMEOUT:
            raise RuntimeError(f"not within {TIMEOUT} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _pings(net: Net) -> bool:
    argv = ["ip", "netns", "exec", net.peer_ns, "ping", "-c1", "-W", "0.2", net.vm_ip]
    return subprocess.run(argv, capture_output=True).returncode == 0


def _ssh(net: Net) -> bool:
    argv = ["ip", "netns", "exec", net.peer_ns, "ssh", "-i", str(net.key), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=2", f"cirros@{net.vm_ip}", "hostname"]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and done.stdout.strip() == "bench-vm"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Console:
    """Reads a VM's serial console socket; stamps each line of interest with
    (host seconds since ``started``, QEMU CPU seconds)."""

    def __init__(self, path: Path, pid: int, started: float) -> None:
        self.lines: dict[str, tuple[float, float]] = {}
        self.pid, self.started = pid, started
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").strip()
                found = STAMP.search(line)
                what = found.group(1) if found else next((e for e in EVENTS if e in line), None)
                if what and what.startswith(LAST):
                    what = LAST  # one name in every round (not the key's fingerprint)
                if what and what not in self.lines:
                    try:
                        cpu = _cpu_seconds(self.pid)
                    except OSError:
                        cpu = float("nan")
                    self.lines[what] = (time.monotonic() - self.started, cpu)

    def close(self) -> None:
        self.sock.close()


def _shipped_cache(net: Net, image: Path) -> Path:
    """An image cache whose entry for ``image`` boots the bundle's own files."""
    cache = net.root / "cache-shipped"
    base = images.ensure(image, cache)
    for made in (bootfiles.KERNEL, bootfiles.RAMDISK):
        (base.directory / made).unlink(missing_ok=True)
    return cache


def boot_once(
    net: Net, image: Path, cpu: str | None = None, shipped: bool = False, append: str = ""
) -> dict[str, float]:
    tcg = accel.TCG if cpu is None else accel.Accel("tcg", cpu)
    cache = _shipped_cache(net, image) if shipped else net.root / "cache"
    runner = VmRunner(net.root / "run", cache, accel=tcg)
    name = str(uuid.uuid4())
    nic = Nic("bench-port", MAC, tap_name("bench-port"))
    spec = VmSpec(name, vcpus=1, ram_mb=128, disk_gb=1, image=image, nics=(nic,),
                  netns=net.vm_ns, uuid=name, extra={"cmdline": append})  # fmt: skip
    started = time.monotonic()
    console = None
    try:
        runner.create(spec)
        out = {"qemu started": time.monotonic() - started}
        pid = runner.pid(name)
        assert pid is not None
        console = Console(runner.paths(name).console, pid, started)
        sh("ip", "-n", net.vm_ns, "link", "set", nic.tap, "master", "br0")
        out["ping"] = _until(lambda: _pings(net), started)
        out["ssh"] = _until(lambda: _ssh(net), started)
        out["cpu@ssh"] = _cpu_seconds(pid)
        # The rest of the first boot in CPU too (user data, the logging
        # daemons, the host key's fingerprint: the cloud stage's last line).
        deadline = time.monotonic() + LAST_LINE_WAIT
        while time.monotonic() < deadline and not any(w.startswith(LAST) for w in console.lines):
            time.sleep(0.1)
        for what, (at, cpu) in console.lines.items():
            out[what] = at
            out[f"cpu@{what}"] = cpu
        return out
    except RuntimeError:
        log = runner.paths(name).console_log
        print(log.read_text(errors="replace")[-3000:] if log.is_file() else "(no console log)")
        raise
    finally:
        if console is not None:
            console.close()
        runner.delete(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image", type=Path, action="append", default=[])
    parser.add_argument("--cpu", action="append", default=[], help="QEMU -cpu model under TCG")
    parser.add_argument("--shipped", action="store_true", help="also boot the bundle's own files")
    parser.add_argument("--append", action="append", default=[], help="kernel args (a variant)")
    parser.add_argument("--ipv6-only", action="store_true", help="no DHCPv4: SLAAC, IPv6 metadata")
    args = parser.parse_args()
    bundles = args.image or [build.paths(build.DEFAULT_OUTPUT)[0]]
    cpus: list[str | None] = list(args.cpu) or [None]
    forms = [False, True] if args.shipped else [False]
    lines = ["", *args.append]
    variants = [
        (image, cpu, shipped, line)
        for image in bundles
        for cpu in cpus
        for shipped in forms
        for line in lines
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    mode = ", IPv6 only" if args.ipv6_only else ""
    print(f"# bench/vm_boot.py {stamp}{mode}, {machine()}, "
          f"load {os.getloadavg()[0]:.1f} at the start")  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {}
    with network(args.ipv6_only) as net:
        for _ in range(args.rounds):
            for image, cpu, shipped, line in variants:
                label = str(image) + (f" -cpu {cpu}" if cpu else "")
                label += (" shipped" if shipped else "") + (f" + {line!r}" if line else "")
                one = boot_once(net, image, cpu, shipped, line)
                results.setdefault(label, []).append(one)
                print(f"{label}: " + ", ".join(f"{k} {v:.2f}" for k, v in one.items()),
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
    for label, rounds in results.items():
        keys = [k for k in rounds[0] if all(k in r for r in rounds)]
        medians = ", ".join(f"{k} {statistics.median(r[k] for r in rounds):.2f}" for k in keys)
        print(f"{label} p50 of {len(rounds)}: {medians}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
