"""A group snapshot of attached volumes is one cut.

- The storage agent takes the attached members of a group snapshot in one
  daemon transaction, and only once the watch has delivered every member
  (they arrive one event at a time; a pass between two events used to take
  the first member alone).
- With the real programs, no guest: a QEMU (``-S``) has two volumes
  hot-plugged over NBD from a storage daemon, and a writer thread writes an
  increasing counter to disk A, waits for the acknowledgement, then writes
  it to disk B, over and over (what a guest does with ``dd oflag=direct
  conv=fsync``). Snapshots taken by the daemon in one transaction never
  show B ahead of A and never more than one write apart. The same check
  catches a cut that is not atomic: the two disks snapshotted one after
  the other (two transactions) show B ahead of A within a few tries.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kumo.storage.agent import StorageAgent, StorageConfig
from kumo.storage.daemon import StorageDaemon, node_name
from kumo.storage.pool import FilePool
from kumo.vm import disks
from kumo.vm.qmp import QmpClient

# -- the agent waits for the whole group -----------------------------------------------


class RecordingDaemon:
    """The daemon calls the agent makes for snapshots, recorded; ``backup``
    writes the target files as the real one does once its jobs complete."""

    def __init__(self, nodes: set[str]) -> None:
        self.open = nodes
        self.backups: list[list[str]] = []

    def ensure(self) -> bool:
        return False

    def nodes(self) -> set[str]:
        return set(self.open)

    def backup(self, pairs: list[tuple[str, Path]], timeout: float = 3600) -> None:
        self.backups.append(sorted(node for node, _ in pairs))
        for _, target in pairs:
            target.write_bytes(b"")


class NoReports:
    def _post(self, path: str, body: Any) -> None:
        pass


def test_the_agent_takes_a_group_snapshot_only_once_it_has_every_member(
    tmp_path: Path,
) -> None:
    pool = FilePool("pool1", tmp_path / "pool1", 10)
    agent = StorageAgent(StorageConfig("st1", (pool,)), NoReports())  # type: ignore[arg-type]
    fake = RecordingDaemon({node_name("att-a"), node_name("att-b")})
    agent.daemon = fake  # type: ignore[assignment]
    for vid in ("vol-a", "vol-b"):
        agent.volumes[vid] = {"id": vid, "status": "in-use", "storage_host": "st1",
                              "pool": "pool1", "size": 1}  # fmt: skip
    for att, vid in (("att-a", "vol-a"), ("att-b", "vol-b")):
        agent.attachments[att] = {"id": att, "volume_id": vid, "storage_host": "st1"}
    members = ["snap-a", "snap-b"]

    def snapshot_event(sid: str, vid: str) -> dict[str, Any]:
        return {"kind": "volume_snapshot", "op": "upsert", "revision": 1, "object": {
            "id": sid, "status": "creating", "volume_id": vid, "group_snapshot_id": "gs1",
            "group_members": members, "storage_host": "st1", "pool": "pool1", "size": 1}}  # fmt: skip

    agent.apply_event(snapshot_event("snap-a", "vol-a"))
    agent._reconcile()
    assert fake.backups == []  # snap-b not known yet: nothing taken
    assert not pool.snapshot("snap-a").exists()
    agent.apply_event(snapshot_event("snap-b", "vol-b"))
    agent._reconcile()
    assert fake.backups == [sorted([node_name("att-a"), node_name("att-b")])]  # one transaction
    agent._reconcile()
    assert len(fake.backups) == 1  # taken once


# -- the real data path ------------------------------------------------------------------

needs_qemu = pytest.mark.skipif(
    not all(
        shutil.which(p)
        for p in ("qemu-storage-daemon", "qemu-img", "qemu-io", "qemu-system-x86_64")
    ),  # fmt: skip
    reason="needs qemu-utils, qemu-storage-daemon and QEMU",
)

A, B = "a0ffee00-0000-4000-8000-000000000001", "b0ffee00-0000-4000-8000-000000000002"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def counter(path: Path) -> int:
    """The counter in the first bytes of a qcow2 file (0 when never written)."""
    done = subprocess.run(["qemu-io", "-r", "-U", "-f", "qcow2", "-c", "read -v 0 16", str(path)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    first = done.stdout.splitlines()[0]  # "00000000:  30 30 ... 0a ..  00000042........"
    hexes = first.split(":", 1)[1].split()[:8]
    text = bytes(int(h, 16) for h in hexes).decode(errors="replace")
    return int(text) if text.isdigit() else 0


class Writer(threading.Thread):
    """Counter N to disk A, acknowledged, then N to disk B; N+1; ... (through
    QEMU's block layer and its NBD client, as a guest's writes go)."""

    def __init__(self, qmp: Path, work: Path) -> None:
        super().__init__(daemon=True)
        self.qmp, self.work = qmp, work
        self.stop = threading.Event()
        self.n = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with QmpClient(self.qmp) as q:
                while not self.stop.is_set():
                    self.n += 1
                    src = self.work / "counter"
                    src.write_text(f"{self.n:08d}\n")
                    for att in (A, B):
                        out = q.execute("human-monitor-command", {"command-line": (
                            f"qemu-io -d /machine/peripheral/{disks.device_id(att)}/virtio-backend"
                            f' "write -s {src} 0 512"')})  # fmt: skip
                        if "rror" in str(out) or "conflict" in str(out):
                            raise RuntimeError(f"write to {att}: {out}")
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            self.error = exc


@pytest.fixture
def plugged(tmp_path: Path) -> Iterator[tuple[StorageDaemon, Writer]]:
    daemon = StorageDaemon(tmp_path / "run", "127.0.0.1", _free_port(), firewall=False)
    vm: subprocess.Popen[bytes] | None = None
    writer: Writer | None = None
    try:
        daemon.ensure()
        for att in (A, B):
            vol = tmp_path / f"volume-{att}.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(vol), "64M"],
                           check=True)  # fmt: skip
            daemon.export(att, vol)
        qmp = tmp_path / "vm.sock"
        vm = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc", "-S", "-nodefaults",
                               "-monitor", "none", "-display", "none",
                               "-qmp", f"unix:{qmp},server=on,wait=off"],
                              stdout=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 20
        while not qmp.exists():
            assert time.monotonic() < deadline, "QEMU made no QMP socket"
            time.sleep(0.02)
        with QmpClient(qmp) as q:
            for att in (A, B):
                disks.plug(q, att, address="127.0.0.1", port=daemon.port, export=att,
                           serial=att[:20])  # fmt: skip
        writer = Writer(qmp, tmp_path)
        writer.start()
        yield daemon, writer
    finally:
        if writer is not None:
            writer.stop.set()
            writer.join(30)
        if vm is not None:
            vm.kill()
            vm.wait()
        daemon.stop()


def _cut(daemon: StorageDaemon, tmp_path: Path, i: int, *, atomic: bool) -> tuple[int, int]:
    snaps = {att: tmp_path / f"snapshot-{i}-{att[0]}.qcow2" for att in (A, B)}
    pairs = [(node_name(att), snaps[att]) for att in (A, B)]
    if atomic:
        daemon.backup(pairs)  # what the agent does: one transaction
    else:
        for pair in pairs:  # A, then B: two cuts
            daemon.backup([pair])
    return counter(snaps[A]), counter(snaps[B])


@needs_qemu
@pytest.mark.timeout(300)
def test_one_transaction_never_shows_the_second_disk_ahead(
    plugged: tuple[StorageDaemon, Writer], tmp_path: Path
) -> None:
    daemon, writer = plugged
    deadline = time.monotonic() + 60
    while writer.n < 5:
        assert writer.error is None and time.monotonic() < deadline, writer.error
        time.sleep(0.05)
    seen: list[tuple[int, int]] = []
    for i in range(8):
        a, b = _cut(daemon, tmp_path, i, atomic=True)
        assert a >= b and a - b <= 1, f"cut {i}: A={a} B={b} (earlier: {seen})"
        seen.append((a, b))
        time.sleep(0.1)
    assert writer.error is None, writer.error
    assert seen[-1][1] > seen[0][0], f"the counters did not advance: {seen}"

    # the check has teeth: two separate snapshots (A, then B) let B run ahead
    torn = []
    for i in range(8, 40):
        a, b = _cut(daemon, tmp_path, i, atomic=False)
        if b > a:
            torn.append((a, b))
            break
    assert torn, "snapshots taken one after the other never showed B ahead of A"
    print(f"one transaction (A, B): {seen}; two in a row: {torn} after {i - 7} tries")
    assert writer.error is None, writer.error
