"""KVM or TCG. ``/dev/kvm`` existing proves nothing: on a host that is
itself a guest without nested virtualisation it opens fine and guests
hang in early boot, burning a core. So KVM is chosen only when a real
guest (the image's kernel and initramfs, told to power off at once:
``rdinit=/sbin/poweroff -- -f``) boots and powers off under it within a
few seconds; the probe runs in its own session and is killed with it on
timeout. The answer is cached, keyed by the machine's kernel, the QEMU
binary and the CPU model, in ``MACHINE_CACHE`` for every agent on the
machine (a lab's hosts share one) and in ``RUN_DIR/accel.json``; agents
that find neither wait on a lock while one of them probes, so a machine
is probed once, not once per host or per boot."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kumo.vm.images import BaseImage

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
PROBE_TIMEOUT = 5.0
KVM_DEVICE = Path("/dev/kvm")
MACHINE_CACHE = Path("/run/kumo/accel.json")
"""The answer for the whole machine (``/run``: gone at reboot)."""


@dataclass(frozen=True)
class Accel:
    name: str
    """``kvm`` or ``tcg``."""
    cpu: str

    def args(self, tb_size_mb: int) -> list[str]:
        if self.name == "kvm":
            return ["-accel", "kvm", "-cpu", self.cpu]
        return ["-accel", f"tcg,tb-size={tb_size_mb}", "-cpu", self.cpu]


TCG = Accel("tcg", "max")
KVM = Accel("kvm", "host")


def host_key(qemu: str = QEMU) -> str:
    release = os.uname().release
    try:
        binary = os.stat(_which(qemu))
        qemu_id = f"{binary.st_size}-{int(binary.st_mtime)}"
    except OSError:
        qemu_id = "missing"
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{release}|{qemu_id}|{model}|{KVM_DEVICE.exists()}"


def _which(program: str) -> str:
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
        candidate = os.path.join(directory, program)
        if os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(program)


def probe_argv(base: BaseImage, accel: Accel, qemu: str = QEMU) -> list[str]:
    return [
        qemu, *accel.args(16), "-machine", "pc", "-m", "128", "-smp", "1",
        "-nodefaults", "-no-user-config", "-display", "none",
        "-kernel", str(base.boot_kernel), "-initrd", str(base.boot_ramdisk),
        "-append", "console=ttyS0 quiet rdinit=/sbin/poweroff -- -f",
    ]  # fmt: skip


def probe(base: BaseImage, accel: Accel, timeout: float = PROBE_TIMEOUT, qemu: str = QEMU) -> bool:
    """True when the guest boots and powers off under ``accel`` in time."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            probe_argv(base, accel, qemu),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        log.info("%s probe: %s", accel.name, exc)
        return False
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.info("%s probe: no poweroff within %.1f s", accel.name, timeout)
        return False
    ok = proc.returncode == 0
    log.info(
        "%s probe: exit %d after %.1f s%s",
        accel.name, proc.returncode, time.monotonic() - started,
        "" if ok else f" ({err.decode(errors='replace').strip()[:200]})",
    )  # fmt: skip
    return ok


def _cached(path: Path, key: str) -> Accel | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("key") == key and doc.get("accel") in ("kvm", "tcg"):
        return KVM if doc["accel"] == "kvm" else TCG
    return None


def _store(path: Path, key: str, chosen: Accel) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "accel": chosen.name, "probed_at": time.time()}) + "\n")
    os.replace(tmp, path)


def choose(
    run_dir: Path,
    base: BaseImage,
    timeout: float = PROBE_TIMEOUT,
    machine_cache: Path | None = MACHINE_CACHE,
) -> Accel:
    """KVM if a guest really runs under it on this machine (cached), else TCG."""
    cache = run_dir / "accel.json"
    key = host_key()
    if (chosen := _cached(cache, key)) is not None:
        return chosen
    if machine_cache is None:
        chosen = _probe_choice(base, timeout)
    else:
        try:
            machine_cache.parent.mkdir(parents=True, exist_ok=True)
            lock = machine_cache.with_name(machine_cache.name + ".lock").open("a")
        except OSError as exc:  # not writable here: this host's own answer only
            log.info("accelerator cache %s: %s", machine_cache, exc)
            chosen = _probe_choice(base, timeout)
        else:
            with lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # another agent may be probing
                chosen = _cached(machine_cache, key)
                if chosen is None:
                    chosen = _probe_choice(base, timeout)
                    _store(machine_cache, key, chosen)
    _store(cache, key, chosen)
    log.info("accelerator: %s", chosen.name)
    return chosen


def _probe_choice(base: BaseImage, timeout: float) -> Accel:
    usable = os.access(KVM_DEVICE, os.R_OK | os.W_OK) and probe(base, KVM, timeout)
    return KVM if usable else TCG
