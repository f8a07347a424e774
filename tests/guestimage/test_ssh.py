"""The guest's SSH server start (usr/share/kumo/ssh.sh), run by busybox sh
with stand-ins for dropbear and dropbearkey: the server is held stopped
from its start until ssh_open (a client that connects early waits for its
login instead of being refused), runs at once when keys were kept from an
earlier boot, and is never left stopped when ssh_open comes before the
server's pid file; the host key's fingerprint is kept beside the key."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.guestimage import initramfs

BUSYBOX = shutil.which("busybox")
pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="needs busybox")

SSH_SH = initramfs.ROOTFS / "usr/share/kumo/ssh.sh"

DROPBEAR = """#!{busybox} sh
# Like dropbear: a server in the background, its pid in the -P file.
while [ $# -gt 0 ]; do [ "$1" = -P ] && pidfile=$2; shift; done
{busybox} sleep 30 &
echo $! > "$pidfile"
"""
DROPBEARKEY = """#!{busybox} sh
while [ $# -gt 0 ]; do [ "$1" = -f ] && key=$2; shift; done
echo secret > "$key"
echo "Public key portion is:"
echo "ssh-ed25519 AAAA root@cirros"
echo "Fingerprint: SHA256:stub"
"""


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("dropbear", DROPBEAR), ("dropbearkey", DROPBEARKEY)):
        (bin_dir / name).write_text(text.format(busybox=BUSYBOX))
        (bin_dir / name).chmod(0o755)
    yield tmp_path
    pid = _pid(tmp_path)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)


def _run(root: Path, script: str) -> None:
    assert BUSYBOX is not None
    env = {
        "PATH": f"{root / 'bin'}:{Path(BUSYBOX).parent}",
        "KEY": str(root / "host_key"),
        "KEYS": str(root / "authorized_keys"),
        "SSH_OPEN": str(root / "ssh-open"),
        "SSH_PID": str(root / "dropbear.pid"),
    }
    subprocess.run([BUSYBOX, "sh", "-c", f". {SSH_SH}; {script}"], env=env, check=True, timeout=30)


def _pid(root: Path) -> int | None:
    try:
        return int((root / "dropbear.pid").read_text())
    except (OSError, ValueError):
        return None


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _settles(pid: int, stopped: bool) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if (_state(pid) == "T") == stopped:
            return True
        time.sleep(0.02)
    return False


def test_the_server_waits_stopped_for_the_keys(guest: Path) -> None:
    _run(guest, "ssh_start; wait")
    pid = _pid(guest)
    assert pid is not None and _settles(pid, stopped=True)
    assert "Fingerprint: SHA256:stub" in (guest / "host_key.info").read_text()
    _run(guest, "ssh_open")
    assert _settles(pid, stopped=False)


def test_keys_from_an_earlier_boot_open_it_at_once(guest: Path) -> None:
    (guest / "authorized_keys").write_text("ssh-ed25519 AAAA me\n")
    _run(guest, "ssh_start; wait")
    pid = _pid(guest)
    assert pid is not None
    time.sleep(0.2)
    assert _state(pid) != "T"


def test_keys_before_the_server_is_up_leave_it_running(guest: Path) -> None:
    _run(guest, "ssh_start; ssh_open; wait")
    pid = _pid(guest)
    assert pid is not None
    time.sleep(0.2)
    assert _state(pid) != "T"
