"""The VM reconciler against a fake host that fails like the runner: jobs
for what differs, one at a time per VM and off the pass, retries after a
failure with a backoff, reports of each VM's power, nothing undone that a
guest did itself, leftovers deleted."""

from __future__ import annotations

import threading
from dataclasses import replace

from kumo.compiler.plan import HostPlan, VmNic, VmPlan
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.reconcilers.vms import VmReport
from kumo.dataplane.vms import FakeVmHost

VM = "b1000000-0000-4000-8000-0000000000a1"
OTHER = "b2000000-0000-4000-8000-0000000000a2"
NIC1 = VmNic("a1000000-0000-4000-8000-000000000001", "fa:16:3e:00:00:01", "kta1000000000")
NIC2 = VmNic("a2000000-0000-4000-8000-000000000002", "fa:16:3e:00:00:02", "kta2000000000")
BASE = VmPlan(VM, "vm1", 1, 512, 1, "img-1", "sha-cirros", "running", nics=(NIC1,))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def setup(sync: bool = True) -> tuple[Dataplane, FakeVmHost, Clock, list[int]]:
    host = FakeVmHost()
    clock = Clock()
    dp = Dataplane(FakeKernel(), "host-a", vms=host, clock=clock)
    woken: list[int] = []
    dp.vms.wake = lambda: woken.append(1)
    if sync:
        dp.vms.run = lambda work: work()
    return dp, host, clock, woken


def apply(dp: Dataplane, *vms: VmPlan) -> None:
    dp.apply(HostPlan(host="host-a", vms=frozenset(vms)))


def test_create_then_in_place_and_reported_running() -> None:
    dp, host, _, woken = setup()
    apply(dp, BASE)
    assert host.calls == [("create", VM)] and woken == [1]
    assert dp.vms.dirty  # the job ended: read the VM back
    dp.retry()
    assert ("vm", VM) in dp.vms.in_place
    assert dp.vms.reports == {VM: VmReport("running", 0, None, "sha-cirros", "1/512/1")}
    assert host.vms[VM].nics == [NIC1.port_id]


def test_a_failed_create_is_reported_and_retried_after_a_backoff() -> None:
    dp, host, clock, _ = setup()
    host.images = set()  # the API refuses the image
    apply(dp, BASE)
    result = dp.retry()
    assert not result.ok and "403" in result.errors[f"vms: vm {VM}"]
    report = dp.vms.reports[VM]
    assert report.power == "error" and report.fault and "403" in report.fault
    assert host.calls == [("create", VM)]  # not again before the backoff
    host.images = {"sha-cirros"}
    clock.now += 5
    dp.retry()
    dp.retry()
    assert host.calls == [("create", VM), ("create", VM)]
    assert dp.vms.reports[VM] == VmReport("running", 0, None, "sha-cirros", "1/512/1")


def test_stop_start_pause_and_reboot() -> None:
    dp, host, _, _ = setup()
    apply(dp, BASE)
    dp.retry()
    apply(dp, replace(BASE, power="stopped"))
    assert host.calls[-1] == ("powerdown", VM) and not host.vms[VM].process
    dp.retry()
    assert dp.vms.reports[VM].power == "shutoff"
    apply(dp, BASE)
    assert host.calls[-1] == ("start", VM)
    apply(dp, replace(BASE, power="paused"))
    assert host.calls[-1] == ("pause", VM)
    dp.retry()
    assert dp.vms.reports[VM].power == "paused"
    apply(dp, replace(BASE, reboots=1, reboot_hard=True))
    assert host.calls[-1] == ("reboot", VM)  # a hard reboot runs a paused guest again
    dp.retry()
    assert host.vms[VM].reboots == 1
    assert dp.vms.reports[VM] == VmReport("running", 1, None, "sha-cirros", "1/512/1")


def test_a_guest_that_powered_off_is_reported_not_restarted_but_a_dead_qemu_is() -> None:
    dp, host, _, _ = setup()
    apply(dp, BASE)
    dp.retry()
    host.guest_powers_off(VM)  # QEMU waits in "shutdown"
    dp.resync()
    dp.retry()
    assert dp.vms.reports[VM].power == "shutoff"
    assert host.calls == [("create", VM)]
    host.qemu_dies(VM)
    dp.resync()
    dp.retry()
    assert host.calls[-1] == ("start", VM)


def test_nics_are_hot_plugged_and_unplugged() -> None:
    dp, host, _, _ = setup()
    apply(dp, BASE)
    dp.retry()
    apply(dp, replace(BASE, nics=(NIC1, NIC2)))
    assert host.calls[-1] == ("attach", VM)
    dp.retry()
    apply(dp, replace(BASE, nics=(NIC2,)))
    assert host.calls[-1] == ("detach", VM)
    dp.retry()
    assert host.vms[VM].nics == [NIC2.port_id]


def test_a_vm_no_server_wants_is_deleted_and_a_failed_delete_retried() -> None:
    dp, host, clock, _ = setup()
    apply(dp, BASE, replace(BASE, server_id=OTHER))
    dp.retry()
    host.fail_next["delete"] = "qemu: Resource busy"
    apply(dp, BASE)
    assert OTHER in host.vms
    clock.now += 5
    dp.retry()
    dp.retry()
    assert OTHER not in host.vms and VM in host.vms


def test_jobs_run_off_the_pass_one_at_a_time_per_vm() -> None:
    dp, host, _, woken = setup(sync=False)
    host.gate = threading.Event()  # QEMU is slow: the job blocks
    apply(dp, BASE)
    assert dp.vms.busy == {VM}
    result = dp.retry()  # the pass does not wait for the job, nor start another
    assert result.ok and VM not in host.vms
    assert host.calls == [("create", VM)]
    host.gate.set()
    for _ in range(100):
        if woken:
            break
        threading.Event().wait(0.02)
    assert woken and dp.vms.busy == frozenset()
    dp.retry()
    assert dp.vms.reports[VM] == VmReport("running", 0, None, "sha-cirros", "1/512/1")


def test_a_new_image_rebuilds_the_vm_in_place() -> None:
    dp, host, _, _ = setup()
    apply(dp, BASE)
    dp.retry()
    host.images.add("sha-other")
    apply(dp, replace(BASE, image_id="img-2", image_hash="sha-other"))
    assert host.calls[-1] == ("rebuild", VM)
    dp.retry()
    assert dp.vms.reports[VM] == VmReport("running", 0, None, "sha-other", "1/512/1")
    assert host.vms[VM].nics == [NIC1.port_id]
    # the same image again: a rebuild asked for, counted
    apply(dp, replace(BASE, image_id="img-2", image_hash="sha-other", rebuilds=1))
    assert host.calls[-1] == ("rebuild", VM)
    dp.retry()
    assert dp.vms.reports[VM].rebuilds == 1


def test_a_new_flavor_resizes_the_vm() -> None:
    dp, host, _, _ = setup()
    apply(dp, BASE)
    dp.retry()
    apply(dp, replace(BASE, vcpus=2, memory_mb=1024, disk_gb=2))
    assert host.calls[-1] == ("resize", VM)
    dp.retry()
    assert dp.vms.reports[VM].size == "2/1024/2"
    assert dp.vms.reports[VM].power == "running"


def test_a_snapshot_is_sent_once_whatever_the_power_state() -> None:
    dp, host, _, _ = setup()
    stopped = replace(BASE, power="stopped")
    apply(dp, stopped)
    dp.retry()
    apply(dp, stopped)
    assert not host.vms[VM].process
    apply(dp, replace(stopped, snapshot="snap-1"))
    assert host.calls[-1] == ("snapshot", VM) and host.snapshots == {"snap-1": VM}
    dp.retry()
    apply(dp, replace(stopped, snapshot="snap-1"))  # done: not again while the API catches up
    assert [c for c in host.calls if c[0] == "snapshot"] == [("snapshot", VM)]
    assert not host.vms[VM].process  # a stopped VM stays off
    # a failed snapshot job is tried again after its backoff
    host.fail_next["snapshot"] = "the API is away"
    apply(dp, replace(BASE, snapshot="snap-2"))
    assert "snap-2" not in host.snapshots
    dp.vms._failed[VM] = (dp.vms._failed[VM][0], 1, 0.0)
    dp.retry()
    assert host.snapshots["snap-2"] == VM
