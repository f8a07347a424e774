"""Consistent group snapshots of volumes attached to a running VM, on a
3-host lab (host1 is the storage host; the VM runs on host2, its two
volumes served over NBD across the underlay by host1's storage daemon).
One VM boot for the whole module.

Inside the VM a loop writes an increasing counter N to the first sector of
/dev/vdb (volume A), waits for the write to be acknowledged (``dd
oflag=direct conv=fsync``), then writes N to /dev/vdc (volume B), and so
on. Group snapshots taken while it runs must each be one cut: A's counter
equal to B's or one ahead, never B ahead of A (B's write N is only issued
once A's write N was acknowledged, so a cut that holds B's N holds A's N).
The member snapshots are read on the storage host with qemu-io, and a
group made from a group snapshot holds the same counters.

The check has teeth, though here only by chance: with the transaction in
``StorageDaemon.backup`` replaced by one transaction per disk (tried once,
2026-12-07), the fifth group snapshot read A 2530, B 2532 and the test
failed (the four before fell between two guest writes: two 1 GiB sparse
backups in a row take less than the guest's ~40 ms per pair of writes).
``tests/volume/test_group_cut.py`` asserts that failure (two transactions
in a row showed B ahead at the first try in each run so far). The storage
agent used to take a group snapshot's members as the watch delivered them,
one event at a time (``test_the_agent_takes_a_group_snapshot_only_once_it_
has_every_member`` in that file).

Then the compute agent of host2 is killed and started again while the
guest writes: the new agent finds the VM and its two volume drives (the
same QEMU, the writer never fails, both volumes stay in-use) and a group
snapshot after the restart is still one cut.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.lab.labs import running_lab
from tests.lab.test_secgroups_lab import openstack
from tests.lab.test_servers_lab import show, wait_status
from tests.lab.test_storage_lab import _until as volume_until
from tests.lab.test_vm_lab import GUEST_IMAGE, qemu_pids, ssh, wait_ssh

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(
        not all(shutil.which(p) for p in ("qemu-system-x86_64", "qemu-img", "qemu-io", "ssh")),
        reason="needs qemu-system-x86, qemu-utils, openssh-client",
    ),
    pytest.mark.skipif(not GUEST_IMAGE.is_file(), reason="needs `kumo image build`"),
]

V = ("--os-volume-api-version", "3.14")

W = "/home/cirros/w"

USER_DATA = f"""#!/bin/sh
(while sleep 1; do chmod 666 /dev/vd[b-z] 2>/dev/null; done) &
(while [ ! -e /home/cirros/go ]; do sleep 1; done
 mkdir -p {W}; n=0
 while [ ! -e /home/cirros/stop ]; do n=$((n+1))
  for d in vdb vdc; do
   printf "%08d\\n" $n | dd of=/dev/$d bs=512 count=1 conv=sync,fsync oflag=direct \\
    2>{W}/dd.err || {{ echo $d $n > {W}/failed; exit 1; }}
  done
  echo $n > {W}/n
 done) >/dev/null 2>&1 &
"""
"""The user data (run as root at boot): the disks made writable for user
cirros, and the writer, started once /home/cirros/go appears: counter N to
vdb, acknowledged (``oflag=direct conv=fsync``), then to vdc; N+1; ...
until /home/cirros/stop appears."""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    monkeypatch.setenv("KUMO_GUEST_IMAGE", str(GUEST_IMAGE))
    prefix = ""
    try:
        with running_lab(tmp_path, "kgv", "--storage-hosts", "1") as running:
            prefix = running[1]
            yield running
    finally:
        for i in (1, 2, 3):
            if prefix:
                shutil.rmtree(f"/run/kumo/vms/{prefix}host{i}", ignore_errors=True)


def counter(path: Path) -> int:
    """The counter in the first sector of a qcow2 file (0: never written)."""
    done = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c", "read -v 0 16", str(path)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    hexes = done.stdout.splitlines()[0].split(":", 1)[1].split()[:8]
    text = bytes(int(h, 16) for h in hexes).decode(errors="replace")
    return int(text) if text.isdigit() else 0


def _lower(shown: dict[str, Any]) -> dict[str, Any]:
    """The client prints a group snapshot's columns as "ID", "Status", ..."""
    return {k.lower(): v for k, v in shown.items()}


def group_snapshot(state: Path, name: str) -> tuple[dict[str, Any], float]:
    """Take one of group g1; (the group snapshot once available, seconds it took)."""
    started = time.monotonic()
    gs = _lower(json.loads(openstack(state, *V, "volume", "group", "snapshot", "create",
                                     "g1", "--name", name, "-f", "json")))  # fmt: skip
    deadline = time.monotonic() + 120
    while gs["status"] != "available":
        # (the create answer has no status, as Cinder's has none)
        assert gs["status"] in (None, "creating") and time.monotonic() < deadline, gs
        time.sleep(0.3)
        gs = _lower(json.loads(openstack(state, *V, "volume", "group", "snapshot", "show",
                                         gs["id"], "-f", "json")))  # fmt: skip
    return gs, time.monotonic() - started


def members(state: Path, gs_id: str) -> dict[str, str]:
    """Volume id → its snapshot's id, for the group snapshot's members."""
    out = {}
    for snap in json.loads(openstack(state, "volume", "snapshot", "list", "--name",
                                     f"group-snapshot-{gs_id}", "-f", "json")):  # fmt: skip
        shown = json.loads(openstack(state, "volume", "snapshot", "show", snap["ID"], "-f", "json"))
        out[str(shown["volume_id"])] = str(snap["ID"])
    return out


def guest_n(prefix: str, key: Path, fip: str) -> int:
    out = ssh(prefix, key, fip, f"cat {W}/n 2>/dev/null; test -e {W}/failed && "
              f"cat {W}/failed {W}/dd.err; true")  # fmt: skip
    assert out is not None, "no SSH to the VM"
    lines = out.split()
    assert len(lines) <= 1, f"the writer stopped: {out!r}"
    return int(lines[0]) if lines else 0


@pytest.mark.timeout(1500)
def test_group_snapshots_of_a_running_vms_volumes_are_one_cut(
    lab: tuple[Path, str], tmp_path: Path
) -> None:
    state, prefix = lab
    began = time.monotonic()
    pool = state / "storage" / f"{prefix}host1" / "pool1"
    openstack(state, "network", "create", "net1")
    openstack(state, "subnet", "create", "--network", "net1", "--subnet-range", "10.93.1.0/24",
              "sub1")  # fmt: skip
    openstack(state, "router", "create", "r1")
    openstack(state, "router", "set", "--external-gateway", "public", "r1")
    openstack(state, "router", "add", "subnet", "r1", "sub1")
    openstack(state, "security", "group", "create", "ssh")
    openstack(state, "security", "group", "rule", "create", "--protocol", "tcp",
              "--dst-port", "22", "ssh")  # fmt: skip
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    openstack(state, "keypair", "create", "--public-key", f"{key}.pub", "k1")
    user_data = tmp_path / "user-data"
    user_data.write_text(USER_DATA)
    openstack(state, "server", "create", "--image", "cirros", "--flavor", "m1.tiny",
              "--network", "net1", "--security-group", "ssh", "--key-name", "k1",
              "--user-data", str(user_data), "--availability-zone", f"nova:{prefix}host2",
              "vm1")  # fmt: skip

    # while it boots: a group of a consistent group type with two volumes
    openstack(state, "volume", "type", "create", "cg")
    openstack(state, *V, "volume", "group", "type", "create", "gt1")
    openstack(state, *V, "volume", "group", "type", "set", "--property",
              "consistent_group_snapshot_enabled=<is> True", "gt1")  # fmt: skip
    openstack(state, *V, "volume", "group", "create", "--volume-group-type", "gt1",
              "--volume-type", "cg", "--name", "g1")  # fmt: skip
    vols = {}
    for name in ("vola", "volb"):
        openstack(state, "volume", "create", "--size", "1", "--type", "cg", name)
    for name in ("vola", "volb"):
        vols[name] = volume_until(state, name, "available")
    openstack(state, *V, "volume", "group", "add", "volume", "g1", "vola", "volb")
    a_id, b_id = str(vols["vola"]["id"]), str(vols["volb"]["id"])

    vm = wait_status(state, "vm1", "ACTIVE", timeout=240)
    assert vm["OS-EXT-SRV-ATTR:host"] == f"{prefix}host2"
    fip = openstack(state, "floating", "ip", "create", "public", "-f", "value",
                    "-c", "floating_ip_address").strip()  # fmt: skip
    openstack(state, "server", "add", "floating", "ip", "vm1", fip)
    wait_ssh(prefix, key, fip, "hostname", want="vm1", timeout=300)
    booted = time.monotonic() - began
    for name in ("vola", "volb"):  # one after the other: vdb is vola, vdc is volb
        openstack(state, "server", "add", "volume", "vm1", name)
        volume_until(state, name, "in-use")
    serials = ("test -w /dev/vdb && test -w /dev/vdc && "
               "for d in vdb vdc; do cat /sys/block/$d/serial; echo; done")  # fmt: skip
    out = wait_ssh(prefix, key, fip, serials, want=a_id[:20], timeout=90)
    assert out.split() == [a_id[:20], b_id[:20]], out

    # the writer (the user data's) starts
    assert ssh(prefix, key, fip, "touch /home/cirros/go && echo ok") == "ok\n"
    deadline = time.monotonic() + 60
    while guest_n(prefix, key, fip) < 3:
        assert time.monotonic() < deadline, "the writer in the guest does not advance: " + str(
            ssh(prefix, key, fip, f"ls -la {W}; ps; ls -l /dev/vd*")
        )
        time.sleep(1)

    cuts: list[tuple[int, int]] = []
    took: list[float] = []

    def check_one(name: str) -> dict[str, Any]:
        gs, seconds = group_snapshot(state, name)
        took.append(seconds)
        snaps = members(state, gs["id"])
        assert set(snaps) == {a_id, b_id}, snaps
        a = counter(pool / f"snapshot-{snaps[a_id]}.qcow2")
        b = counter(pool / f"snapshot-{snaps[b_id]}.qcow2")
        assert a >= b and a - b <= 1, f"{name}: volume A at {a}, volume B at {b} (before: {cuts})"
        assert not cuts or b > cuts[-1][0], f"{name}: no progress since {cuts[-1]}: {(a, b)}"
        cuts.append((a, b))
        return gs

    first = check_one("gs1")
    for i in (2, 3, 4):
        time.sleep(2)
        check_one(f"gs{i}")
    assert guest_n(prefix, key, fip) > cuts[-1][0]  # still writing

    # a group made from the first group snapshot: its volumes hold that cut
    openstack(state, *V, "volume", "group", "create", "--group-snapshot", first["id"],
              "--name", "g2")  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        listed = json.loads(openstack(state, "volume", "list", "-f", "json"))
        made = [json.loads(openstack(state, "volume", "show", v["ID"], "-f", "json"))
                for v in listed if v["ID"] not in (a_id, b_id)]  # fmt: skip
        if len(made) == 2 and all(v["status"] == "available" for v in made):
            break
        assert all(v["status"] in ("creating", "available") for v in made), made
        assert time.monotonic() < deadline, made
        time.sleep(1)
    by_source = {}
    for v in made:
        snap = json.loads(openstack(state, "volume", "snapshot", "show", v["snapshot_id"],
                                    "-f", "json"))  # fmt: skip
        by_source[str(snap["volume_id"])] = counter(pool / f"volume-{v['id']}.qcow2")
    assert (by_source[a_id], by_source[b_id]) == cuts[0], (by_source, cuts)

    # the compute agent of host2 restarted while the guest writes: the VM and
    # its two volume drives are found again, not replugged or lost
    host2 = f"{prefix}host2"
    vm_id = str(vm["id"])
    qemu = qemu_pids(vm_id)
    old = LabState.load(state).pids[host2]  # type: ignore[union-attr]
    before = guest_n(prefix, key, fip)
    supervisor.control(state, "restart", host2, "KILL")
    supervisor.wait_restarted(state, host2, old)
    time.sleep(8)  # the new agent's first passes
    assert qemu_pids(vm_id) == qemu
    assert show(state, "vm1")["status"] == "ACTIVE"
    for name in ("vola", "volb"):
        shown = json.loads(openstack(state, "volume", "show", name, "-f", "json"))
        assert shown["status"] == "in-use", shown
    assert guest_n(prefix, key, fip) > before  # the writes never stopped
    out = ssh(prefix, key, fip, f"{serials}; ls /sys/block")
    assert out is not None and out.split()[:2] == [a_id[:20], b_id[:20]], out
    assert "vdd" not in out  # not plugged a second time
    check_one("gs-after-restart")

    assert ssh(prefix, key, fip, "touch /home/cirros/stop && echo ok") == "ok\n"
    print(
        f"boot to SSH {booted:.1f} s; cuts (A, B) {cuts}; group snapshot create -> "
        f"available {', '.join(f'{t:.1f}' for t in took)} s; whole test "
        f"{time.monotonic() - began:.0f} s"
    )
