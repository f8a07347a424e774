"""The VM runner: one ``qemu-system-x86_64`` process per server, driven
over QMP. Everything about a VM lives in ``RUN_DIR/<name>/`` (spec, root
disk, sockets, console log, pid file), so a restarted agent finds its VMs
again with ``names()`` and ``state()``; QEMU runs in its own session and
never dies with the agent.

Lifecycle (all idempotent where it makes sense):

- ``create``: root disk (qcow2 overlay of the image's base disk, grown to
  the flavor's size), taps, then ``start``.
- ``start``: launch QEMU if it is not running; a QEMU left in ``shutdown``
  (the guest powered itself off) is reset and continued.
- ``powerdown``: ACPI power button, wait for the guest to power off, then
  ``quit``; ``quit`` anyway after the timeout. Returns whether the guest
  went down by itself.
- ``reboot``: hard is ``system_reset``; soft is the power button, then a
  reset once the guest is off (a hard reset after the timeout).
- ``pause``/``unpause``: ``stop``/``cont``.
- ``delete``: the process (``quit``, then SIGKILL), the taps, the directory.
- ``attach_nic``/``detach_nic``: tap, ``netdev_add`` + ``device_add``;
  ``device_del`` (waits for the guest to let go), ``netdev_del``, tap.
- ``snapshot_disk``: the root disk flattened into a standalone qcow2
  (``qemu-img convert``; a running guest paused meanwhile).

Each call opens its own short QMP connection. QEMU serves one QMP client
at a time (a second one gets no greeting until the first leaves), so the
caller serialises the calls for one VM (one worker per server); calls for
different VMs are independent."""

from __future__ import annotations

import enum
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from kumo.vm import accel as accels
from kumo.vm import images, taps
from kumo.vm.argv import TB_SIZE_MB, VmPaths, netdev_args, nic_device_args, qemu_argv
from kumo.vm.qmp import QmpClient, QmpCommandError, QmpError, QmpTimeout
from kumo.vm.spec import Nic, VmSpec

log = logging.getLogger(__name__)

POWERDOWN_TIMEOUT = 60.0
QUIT_TIMEOUT = 5.0
LAUNCH_TIMEOUT = 30.0
UNPLUG_TIMEOUT = 10.0
SNAPSHOT_TIMEOUT = 600.0


class VmError(RuntimeError):
    pass


class VmNotFound(VmError):
    pass


class VmState(enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUTOFF = "shutoff"
    """No process, or a guest that powered off (QEMU waiting in ``shutdown``)."""
    CRASHED = "crashed"
    BUILDING = "building"
    """QEMU is up but not (yet) running the guest (``prelaunch``, ``inmigrate``)."""


_QEMU_STATUS = {
    "running": VmState.RUNNING,
    "paused": VmState.PAUSED,
    "suspended": VmState.PAUSED,
    "shutdown": VmState.SHUTOFF,
    "guest-panicked": VmState.CRASHED,
    "internal-error": VmState.CRASHED,
    "io-error": VmState.PAUSED,
    "prelaunch": VmState.BUILDING,
    "inmigrate": VmState.BUILDING,
}


class VmRunner:
    def __init__(
        self,
        run_dir: Path,
        image_cache: Path,
        accel: accels.Accel | None = None,
        tb_size_mb: int | None = None,
        qemu: str = accels.QEMU,
    ) -> None:
        self.run_dir = run_dir
        self.qemu = qemu
        self.image_cache = image_cache
        self._accel = accel
        self.tb_size_mb = tb_size_mb

    # -- paths and processes ----------------------------------------------------------

    def paths(self, name: str) -> VmPaths:
        return VmPaths(self.run_dir / "vms" / name)

    def names(self) -> list[str]:
        """Every VM with a run directory (running or not)."""
        root = self.run_dir / "vms"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / "spec.json").is_file())

    def spec(self, name: str) -> VmSpec:
        try:
            return VmSpec.from_json(self.paths(name).spec.read_text())
        except FileNotFoundError:
            raise VmNotFound(name) from None

    def pid(self, name: str) -> int | None:
        """QEMU's pid if that process is alive and is this VM's QEMU."""
        paths = self.paths(name)
        try:
            pid = int(paths.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if f"path={paths.qmp},".encode() in cmdline else None

    def qmp(self, name: str, timeout: float = 5.0) -> QmpClient:
        client = QmpClient(self.paths(name).qmp, timeout=timeout)
        client.connect()
        return client

    def accel(self, base: images.BaseImage) -> accels.Accel:
        if self._accel is None:
            self._accel = accels.choose(self.run_dir, base)
        return self._accel

    # -- lifecycle ----------------------------------------------------------------------

    def create(self, spec: VmSpec, image_sha256: str | None = None) -> None:
        paths = self.paths(spec.name)
        if paths.spec.is_file():
            raise VmError(f"{spec.name}: exists")
        base = images.ensure(spec.image, self.image_cache, image_sha256)
        paths.directory.mkdir(parents=True, exist_ok=True)
        if not spec.root_volume:  # else the root disk is a volume (kumo.vm.disks)
            size = max(spec.disk_gb << 30, _virtual_size(base.disk))
            _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                  "-b", str(base.disk), str(paths.disk), str(size)])  # fmt: skip
        self._save(spec)
        self.start(spec.name, image_sha256)

    def start(self, name: str, image_sha256: str | None = None) -> None:
        spec = self.spec(name)
        if self.pid(name) is not None:
            if self.state(name) is VmState.SHUTOFF:
                with self.qmp(name) as q:
                    _reset_and_run(q)
            return
        base = images.ensure(spec.image, self.image_cache, image_sha256)
        for nic in spec.nics:
            taps.create(nic, spec.netns)
        paths = self.paths(name)
        for stale in (paths.qmp, paths.console, paths.pidfile):
            stale.unlink(missing_ok=True)
        argv = qemu_argv(spec, paths, base, self.accel(base), self._tb_size(), self.qemu)
        if spec.netns:
            argv = ["ip", "netns", "exec", spec.netns, *argv]
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LAUNCH_TIMEOUT,
            start_new_session=True,
        )
        if result.returncode != 0:
            raise VmError(f"{name}: qemu failed to start: {result.stderr.strip()[-2000:]}")
        if self.pid(name) is None:
            raise VmError(f"{name}: qemu exited right after starting")
        log.info("%s: started (pid %s)", name, self.pid(name))

    def state(self, name: str, timeout: float = 5.0) -> VmState:
        if not self.paths(name).spec.is_file():
            raise VmNotFound(name)
        if self.pid(name) is None:
            return VmState.SHUTOFF
        try:
            with self.qmp(name, timeout) as q:
                status = str(q.execute("query-status")["status"])
        except QmpError:
            return VmState.SHUTOFF if self.pid(name) is None else VmState.BUILDING
        return _QEMU_STATUS.get(status, VmState.BUILDING)

    def powerdown(self, name: str, timeout: float = POWERDOWN_TIMEOUT) -> bool:
        """Power the guest off; True if it did so by itself within ``timeout``."""
        if self.pid(name) is None:
            self._spec_or_raise(name)
            return True
        clean = self._guest_off(name, timeout)
        self._quit(name)
        return clean

    def reboot(self, name: str, hard: bool = False, timeout: float = POWERDOWN_TIMEOUT) -> None:
        if self.pid(name) is None:
            self.start(name)
            return
        if not hard:
            self._guest_off(name, timeout)
        with self.qmp(name) as q:
            _reset_and_run(q)

    def pause(self, name: str) -> None:
        with self._running_qmp(name) as q:
            q.execute("stop")

    def unpause(self, name: str) -> None:
        with self._running_qmp(name) as q:
            q.execute("cont")

    def delete(self, name: str) -> None:
        paths = self.paths(name)
        if not paths.directory.exists():
            return
        spec: VmSpec | None = None
        try:
            spec = self.spec(name)
        except (VmNotFound, ValueError, KeyError):
            pass
        self._quit(name)
        if spec is not None:
            for nic in spec.nics:
                taps.delete(nic.tap, spec.netns)
        shutil.rmtree(paths.directory, ignore_errors=True)
        log.info("%s: deleted", name)

    # -- NICs ---------------------------------------------------------------------------

    def attach_nic(self, name: str, nic: Nic) -> None:
        spec = self.spec(name)
        if any(n.port_id == nic.port_id for n in spec.nics):
            return
        taps.create(nic, spec.netns)
        if self.pid(name) is not None:
            with self.qmp(name) as q:
                q.execute("netdev_add", dict(netdev_args(nic)))
                try:
                    q.execute("device_add", dict(nic_device_args(nic)))
                except QmpError:
                    _ignore(lambda: q.execute("netdev_del", {"id": nic.netdev_id}))
                    raise
        self._save(spec.with_nics((*spec.nics, nic)))

    def detach_nic(self, name: str, port_id: str, timeout: float = UNPLUG_TIMEOUT) -> None:
        spec = self.spec(name)
        nic = next((n for n in spec.nics if n.port_id == port_id), None)
        if nic is None:
            return
        if self.pid(name) is not None:
            with self.qmp(name, timeout=timeout) as q:
                try:
                    q.execute("device_del", {"id": nic.device_id})
                    q.wait_event("DEVICE_DELETED", timeout, {"device": nic.device_id})
                except QmpCommandError as exc:
                    if exc.cls != "DeviceNotFound":
                        raise
                except QmpTimeout as exc:
                    raise VmError(f"{name}: the guest did not release {nic.device_id}") from exc
                _ignore(lambda: q.execute("netdev_del", {"id": nic.netdev_id}))
        self._save(spec.with_nics(tuple(n for n in spec.nics if n.port_id != port_id)))
        taps.delete(nic.tap, spec.netns)

    def update(self, spec: VmSpec) -> None:
        """Save a changed spec for an existing VM (vCPUs, RAM, ``extra``; a
        larger ``disk_gb`` grows the root disk): it takes effect when QEMU
        next starts."""
        old = self.spec(spec.name)
        if spec.disk_gb > old.disk_gb:
            disk = self.paths(spec.name).disk
            if (spec.disk_gb << 30) > _virtual_size(disk):
                _run(["qemu-img", "resize", "-q", str(disk), f"{spec.disk_gb}G"])
        self._save(spec)

    def snapshot_disk(self, name: str, dest: Path) -> None:
        """The VM's root disk as a standalone qcow2 at ``dest`` (its base
        merged in). A running guest is paused for the copy (QMP ``stop``
        drains and flushes the disk, so the file is consistent as of that
        instant; the guest's own caches are not: crash-consistent, like a
        snapshot without a guest agent) and continued after."""
        self._spec_or_raise(name)
        disk = self.paths(name).disk
        tmp = dest.with_name(dest.name + ".part")
        resume = False
        if self.pid(name) is not None:
            with self.qmp(name) as q:
                if str(q.execute("query-status")["status"]) == "running":
                    q.execute("stop")
                    resume = True
        try:
            _run(["qemu-img", "convert", "-U", "-q", "-f", "qcow2", "-O", "qcow2", str(disk), str(tmp)],
                 timeout=SNAPSHOT_TIMEOUT)  # fmt: skip
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
            if resume:
                with self.qmp(name) as q:
                    q.execute("cont")

    # -- helpers ------------------------------------------------------------------------

    def _tb_size(self) -> int:
        return self.tb_size_mb or TB_SIZE_MB

    def _save(self, spec: VmSpec) -> None:
        paths = self.paths(spec.name)
        tmp = paths.spec.with_name("spec.json.tmp")
        tmp.write_text(spec.to_json())
        os.replace(tmp, paths.spec)

    def _spec_or_raise(self, name: str) -> None:
        if not self.paths(name).spec.is_file():
            raise VmNotFound(name)

    def _running_qmp(self, name: str) -> QmpClient:
        self._spec_or_raise(name)
        if self.pid(name) is None:
            raise VmError(f"{name}: not running")
        return self.qmp(name)

    def _guest_off(self, name: str, timeout: float) -> bool:
        """Press the power button; True once QEMU reports the guest shut down."""
        deadline = time.monotonic() + timeout
        try:
            with self.qmp(name) as q:
                status = str(q.execute("query-status")["status"])
                if status == "shutdown":
                    return True
                if status == "paused":
                    q.execute("cont")  # a paused guest cannot hear the button
                q.execute("system_powerdown")
                while time.monotonic() < deadline:
                    try:
                        q.wait_event("SHUTDOWN", min(1.0, deadline - time.monotonic()))
                        return True
                    except QmpTimeout:
                        if str(q.execute("query-status")["status"]) == "shutdown":
                            return True
        except QmpError as exc:
            log.warning("%s: powerdown: %s", name, exc)
        return False

    def _quit(self, name: str) -> None:
        pid = self.pid(name)
        if pid is None:
            return
        try:
            with self.qmp(name, timeout=QUIT_TIMEOUT) as q:
                q.execute("quit")
        except QmpError:
            pass
        if not _wait_gone(pid, QUIT_TIMEOUT):
            log.warning("%s: qemu (pid %d) ignored quit: killing it", name, pid)
            _ignore(lambda: os.kill(pid, signal.SIGKILL))
            _wait_gone(pid, QUIT_TIMEOUT)
        self.paths(name).pidfile.unlink(missing_ok=True)


def _reset_and_run(q: QmpClient) -> None:
    """Reset, then run: ``cont`` alone is refused while a guest that powered
    off is not reset ("Resetting the Virtual Machine is required"). The
    reset is only requested by the command; wait for its event."""
    q.execute("system_reset")
    try:
        q.wait_event("RESET", 5.0)
    except QmpTimeout:
        pass
    q.execute("cont")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return True  # exited, not yet reaped by its parent
        time.sleep(0.05)
    return False


def _ignore(action: Callable[[], object]) -> None:
    try:
        action()
    except (QmpError, OSError):
        pass


def _virtual_size(path: Path) -> int:
    out = _run(["qemu-img", "info", "--output=json", "-U", str(path)])
    return int(json.loads(out)["virtual-size"])


def _run(argv: list[str], timeout: float = 60) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise VmError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout
