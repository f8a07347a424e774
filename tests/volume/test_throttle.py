"""QoS specs to QEMU's throttle limits (pure), and the limits applied by a
real storage daemon: a namespace instance's volume read through its FUSE
export runs at the limit (root: FUSE)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kumo.agent.volumes import fuse_daemon
from kumo.storage.daemon import pid_alive, stop_pid
from kumo.volume.throttle import limits, object_argument, qmp_arguments


def test_front_end_keys_map_to_qemu_limits() -> None:
    specs = {"read_bytes_sec": "1048576", "write_iops_sec": "200", "write_iops_sec_max": "400",
             "size_iops_sec": "4096", "unknown": "7"}  # fmt: skip
    assert limits("front-end", specs, 1) == {"bps-read": 1048576, "iops-size": 4096,
                                             "iops-write": 200, "iops-write-max": 400}  # fmt: skip
    assert limits("both", specs, 1) == limits("front-end", specs, 1)
    assert limits("back-end", specs, 1) == {}  # the storage host's, not the compute host's
    assert limits(None, specs, 1) == {}


def test_per_gb_scales_and_a_total_wins_over_read_and_write() -> None:
    specs = {"total_iops_sec_per_gb": "50", "read_iops_sec": "10", "total_bytes_sec": "5000000",
             "write_bytes_sec": "1000", "read_bytes_sec_max": "9000"}  # fmt: skip
    assert limits("front-end", specs, 4) == {"bps-total": 5000000, "iops-total": 200}
    # bad values are left out (QEMU would refuse the whole set); a burst needs its limit
    assert limits("front-end", {"total_bytes_sec": "-1", "read_iops_sec": "lots",
                                "total_iops_sec_max": "10"}, 1) == {}  # fmt: skip


def test_qmp_and_daemon_arguments() -> None:
    found = {"bps-total": 100, "iops-read": 5, "iops-read-max": 10}
    assert qmp_arguments("dev0", found) == {
        "id": "dev0", "bps": 100, "bps_rd": 0, "bps_wr": 0, "iops": 0, "iops_rd": 5,
        "iops_wr": 0, "iops_rd_max": 10}  # fmt: skip
    assert object_argument("qos", found) == (
        "throttle-group,id=qos,limits.bps-total=100,limits.iops-read=5,limits.iops-read-max=10"
    )
    argv = fuse_daemon("driver=nbd,node-name=vol", Path("/r"), Path("/p"), read_only=True,
                       qos=found)  # fmt: skip
    assert "driver=throttle,node-name=qos,throttle-group=qos,file=vol" in argv
    assert any(a.startswith("type=fuse,id=fuse,node-name=qos,") for a in argv)
    plain = fuse_daemon("driver=nbd,node-name=vol", Path("/r"), Path("/p"), read_only=True,
                        qos=None)  # fmt: skip
    assert not any("throttle" in a for a in plain)


def _read_rate(tmp: Path, qos: dict[str, int] | None, mib: int) -> float:
    """MiB/s of reading ``mib`` MiB (never read before: not in the page
    cache) through the FUSE export of a daemon made by ``fuse_daemon``."""
    disk = tmp / f"v{bool(qos)}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x42 0 {mib}M", str(disk)],
                   check=True, capture_output=True)  # fmt: skip
    raw, pidfile = tmp / f"raw{bool(qos)}", tmp / f"qsd{bool(qos)}.pid"
    raw.touch()
    source = f"driver=qcow2,node-name=vol,file.driver=file,file.filename={disk}"
    subprocess.run(fuse_daemon(source, raw, pidfile, read_only=True, qos=qos), check=True,
                   timeout=60)  # fmt: skip
    try:
        started = time.monotonic()
        subprocess.run(["dd", f"if={raw}", "of=/dev/null", "bs=1M", f"count={mib}"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        return mib / (time.monotonic() - started)
    finally:
        pid = pid_alive(pidfile, str(raw))
        if pid is not None:
            stop_pid(pid, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("qemu-storage-daemon") is None,
                    reason="needs root (FUSE) and qemu-storage-daemon")  # fmt: skip
def test_a_throttled_fuse_export_reads_at_its_limit(tmp_path: Path) -> None:
    limit = 4 << 20  # total_bytes_sec of 4 MiB/s
    qos = limits("front-end", {"total_bytes_sec": str(limit)}, 1)
    throttled = _read_rate(tmp_path, qos, 12)
    free = _read_rate(tmp_path, None, 12)
    print(f"read through the FUSE export: {throttled:.2f} MiB/s throttled to 4 MiB/s, "
          f"{free:.1f} MiB/s unthrottled")  # fmt: skip
    assert abs(throttled - 4) <= 0.4, throttled  # within 10% of the limit
    assert free > 2 * throttled


@pytest.mark.skipif(
    not all(shutil.which(p) for p in ("qemu-storage-daemon", "qemu-system-x86_64")),
    reason="needs qemu-storage-daemon and qemu-system-x86_64",
)
def test_a_vms_disk_gets_the_limits(tmp_path: Path) -> None:
    """``disks.plug`` with QoS: the hot-plugged disk of a QEMU (stopped
    before its first instruction: no guest boots) carries the limits."""
    from kumo.vm import disks
    from kumo.vm.qmp import QmpClient, QmpError

    disk = tmp_path / "v.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True)
    port = 30000 + os.getpid() % 20000
    qsd = subprocess.Popen(["qemu-storage-daemon",
                            "--blockdev", f"driver=qcow2,node-name=v,file.driver=file,"
                                          f"file.filename={disk}",
                            "--nbd-server", f"addr.type=inet,addr.host=127.0.0.1,addr.port={port}",
                            "--export", "type=nbd,id=e,node-name=v,name=vol,writable=on"])  # fmt: skip
    sock = tmp_path / "qmp.sock"
    vm = subprocess.Popen(["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-S",
                           "-display", "none", "-nodefaults", "-m", "64",
                           "-qmp", f"unix:{sock},server=on,wait=off"])  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert time.monotonic() < deadline, "QEMU did not start"
            time.sleep(0.1)
        qos = limits("front-end", {"total_bytes_sec": "4194304", "read_iops_sec": "300",
                                   "write_iops_sec": "100"}, 1)  # fmt: skip
        with QmpClient(sock, timeout=10.0) as q:
            q.connect()
            while True:
                try:
                    disks.plug(q, "0b7d3c1e-0000-4000-8000-0000000000f1", address="127.0.0.1",
                               port=port, export="vol", serial="vol1", qos=qos)  # fmt: skip
                    break
                except QmpError as exc:
                    assert time.monotonic() < deadline, f"the NBD export did not answer: {exc}"
                    time.sleep(0.2)
            (found,) = [b for b in q.execute("query-block") if b.get("inserted")]
        inserted = found["inserted"]
        assert (inserted["bps"], inserted["iops_rd"], inserted["iops_wr"]) == (4194304, 300, 100)
        assert (inserted["bps_rd"], inserted["iops"]) == (0, 0)
    finally:
        for proc in (vm, qsd):
            proc.terminate()
            proc.wait(10)
