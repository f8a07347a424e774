"""The guest kernel's boot alone, in QEMU CPU seconds, across variants.

    .venv/bin/python -m bench.vm_kernel [--rounds 5] [--bundle cirros.tar] \\
        [--variant NAME='QEMU ARGS' ...] [--append NAME='KERNEL ARGS' ...] \\
        [--initrd NAME=PATH ...] [--kernel NAME=PATH ...]

Each round boots every variant once, interleaved (A, B, C, A, B, C...),
so all see the same load: QEMU (TCG, 1 vCPU, 128 MiB) with the bundle's
kernel and initramfs, as kumo's runner starts it, but with
``rdinit=/sbin/poweroff -- -f``: the kernel boots, unpacks the
initramfs, runs busybox ``poweroff`` as its first process, and QEMU
exits. The figure is the QEMU process's CPU time (user + system) from
launch to exit: firmware, kernel load, decompression, initcalls, the
initramfs; the part of a VM's boot before its init script. CPU time
moves far less than wall time with the machine's load; both are
printed, with the load average."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shlex
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from bench.common import machine
from kumo.guestimage import build

BASE = [
    "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg,tb-size=16", "-cpu", "max",
    "-smp", "1", "-m", "128", "-nodefaults", "-no-user-config", "-display", "none",
    "-vga", "none",
]  # fmt: skip
POWEROFF = "rdinit=/sbin/poweroff -- -f"


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, _, value = item.partition("=")
        out.append((name, value))
    return out


def boot(kernel: Path, initrd: Path, cmdline: str, extra: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one QEMU run to the guest's poweroff."""
    argv = [*BASE, "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", f"{cmdline} {POWEROFF}".strip(), *extra]  # fmt: skip
    # A variant's QEMU args come last: they may override -kernel or -initrd too.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, timeout=300)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: exit {done.returncode}: {done.stderr[-500:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bundle", type=Path, default=build.paths(build.DEFAULT_OUTPUT)[0])
    parser.add_argument("--variant", action="append", default=[], help="NAME=QEMU ARGS")
    parser.add_argument("--append", action="append", default=[], help="NAME=KERNEL ARGS")
    parser.add_argument("--initrd", action="append", default=[], help="NAME=PATH")
    parser.add_argument("--kernel", action="append", default=[], help="NAME=PATH")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kumo-vmk-") as tmp:
        with tarfile.open(args.bundle) as tar:
            tar.extractall(tmp, filter="data")
        kernel, initrd = Path(tmp) / "vmlinuz", Path(tmp) / "initrd.img"
        cmdline = " ".join(
            w for w in build.CMDLINE.split() if not w.startswith("console=")
        )  # no serial: nothing printed, nothing waited for
        Variant = tuple[str, list[str], str, Path, Path]
        variants: list[Variant] = [("as built", [], cmdline, kernel, initrd)]
        variants += [(n, shlex.split(v), cmdline, kernel, initrd) for n, v in _pairs(args.variant)]
        variants += [(n, [], f"{cmdline} {v}", kernel, initrd) for n, v in _pairs(args.append)]
        variants += [(n, [], cmdline, kernel, Path(v)) for n, v in _pairs(args.initrd)]
        variants += [(n, [], cmdline, Path(v), initrd) for n, v in _pairs(args.kernel)]
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"# bench/vm_kernel.py {stamp}, {machine()}, load {os.getloadavg()[0]:.1f}")
        results: dict[str, list[tuple[float, float]]] = {v[0]: [] for v in variants}
        for _ in range(args.rounds):
            for name, extra, line, vmlinuz, ramdisk in variants:
                cpu, wall = boot(vmlinuz, ramdisk, line, extra)
                results[name].append((cpu, wall))
                print(f"{name}: cpu {cpu:.2f} s, wall {wall:.2f} s "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
        base = statistics.median(c for c, _ in results[variants[0][0]])
        for name, runs in results.items():
            cpu = statistics.median(c for c, _ in runs)
            wall = statistics.median(w for _, w in runs)
            print(
                f"{name}: p50 cpu {cpu:.2f} s ({cpu / base:.2f}x), wall {wall:.2f} s, n={len(runs)}"
            )
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
