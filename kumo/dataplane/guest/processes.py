"""Guest processes of instance namespaces: started detached (they are the
instance's own OS and outlive the agent), found again through pid files.

``GuestProcesses`` is the real port (``setsid`` + ``ip netns exec`` + the
instance's UTS namespace, see ``kumo.dataplane.uts``);
``FakeGuests`` keeps them in memory for unit tests.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kumo.compiler.plan import Guest
from kumo.dataplane import netns as netnslib
from kumo.dataplane import uts
from kumo.dataplane.port import DataplaneError

SCRIPT = Path(__file__).with_name("udhcpc.script")
SCRIPT6 = Path(__file__).with_name("dhclient6.script")
RDNSS = Path(__file__).with_name("rdnss.py")
RUN_DIR = Path(os.environ.get("KUMO_GUEST_RUN_DIR", "/run/kumo/guests"))


class GuestPort(Protocol):
    def running(self, namespaces: frozenset[str] | None = None) -> dict[tuple[str, str], int]:
        """(netns, kind) → pid of every live guest process kumo started
        (in ``namespaces`` only, unless None)."""
        ...

    def start(self, guest: Guest) -> None: ...
    def stop(self, netns: str, kind: str, pid: int) -> None: ...
    def with_files(self) -> frozenset[str]:
        """Namespaces that guest files (pid files, logs, leases, web roots) are kept for."""
        ...

    def forget(self, netns: str) -> None:
        """Remove every guest file of ``netns`` (its instance is gone)."""
        ...


DETACH_RUN_DIR = 'umount -l /run/netns 2>/dev/null; exec "$@"'
"""Run first in a guest's mount namespace (``ip netns exec`` makes one,
receiving the host's mounts): ``/run/netns`` is a shared mount, so while a
guest kept its copy, every namespace the agent made or removed was mounted
or unmounted in every guest's mount namespace too (1,000 instances: ~20 ms
per namespace instead of ~1 ms, in the pass that wires a port). A guest
needs none of them; without its copy it holds no other instance's
namespace either."""

GUEST_KINDS = ("dhcp", "services", "dhcp6", "dhcp6-info", "rdnss")
"""Every kind of guest process ``_command`` knows how to start."""


def _pidfile(netns: str, kind: str) -> Path:
    return RUN_DIR / f"{netns}.{kind}.pid"


class GuestProcesses:
    def running(self, namespaces: frozenset[str] | None = None) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        if not RUN_DIR.is_dir():
            return out
        if namespaces is None:
            pidfiles = list(RUN_DIR.glob("*.pid"))
        else:
            # By name, not by pattern: a glob reads the whole directory (two
            # files per instance) for every namespace asked about.
            pidfiles = [
                p
                for ns in sorted(namespaces)
                for kind in GUEST_KINDS
                if (p := _pidfile(ns, kind)).exists()
            ]
        for pidfile in pidfiles:
            netns, _, kind = pidfile.name.removesuffix(".pid").rpartition(".")
            try:
                pid = int(pidfile.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
            if pid and _alive_in(pid, netns):
                if _outside_uts(pid, netns):
                    self.stop(netns, kind, pid)  # started again inside it
                    continue
                out[(netns, kind)] = pid
            else:
                pidfile.unlink(missing_ok=True)
        return out

    def start(self, guest: Guest) -> None:
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        pidfile = _pidfile(guest.netns, guest.kind)
        log = RUN_DIR / f"{guest.netns}.{guest.kind}.log"
        inside = ["env", f"KUMO_NETNS={guest.netns}", *_command(guest, pidfile)]
        argv = ["setsid", "-f", "ip", "netns", "exec", guest.netns,
                "sh", "-c", DETACH_RUN_DIR, "guest", *uts.command(guest.netns, inside)]  # fmt: skip
        with open(log, "ab") as out:
            done = subprocess.run(
                argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=False
            )
        if done.returncode != 0:
            raise DataplaneError("start guest", errno.EIO, f"{guest.netns}: exit {done.returncode}")

    def stop(self, netns: str, kind: str, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _pidfile(netns, kind).unlink(missing_ok=True)

    def with_files(self) -> frozenset[str]:
        if not RUN_DIR.is_dir():
            return frozenset()
        return frozenset(p.name.split(".", 1)[0] for p in RUN_DIR.iterdir() if "." in p.name)

    def forget(self, netns: str) -> None:
        netnslib.path(netns)  # a namespace's name: no separators, no "." or ".."
        if not RUN_DIR.is_dir():
            return
        for found in RUN_DIR.glob(f"{netns}.*"):
            if found.is_dir() and not found.is_symlink():
                shutil.rmtree(found, ignore_errors=True)
            else:
                found.unlink(missing_ok=True)


def _command(guest: Guest, pidfile: Path) -> list[str]:
    """What runs in the instance for each kind of guest process."""
    if guest.kind == "dhcp":
        return ["busybox", "udhcpc", "-f", "-i", guest.ifname, "-s", str(SCRIPT),
                "-p", str(pidfile), "-t", "5", "-T", "1", "-A", "1",
                "-O", "mtu", "-O", "staticroutes", "-O", "domain", "-O", "dns"]  # fmt: skip
    if guest.kind == "services":
        www = RUN_DIR / f"{pidfile.name.removesuffix('.pid')}.www"
        start = (f"mkdir -p {www} && echo \"kumo busybox instance $KUMO_NETNS\" > {www}/index.html"
                 f" && echo $$ > {pidfile} && echo \"kumo: busybox httpd on port 80 ($KUMO_NETNS)\""
                 f" && exec busybox httpd -f -vv -p 80 -h {www}")  # fmt: skip
        return ["sh", "-c", start]
    if guest.kind == "rdnss":
        return [sys.executable, "-I", str(RDNSS), guest.ifname, str(pidfile)]
    if guest.kind not in GUEST_KINDS:
        raise ValueError(f"unknown guest process kind {guest.kind!r}")
    stateless = ["-S"] if guest.kind == "dhcp6-info" else []
    lease = RUN_DIR / f"{pidfile.name.removesuffix('.pid')}.leases"
    # dhclient -6 needs a link-local address that is no longer tentative
    wait = (f"i=0; while [ $i -lt 50 ] && ip -6 addr show dev {guest.ifname} scope link"
            f" | grep -q tentative; do sleep 0.1; i=$((i+1)); done; exec \"$@\"")  # fmt: skip
    # dhclient gives its script a fresh environment: -e hands it the
    # namespace's name (``ip netns identify`` finds nothing without
    # /run/netns, see DETACH_RUN_DIR).
    return ["sh", "-c", wait, "dhclient6", "dhclient", "-6", "-d", *stateless,
            "-e", f"KUMO_NETNS={guest.netns}",
            "-sf", str(SCRIPT6), "-pf", str(pidfile), "-lf", str(lease), guest.ifname]  # fmt: skip


def _outside_uts(pid: int, netns: str) -> bool:
    """Whether ``pid`` runs outside the instance's UTS namespace while the
    instance has one (a guest started before it was made, or before it
    was made again)."""
    try:
        instance = os.stat(uts.path(netns)).st_ino
    except OSError:
        return False
    try:
        return os.stat(f"/proc/{pid}/ns/uts").st_ino != instance
    except OSError:
        return False


def _alive_in(pid: int, netns: str) -> bool:
    """Whether ``pid`` lives and is in namespace ``netns``."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(netnslib.path(netns)).st_ino
    except OSError:
        return False


@dataclass
class FakeGuests:
    processes: dict[tuple[str, str], int] = field(default_factory=dict)
    next_pid: int = 1000
    fail_next: int = 0
    files: set[str] = field(default_factory=set)
    """Namespaces with guest files (a started guest leaves its log behind)."""

    def running(self, namespaces: frozenset[str] | None = None) -> dict[tuple[str, str], int]:
        return {
            k: pid for k, pid in self.processes.items() if namespaces is None or k[0] in namespaces
        }

    def start(self, guest: Guest) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise DataplaneError("start guest", errno.EIO, "injected failure")
        self.next_pid += 1
        self.processes[(guest.netns, guest.kind)] = self.next_pid
        self.files.add(guest.netns)

    def stop(self, netns: str, kind: str, pid: int) -> None:
        self.processes.pop((netns, kind), None)

    def with_files(self) -> frozenset[str]:
        return frozenset(ns for ns, _ in self.processes) | self.files

    def forget(self, netns: str) -> None:
        self.files.discard(netns)
