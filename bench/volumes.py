"""The volume data path, measured with the real programs on this host
(needs root for the namespace-instance plug, qemu-utils and QEMU).

    .venv/bin/python -m bench.volumes [--rounds 20] [--size-mb 256] [--failovers 5]
                                      [--only-replication]

One storage daemon (``kumo.storage.daemon``) on the loopback address serves
the volumes over NBD, as a storage host does on the underlay. Measured in
one run, side by side:

- export → visible: the daemon exporting a volume and a QEMU VM (no guest:
  ``-S``) hot-plugging it as a virtio disk by QMP (``kumo.vm.disks``),
  p50/p99; and the same export mounted for a namespace instance (FUSE
  export, loop device, ext4 mount: ``kumo.agent.volumes``), p50/p99;
- throughput: ``qemu-img bench`` sequential 1 MiB writes (MB/s) and 4 KiB
  writes at queue depth 16 (IOPS; ``qemu-img bench`` walks the offsets in
  order, it has no random mode) on a kumo volume through its NBD export
  next to a local qcow2 file on the same disk, with the ratio.

- replication (``kumo.storage.mirror``; a second daemon on another port
  plays the replica's storage host): a steady write load (``qemu-img
  bench``, 64 KiB writes at queue depth 1) through the export of a volume
  mirrored in ``write-blocking`` mode (kumo's) next to ``background`` mode
  and no mirror: write MB/s (ratios to no mirror) and the replication lag
  (bytes the replica is behind, sampled every 10 ms during the load: max
  and p99; write-blocking must show 0 once ready), and for background mode
  how long the replica takes to catch up once the load stops;
- failover, the data path's part: the primary's daemon SIGKILLed, then the
  replica's daemon lets go of the replica's export, exports the volume to
  the client, and the client reads back the last write (p50 over
  ``--failovers`` rounds). The API and agents' part (the failover request
  to the moved export answering) is printed by the root test
  ``tests/volume/test_replication.py``.

Not measured here: create → available through the API and agents, and
I/O from inside a booted guest (each needs a lab; see docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import free_port, machine, summary_ms
from kumo.agent.volumes import NamespaceDisks
from kumo.storage import mirror
from kumo.storage.daemon import StorageDaemon
from kumo.vm import disks
from kumo.vm.qmp import QmpClient


def _qcow2(path: Path, size_mb: int) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{size_mb}M"],
                   check=True)  # fmt: skip
    return path


def _bench(fmt: str, target: str, size: str, count: int, depth: int) -> float:
    """Seconds ``qemu-img bench`` took for ``count`` writes of ``size``."""
    out = subprocess.run(
        ["qemu-img", "bench", "-w", "-f", fmt, "-s", size, "-c", str(count), "-d", str(depth),
         "-t", "none", "-n", target],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Run completed in ([0-9.]+) seconds", out)
    if not found:
        raise RuntimeError(out)
    return float(found.group(1))


def _vm_plugs(daemon: StorageDaemon, work: Path, rounds: int) -> list[float]:
    qmp = work / "vm.sock"
    vm = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc", "-S", "-nodefaults",
                           "-display", "none", "-monitor", "none",
                           "-qmp", f"unix:{qmp},server=on,wait=off"])  # fmt: skip
    times = []
    try:
        while not qmp.exists():
            time.sleep(0.01)
        for i in range(rounds):
            vol = _qcow2(work / f"vm-{i}.qcow2", 64)
            att = f"0000000{i % 10}-0000-4000-8000-{i:012d}"
            start = time.perf_counter()
            daemon.export(att, vol)
            with QmpClient(qmp) as q:
                disks.plug(q, att, address="127.0.0.1", port=daemon.port, export=att,
                           serial=f"bench{i}")  # fmt: skip
            times.append(time.perf_counter() - start)
        with QmpClient(qmp) as q:
            q.execute("quit")
        vm.wait(10)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
    for i in range(rounds):
        daemon.unexport(f"0000000{i % 10}-0000-4000-8000-{i:012d}")
    return times


def _namespace_plugs(daemon: StorageDaemon, work: Path, rounds: int) -> list[float]:
    plugs = NamespaceDisks(work / "plugs", None)
    times = []
    for i in range(rounds):
        vol = _qcow2(work / f"ns-{i}.qcow2", 64)
        att_id = f"1000000{i % 10}-0000-4000-8000-{i:012d}"
        att = {"id": att_id, "volume_id": f"vol{i}", "server_id": "bench", "mode": "rw",
               "export": {"address": "127.0.0.1", "port": daemon.port, "name": att_id}}  # fmt: skip
        start = time.perf_counter()
        daemon.export(att_id, vol)
        plugs.plug(att)
        times.append(time.perf_counter() - start)
        plugs.unplug(att_id)
        daemon.unexport(att_id)
    return times


VOLUME = "5eb1ca7e-0000-4000-8000-000000000001"


def _load(url: str, size_mb: int) -> subprocess.Popen[str]:
    """A steady write load: 64 KiB writes one at a time over ``size_mb`` MiB."""
    count = size_mb * 16
    return subprocess.Popen(
        ["qemu-img", "bench", "-w", "-f", "raw", "-s", "64K", "-c", str(count), "-d", "1",
         "-t", "none", "-n", url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _replicated_run(work: Path, mode: str | None, size_mb: int) -> dict[str, float]:
    """One volume exported by a primary daemon (mirrored in ``mode`` to a
    replica daemon, or not at all) under a steady write load."""
    primary = StorageDaemon(work / f"run-p-{mode}", "127.0.0.1", free_port(), firewall=False)
    replica = StorageDaemon(work / f"run-r-{mode}", "127.0.0.1", free_port(), firewall=False)
    vol = _qcow2(work / f"primary-{mode}.qcow2", size_mb * 2)
    copy = _qcow2(work / f"replica-{mode}.qcow2", size_mb * 2)
    out: dict[str, float] = {}
    try:
        primary.ensure()
        node = None
        if mode is not None:
            replica.ensure()
            replica.export(mirror.replica_export(VOLUME), copy)
            mirror.ensure(primary, VOLUME, vol, mirror.Peer("127.0.0.1", replica.port), mode)
            if not mirror.wait_ready(primary, VOLUME, 60):
                raise RuntimeError("the mirror did not get ready in 60 s")
            node = mirror.export_node(primary, VOLUME)
        primary.export("bench-load", vol, node=node)
        url = f"nbd://127.0.0.1:{primary.port}/bench-load"
        start = time.perf_counter()
        load = _load(url, size_mb)
        lags: list[int] = []
        while load.poll() is None:
            if mode is not None:
                lags.append(mirror.lag_bytes(primary, VOLUME) or 0)
            time.sleep(0.01)
        took = time.perf_counter() - start
        if load.returncode != 0:
            raise RuntimeError(load.stdout.read() if load.stdout else "qemu-img bench failed")
        out["mbs"] = size_mb / took
        if mode is not None:
            lags.sort()
            out["lag_max"] = float(lags[-1]) if lags else 0.0
            out["lag_p99"] = float(lags[int(0.99 * (len(lags) - 1))]) if lags else 0.0
            catch = time.perf_counter()
            while (mirror.lag_bytes(primary, VOLUME) or 0) > 0:
                time.sleep(0.005)
            out["catch_up"] = time.perf_counter() - catch
            out["samples"] = float(len(lags))
    finally:
        primary.stop()
        replica.stop()
    return out


def _failovers(work: Path, rounds: int) -> list[float]:
    """The primary's daemon killed; the replica's daemon serves the volume
    and a client reads back the last acknowledged write."""
    times = []
    for i in range(rounds):
        primary = StorageDaemon(work / f"fo-p{i}", "127.0.0.1", free_port(), firewall=False)
        replica = StorageDaemon(work / f"fo-r{i}", "127.0.0.1", free_port(), firewall=False)
        vol = _qcow2(work / f"fo-primary-{i}.qcow2", 64)
        copy = _qcow2(work / f"fo-replica-{i}.qcow2", 64)
        try:
            primary.ensure()
            replica.ensure()
            replica.export(mirror.replica_export(VOLUME), copy)
            mirror.ensure(primary, VOLUME, vol, mirror.Peer("127.0.0.1", replica.port))
            mirror.wait_ready(primary, VOLUME, 60)
            primary.export("att", vol, node=mirror.export_node(primary, VOLUME))
            subprocess.run(["qemu-io", "-f", "raw", "-c", f"write -P {0x40 + i} 0 64k",
                            f"nbd://127.0.0.1:{primary.port}/att"],
                           check=True, capture_output=True)  # fmt: skip
            pid = primary.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            start = time.perf_counter()
            replica.unexport(mirror.replica_export(VOLUME))
            replica.export("att", copy)
            done = subprocess.run(["qemu-io", "-f", "raw", "-c", f"read -P {0x40 + i} 0 64k",
                                   f"nbd://127.0.0.1:{replica.port}/att"],
                                  capture_output=True, text=True)  # fmt: skip
            times.append(time.perf_counter() - start)
            if done.returncode != 0 or "fail" in done.stdout.lower():
                raise RuntimeError(f"the acknowledged write is not on the replica: {done.stdout}")
        finally:
            primary.stop()
            replica.stop()
    return times


def replication(work: Path, size_mb: int, failovers: int) -> None:
    runs = {label: _replicated_run(work, mode, size_mb)
            for label, mode in (("no mirror", None), ("write-blocking", "write-blocking"),
                                ("background", "background"))}  # fmt: skip
    base = runs["no mirror"]["mbs"]
    for label, r in runs.items():
        line = f"{label:>18}: steady 64 KiB writes {r['mbs']:7.1f} MB/s ({r['mbs'] / base:.2f}x)"
        if "lag_max" in r:
            line += (f", replication lag max {r['lag_max'] / 1024:.0f} KiB, "
                     f"p99 {r['lag_p99'] / 1024:.0f} KiB ({r['samples']:.0f} samples), "
                     f"caught up {r['catch_up'] * 1000:.0f} ms after the load")  # fmt: skip
        print(line)
    print(f"failover (data path: replica exported, last write read back): "
          f"{summary_ms(_failovers(work, failovers))}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--size-mb", type=int, default=256, help="data written per throughput run")
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--only-replication", action="store_true")
    args = parser.parse_args()
    print(f"bench.volumes {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="kumo-bench-vol-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        replication(work, args.size_mb, args.failovers)
        if args.only_replication:
            return
        daemon = StorageDaemon(work / "run", "127.0.0.1", free_port(), firewall=False)
        daemon.ensure()
        try:
            vm = _vm_plugs(daemon, work, args.rounds)
            print(f"export -> virtio disk in a VM (QMP hot-plug): {summary_ms(vm)}")
            if os.geteuid() == 0:
                ns = _namespace_plugs(daemon, work, max(args.rounds // 2, 3))
                print(f"export -> mounted for a namespace instance (FUSE, loop, mkfs, mount): "
                      f"{summary_ms(ns)}")  # fmt: skip
            size = args.size_mb * 4  # qcow2 virtual size: room for every write
            local = _qcow2(work / "local.qcow2", size)
            remote = _qcow2(work / "volume.qcow2", size)
            daemon.export("bench-volume", remote)
            url = f"nbd://127.0.0.1:{daemon.port}/bench-volume"
            seq_n, small_n = args.size_mb, args.size_mb * 64
            rows = []
            for label, fmt, target in (("local qcow2", "qcow2", str(local)),
                                       ("kumo volume (NBD)", "raw", url)):  # fmt: skip
                seq = _bench(fmt, target, "1M", seq_n, 1)
                small = _bench(fmt, target, "4K", small_n, 16)
                rows.append((label, args.size_mb / seq, small_n / small))
            for label, mbs, iops in rows:
                print(f"{label:>18}: sequential 1 MiB writes {mbs:8.1f} MB/s, "
                      f"4 KiB writes (qd16) {iops:9.0f} IOPS")  # fmt: skip
            (_, lm, li), (_, rm, ri) = rows
            print(f"{'volume / local':>18}: {rm / lm:8.2f}x MB/s, {ri / li:.2f}x IOPS")
            daemon.unexport("bench-volume")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
