"""VMs: the one reconciler that owns a host's QEMU virtual machines.

Each pass reads every VM back (``VmHost.list``: run directories, QEMU
processes, QMP status) and compares it with the plan's ``VmPlan``s. What
differs becomes one job for that VM: create (image fetched by hash into
the host's cache, root disk, boot), rebuild (its image changed: a fresh
disk, the same NICs), resize (its flavor changed: off, new vCPUs and RAM,
disk grown, on), snapshot (the disk flattened and sent into the image
``createImage`` made), start, power down (ACPI button, QEMU
gone after a timeout at the latest), pause, unpause, reboot (when the VM
has done fewer reboots than asked for), NIC hot-plug and unplug, delete
(a VM no server wants any more: QEMU, taps and disk removed). Jobs run on
their own threads, one at a time per VM (QEMU serves one QMP client at a
time) and many VMs at once, so a power-off that waits a minute for its
guest holds up neither the pass nor the other VMs. A finished job marks
the reconciler dirty and calls ``wake`` (the agent then runs a pass, which
reads the VM back). A failed job is retried after a per-VM backoff and
counted as the VM's error until then.

A guest that powered itself off (QEMU still there, in ``shutdown``) is not
started again: it is reported ``shutoff``, and the API records the server
stopped, as Nova's power-state sync does; a VM whose QEMU is gone (the
host restarted, QEMU crashed) while it should run is started again. An
agent restart kills nothing: VMs run detached and are found again.

``reports`` holds, after each pass, what the agent tells the API about
each VM: its power (``running``, ``paused``, ``shutoff``; ``error`` with a
fault while its creation fails) and the reboots it has done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from kumo.compiler.plan import VmNic, VmPlan
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler
from kumo.dataplane.vms import VmActual, VmFailure, VmHost

log = logging.getLogger("kumo.dataplane.vms")

RETRY_INITIAL = 2.0
RETRY_MAX = 60.0


@dataclass(frozen=True)
class VmReport:
    power: str
    reboots: int = 0
    fault: str | None = None
    image_hash: str = ""
    """The image the VM's disk was made from."""
    size: str = ""
    """``vcpus/memory_mb/disk_gb`` it was made or resized for."""
    rebuilds: int = 0


class VmReconciler(Reconciler):
    name = "vms"
    desired: frozenset[VmPlan] = frozenset()

    def __init__(
        self,
        port: KernelPort,
        host: str,
        vms: VmHost,
        clock: Callable[[], float] = time.monotonic,
        run: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        """``run`` starts a job (default: a daemon thread); tests pass one that runs it at once."""
        super().__init__(port, host)
        self.vms = vms
        self.clock = clock
        self.run = run or _thread
        self.wake: Callable[[], None] | None = None
        self.reports: dict[str, VmReport] = {}
        self._lock = threading.Lock()
        self._busy: dict[str, str] = {}
        """VM → the job under way."""
        self._failed: dict[str, tuple[str, int, float]] = {}
        """VM → (last error, consecutive failures, retry not before)."""
        self._woken = False
        self._stale = True
        """Something may differ since the last read (desired state, a job
        ended): an event pass reads the VMs back only then; a full pass always."""

    def update_desired(self, vms: frozenset[VmPlan]) -> None:
        if self._set_desired(self.desired, vms):
            self.desired = vms
            self._stale = True

    @property
    def busy(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._busy)

    def updates(self) -> None:
        with self._lock:
            if self.scope is not None and not self._stale and not self._failed:
                return  # an event pass with nothing new for the VMs: last verdicts hold
            self._woken = False
            self._stale = False
        busy = self.busy
        try:
            actual = self.vms.list(busy)
        except (OSError, VmFailure, DataplaneError) as exc:
            for vm in self.desired:
                self.fail(vm.key, str(exc))
            return
        reports: dict[str, VmReport] = {}
        for vm in sorted(self.desired):
            name = vm.server_id
            found = actual.get(name)
            if name in busy:
                if name in self.reports:
                    reports[name] = self.reports[name]
                continue
            job = _next_job(vm, found)
            if job is None:
                self.in_place.add(vm.key)
                self._failed.pop(name, None)
                assert found is not None
                reports[name] = _report(found)
                continue
            failed = self._failed.get(name)
            if failed is not None:
                reports[name] = _failure_report(failed[0], found)
                self.fail(vm.key, failed[0])
                if self.clock() < failed[2]:
                    continue
            elif found is not None:
                reports[name] = _report(found)
            self._submit(name, job[0], partial(job[1], self.vms))
        self.reports = reports
        wanted = {vm.server_id for vm in self.desired}
        for name in sorted(set(actual) - wanted):
            if name not in busy:
                remove = partial(self.vms.delete, name)
                self.leftover(("vm", name), partial(self._submit, name, "delete", remove))

    def apply_removals(self) -> bool:
        ok = super().apply_removals()
        with self._lock:
            if self._woken:
                self.dirty = True  # a job ended during this pass: read again
        return ok

    def _submit(self, name: str, what: str, job: Callable[[], None]) -> None:
        with self._lock:
            if name in self._busy:
                return
            self._busy[name] = what
        log.info("%s: %s", name, what)

        def work() -> None:
            error: str | None = None
            try:
                job()
            except (VmFailure, OSError, DataplaneError) as exc:
                error = str(exc) or type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - a job must always end and wake the agent
                log.exception("%s: %s crashed", name, what)
                error = f"{type(exc).__name__}: {exc}"
            self._done(name, what, error)

        self.run(work)

    def _done(self, name: str, what: str, error: str | None) -> None:
        with self._lock:
            self._busy.pop(name, None)
            if error is None:
                self._failed.pop(name, None)
            else:
                _, count, _ = self._failed.get(name, ("", 0, 0.0))
                delay = min(RETRY_MAX, RETRY_INITIAL * 2**count)
                self._failed[name] = (f"{what}: {error}", count + 1, self.clock() + delay)
                log.warning("%s: %s failed (retrying in %.0f s): %s", name, what, delay, error)
            self._woken = True
            self._stale = True
            self.dirty = True
        if self.wake is not None:
            self.wake()


Job = tuple[str, Callable[[VmHost], None]]


def _next_job(vm: VmPlan, found: VmActual | None) -> Job | None:
    """The one thing to do next for a desired VM (None: it is as it should be)."""
    name = vm.server_id
    if found is None:
        return "create", lambda host: host.create(vm)
    if (vm.image_hash and found.image_hash != vm.image_hash) or found.rebuilds < vm.rebuilds:
        return "rebuild", lambda host: host.rebuild(vm)
    if vm.snapshot and found.snapshot != vm.snapshot:
        return "snapshot", lambda host: host.snapshot(vm)
    wanted_nics = tuple(n.port_id for n in vm.nics)
    for nic in vm.nics:
        if nic.port_id not in found.nics:
            return f"attach {nic.port_id}", partial(_attach, name, nic)
    for port_id in found.nics:
        if port_id not in wanted_nics:
            return f"detach {port_id}", partial(_detach, name, port_id)
    if found.size and found.size != vm.size:
        return "resize", lambda host: host.resize(vm)
    if found.reboots < vm.reboots and vm.power == "running":
        return "reboot", lambda host: host.reboot(name, vm.reboot_hard, vm.reboots)
    if vm.power == "stopped":
        if found.process:
            return "power off", lambda host: host.powerdown(name)
        return None
    if not found.process:
        return "start", lambda host: host.start(name)
    if vm.power == "running":
        if found.power == "paused":
            return "unpause", lambda host: host.unpause(name)
        return None  # running, booting, or powered off by its guest (reported, not undone)
    if found.power == "running":  # vm.power == "paused"
        return "pause", lambda host: host.pause(name)
    return None


def _attach(name: str, nic: VmNic, host: VmHost) -> None:
    host.attach(name, nic)


def _detach(name: str, port_id: str, host: VmHost) -> None:
    host.detach(name, port_id)


def _reported_power(found: VmActual) -> str:
    if found.power in ("running", "paused", "shutoff"):
        return found.power
    if found.power == "crashed":
        return "shutoff"
    return "running" if found.process else "shutoff"


def _report(found: VmActual) -> VmReport:
    return VmReport(
        _reported_power(found), found.reboots, None, found.image_hash, found.size, found.rebuilds
    )


def _failure_report(error: str, found: VmActual | None) -> VmReport:
    if found is None:
        return VmReport("error", 0, error)
    return _report(found)


def _thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="kumo-vm-job", daemon=True).start()
