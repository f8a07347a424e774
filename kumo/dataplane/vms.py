"""The VM reconciler's port: a host's QEMU virtual machines.

``VmHost`` is what the reconciler needs; ``QemuHost`` is the real adapter
over ``kumo.vm``'s runner (images fetched from the API by the agent's
credential into the per-host cache, by hash), ``FakeVmHost`` an in-memory
one for tests that fails the way the runner does (``fail_next``, a VM
whose guest ignores the power button, QEMU gone behind its back).

What a VM is now (``VmActual``) is read back each pass from the run
directory and QMP (level-triggered): the reboots already done, the image
and the NICs are kept in the VM's saved spec (``extra``), so an agent that
restarts finds them again and kills nothing.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from kumo.compiler.plan import VmNic, VmPlan

log = logging.getLogger("kumo.dataplane.vms")

MIN_RAM_MB = 96
"""The guest kernel does not boot with less."""


class VmFailure(RuntimeError):
    """A VM operation failed (the runner's ``VmError``, a failed download...)."""


class SnapshotRefused(VmFailure):
    """The API will not take a snapshot's data (the image or the snapshot is
    gone, over quota, not ``queued``): trying again cannot help."""


class SnapshotSink(Protocol):
    """Where a host sends its VMs' snapshots (the API, by the agent's credential)."""

    def upload_snapshot(self, image_id: str, path: Path) -> None:
        """Send the data; ``SnapshotRefused`` when refused for good, other errors may pass."""
        ...

    def abandon_snapshot(self, image_id: str) -> None:
        """The data could not be made: the API kills the image."""
        ...


@dataclass(frozen=True)
class VmActual:
    name: str
    power: str
    """``running``, ``paused``, ``shutoff``, ``building`` or ``crashed``."""
    process: bool
    """QEMU is running (a guest that powered itself off leaves it in ``shutoff``)."""
    nics: tuple[str, ...] = ()
    """Port ids, in order."""
    reboots: int = 0
    image_hash: str = ""
    size: str = ""
    """``vcpus/memory_mb/disk_gb`` of the flavor it was made or resized for."""
    rebuilds: int = 0
    snapshot: str = ""
    """The image of the last snapshot made (uploaded or given up)."""


class VmHost(Protocol):
    def list(self, busy: frozenset[str] = frozenset()) -> dict[str, VmActual]:
        """Every VM of the host; ``busy`` ones (a job holds their QMP socket:
        QEMU serves one client at a time) are listed without asking QEMU."""
        ...

    def create(self, vm: VmPlan) -> None:
        """Fetch the image if needed, make the root disk, boot."""
        ...

    def rebuild(self, vm: VmPlan) -> None:
        """The VM again from its (new) image: a fresh root disk, the same NICs."""
        ...

    def resize(self, vm: VmPlan) -> None:
        """Off, the new vCPUs and RAM, the disk grown, then on again unless it is to stay off."""
        ...

    def snapshot(self, vm: VmPlan) -> None:
        """The VM's disk, flattened and bundled with its image's kernel, sent
        into the image ``vm.snapshot``; recorded as done unless it may be retried."""
        ...

    def start(self, name: str) -> None: ...
    def powerdown(self, name: str) -> None:
        """ACPI power button, then off (QEMU gone) after a timeout at the latest."""
        ...

    def pause(self, name: str) -> None: ...
    def unpause(self, name: str) -> None: ...
    def reboot(self, name: str, hard: bool, reboots: int) -> None:
        """Reboot, and record ``reboots`` as done."""
        ...

    def attach(self, name: str, nic: VmNic) -> None: ...
    def detach(self, name: str, port_id: str) -> None: ...
    def delete(self, name: str) -> None:
        """QEMU gone, taps and disk removed."""
        ...


# -- the real adapter ---------------------------------------------------------------


Fetch = Callable[[str, str, Path], None]
"""(image id, expected hash, destination): download an image's data there."""


class QemuHost:
    def __init__(
        self,
        run_dir: Path,
        cache: Path,
        fetch: Fetch,
        netns: str | None = None,
        memory_cap_mb: int | None = None,
        powerdown_timeout: float | None = None,
        snapshots: SnapshotSink | None = None,
    ) -> None:
        from kumo.vm.runner import VmRunner

        self.runner = VmRunner(run_dir, cache)
        self.run_dir = run_dir
        self.snapshots = snapshots
        self.cache = cache
        self.fetch = fetch
        self.netns = netns
        self.memory_cap_mb = memory_cap_mb
        self.powerdown_timeout = powerdown_timeout
        self._fetching = threading.Lock()

    def list(self, busy: frozenset[str] = frozenset()) -> dict[str, VmActual]:
        from kumo.vm.runner import VmError, VmState

        out = {}
        for name in self.runner.names():
            try:
                spec = self.runner.spec(name)
                state = VmState.BUILDING if name in busy else self.runner.state(name, 1.0)
            except (VmError, ValueError, KeyError) as exc:
                log.warning("%s: cannot read its state: %s", name, exc)
                continue
            out[name] = VmActual(
                name=name,
                power=state.value,
                process=self.runner.pid(name) is not None,
                nics=tuple(n.port_id for n in spec.nics),
                reboots=int(spec.extra.get("reboots", "0")),
                image_hash=spec.extra.get("image_hash", ""),
                size=spec.extra.get("size", ""),
                rebuilds=int(spec.extra.get("rebuilds", "0")),
                snapshot=spec.extra.get("snapshot", ""),
            )
        return out

    def bundle(self, image_id: str, image_hash: str) -> Path:
        """The image's bundle in the cache (downloaded once per host)."""
        if not image_hash or "/" in image_hash:
            raise VmFailure(f"image {image_id} has no usable hash")
        path = self.cache / "bundles" / f"{image_hash}.tar"
        with self._fetching:
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                self.fetch(image_id, image_hash, path)
        return path

    def create(self, vm: VmPlan) -> None:
        from kumo.vm.runner import VmError
        from kumo.vm.spec import Nic, SpecError, VmSpec

        bundle = self.bundle(vm.image_id, vm.image_hash)
        try:
            spec = VmSpec(
                name=vm.server_id,
                vcpus=vm.vcpus,
                ram_mb=self._ram(vm),
                disk_gb=0 if vm.root_volume else vm.disk_gb,
                image=bundle,
                nics=tuple(Nic(n.port_id, n.mac, n.tap) for n in vm.nics),
                netns=self.netns,
                uuid=vm.server_id,
                extra={
                    "image_id": vm.image_id,
                    "image_hash": vm.image_hash,
                    "reboots": str(vm.reboots),
                    "size": vm.size,
                    "rebuilds": str(vm.rebuilds),
                },
                root_volume=vm.root_volume or None,
            )
            self.runner.create(spec, vm.image_hash)
        except (VmError, SpecError, OSError) as exc:
            raise VmFailure(f"{vm.server_id}: {exc}") from exc

    def rebuild(self, vm: VmPlan) -> None:
        self.bundle(vm.image_id, vm.image_hash)  # fetched before the old disk goes
        self.delete(vm.server_id)
        self.create(vm)

    def snapshot(self, vm: VmPlan) -> None:
        from kumo.guestimage import bundle
        from kumo.vm import images
        from kumo.vm.runner import VmError

        name, image_id = vm.server_id, vm.snapshot
        if self.snapshots is None:
            raise VmFailure(f"{name}: this host sends no snapshots")
        work = self.run_dir / "snapshots" / image_id
        try:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            spec = self.runner.spec(name)
            base = images.ensure(spec.image, self.cache, spec.extra.get("image_hash") or None)
            made = bundle.Descriptor.from_json((base.directory / bundle.DESCRIPTOR).read_bytes())
            disk = work / made.disk
            self.runner.snapshot_disk(name, disk)
            out = work / "snapshot.tar"
            files = {made.kernel: base.kernel, made.ramdisk: base.ramdisk, made.disk: disk}
            bundle.write(out, made, files, mtime=0)
            disk.unlink()
        except (VmError, bundle.BundleError, OSError) as exc:
            log.error("%s: snapshot into image %s failed: %s", name, image_id, exc)
            shutil.rmtree(work, ignore_errors=True)
            self.snapshots.abandon_snapshot(image_id)
            self._snapshot_done(name, image_id)
            return
        try:
            self.snapshots.upload_snapshot(image_id, out)
        except SnapshotRefused as exc:
            log.error("%s: the API refused snapshot %s: %s", name, image_id, exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._snapshot_done(name, image_id)

    def _snapshot_done(self, name: str, image_id: str) -> None:
        spec = self.runner.spec(name)
        self._call(
            lambda: self.runner.update(replace(spec, extra={**spec.extra, "snapshot": image_id}))
        )

    def _ram(self, vm: VmPlan) -> int:
        ram = min(vm.memory_mb, self.memory_cap_mb) if self.memory_cap_mb else vm.memory_mb
        return max(ram, MIN_RAM_MB)

    def resize(self, vm: VmPlan) -> None:
        name = vm.server_id
        if self.runner.pid(name) is not None:
            self.powerdown(name)
        spec = self.runner.spec(name)
        disk_gb = spec.disk_gb if spec.root_volume else max(spec.disk_gb, vm.disk_gb)
        extra = {**spec.extra, "size": vm.size}
        resized = replace(spec, vcpus=vm.vcpus, ram_mb=self._ram(vm), disk_gb=disk_gb, extra=extra)
        self._call(lambda: self.runner.update(resized))
        if vm.power != "stopped":
            self.start(name)

    def _call(self, what: Callable[[], object]) -> None:
        from kumo.vm.qmp import QmpError
        from kumo.vm.runner import VmError
        from kumo.vm.taps import TapError

        try:
            what()
        except (VmError, QmpError, TapError, OSError) as exc:
            raise VmFailure(str(exc)) from exc

    def start(self, name: str) -> None:
        spec = self.runner.spec(name)
        self._call(lambda: self.runner.start(name, spec.extra.get("image_hash") or None))

    def powerdown(self, name: str) -> None:
        timeout = self.powerdown_timeout
        if timeout is None:
            self._call(lambda: self.runner.powerdown(name))
        else:
            self._call(lambda: self.runner.powerdown(name, timeout))

    def pause(self, name: str) -> None:
        self._call(lambda: self.runner.pause(name))

    def unpause(self, name: str) -> None:
        self._call(lambda: self.runner.unpause(name))

    def reboot(self, name: str, hard: bool, reboots: int) -> None:
        if self.runner.pid(name) is None:
            self.start(name)
        else:
            self._call(lambda: self.runner.reboot(name, hard=hard))
        spec = self.runner.spec(name)
        self._call(
            lambda: self.runner.update(replace(spec, extra={**spec.extra, "reboots": str(reboots)}))
        )

    def attach(self, name: str, nic: VmNic) -> None:
        from kumo.vm.spec import Nic

        self._call(lambda: self.runner.attach_nic(name, Nic(nic.port_id, nic.mac, nic.tap)))

    def detach(self, name: str, port_id: str) -> None:
        self._call(lambda: self.runner.detach_nic(name, port_id))

    def delete(self, name: str) -> None:
        self._call(lambda: self.runner.delete(name))

    def console_paths(self, name: str) -> tuple[Path, Path]:
        """(serial socket, console log) of a VM."""
        paths = self.runner.paths(name)
        return paths.console, paths.console_log


# -- the fake -----------------------------------------------------------------------


@dataclass
class _FakeVm:
    plan: VmPlan
    power: str = "running"
    process: bool = True
    nics: list[str] = field(default_factory=list)
    reboots: int = 0
    image_hash: str = ""
    size: str = ""
    rebuilds: int = 0
    snapshot: str = ""


class FakeVmHost:
    """In memory; fails like the runner: ``fail_next[op]`` raises once,
    a missing VM raises, a guest in ``deaf`` ignores the power button
    (powered off anyway after the timeout, as the runner does)."""

    def __init__(self) -> None:
        self.vms: dict[str, _FakeVm] = {}
        self.fail_next: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.deaf: set[str] = set()
        self.images: set[str] = {"sha-cirros"}
        """Image hashes the fake API can serve."""
        self.gate: threading.Event | None = None
        """When set, operations wait for it (a slow QEMU)."""
        self.snapshots: dict[str, str] = {}
        """Image id → the VM whose disk was sent into it."""
        self.refuse: set[str] = set()
        """Images the fake API refuses snapshots into (for good)."""

    def _op(self, op: str, name: str) -> _FakeVm | None:
        self.calls.append((op, name))
        if self.gate is not None:
            self.gate.wait(10)
        message = self.fail_next.pop(op, None)
        if message is not None:
            raise VmFailure(message)
        return self.vms.get(name)

    def _vm(self, op: str, name: str) -> _FakeVm:
        vm = self._op(op, name)
        if vm is None:
            raise VmFailure(f"{name}: no such VM")
        return vm

    def list(self, busy: frozenset[str] = frozenset()) -> dict[str, VmActual]:
        return {
            name: VmActual(
                name,
                vm.power,
                vm.process,
                tuple(vm.nics),
                vm.reboots,
                vm.image_hash,
                vm.size,
                vm.rebuilds,
                vm.snapshot,
            )  # fmt: skip
            for name, vm in self.vms.items()
        }

    def create(self, vm: VmPlan) -> None:
        if self._op("create", vm.server_id) is not None:
            raise VmFailure(f"{vm.server_id}: exists")
        if vm.image_hash not in self.images:
            raise VmFailure(f"image {vm.image_id}: 403 Forbidden")
        self.vms[vm.server_id] = _FakeVm(
            vm, nics=[n.port_id for n in vm.nics], reboots=vm.reboots, image_hash=vm.image_hash,
            size=vm.size, rebuilds=vm.rebuilds,
        )  # fmt: skip

    def rebuild(self, vm: VmPlan) -> None:
        old = self._vm("rebuild", vm.server_id)
        if vm.image_hash not in self.images:
            raise VmFailure(f"image {vm.image_id}: 403 Forbidden")
        old.image_hash, old.power, old.process = vm.image_hash, "running", True
        old.rebuilds = vm.rebuilds

    def resize(self, vm: VmPlan) -> None:
        found = self._vm("resize", vm.server_id)
        found.size = vm.size
        found.process = vm.power != "stopped"
        found.power = "running" if found.process else "shutoff"

    def snapshot(self, vm: VmPlan) -> None:
        found = self._vm("snapshot", vm.server_id)
        if vm.snapshot not in self.refuse:
            self.snapshots[vm.snapshot] = vm.server_id
        found.snapshot = vm.snapshot

    def start(self, name: str) -> None:
        vm = self._vm("start", name)
        vm.power, vm.process = "running", True

    def powerdown(self, name: str) -> None:
        vm = self._vm("powerdown", name)
        vm.power, vm.process = "shutoff", False

    def pause(self, name: str) -> None:
        vm = self._vm("pause", name)
        if not vm.process:
            raise VmFailure(f"{name}: not running")
        vm.power = "paused"

    def unpause(self, name: str) -> None:
        vm = self._vm("unpause", name)
        if not vm.process:
            raise VmFailure(f"{name}: not running")
        vm.power = "running"

    def reboot(self, name: str, hard: bool, reboots: int) -> None:
        vm = self._vm("reboot", name)
        vm.power, vm.process, vm.reboots = "running", True, reboots

    def attach(self, name: str, nic: VmNic) -> None:
        vm = self._vm("attach", name)
        if nic.port_id not in vm.nics:
            vm.nics.append(nic.port_id)

    def detach(self, name: str, port_id: str) -> None:
        vm = self._vm("detach", name)
        if port_id in vm.nics:
            vm.nics.remove(port_id)

    def delete(self, name: str) -> None:
        self._op("delete", name)
        self.vms.pop(name, None)

    # what happens behind the agent's back
    def guest_powers_off(self, name: str) -> None:
        self.vms[name].power = "shutoff"

    def qemu_dies(self, name: str) -> None:
        self.vms[name].power, self.vms[name].process = "shutoff", False


__all__ = [
    "FakeVmHost", "QemuHost", "SnapshotRefused", "SnapshotSink", "VmActual", "VmFailure", "VmHost",
]  # fmt: skip
