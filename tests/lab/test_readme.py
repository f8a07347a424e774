"""The README's commands, as written, on a lab of the test's own.

Every ```sh block of README.md runs in one bash shell (``set -e``, in
README order, from the repository's root), as a newcomer would paste them,
except blocks that a ``<!-- illustrative... -->`` comment right before marks
as such. The shell finds ``kumo`` and ``openstack`` on PATH (the install's
links; here this environment's, first). The lab is named for the test
(``KUMO_LAB``), so the README's mentions of the default lab's own names
are mapped to it and nothing else: its state directory
(/var/lib/kumo/lab/) and namespace prefix (``klab-``); lab names the
README starts (``--name b``) get a unique suffix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from kumo.lab import naming, registry
from kumo.lab.supervisor import lab_processes

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def sh_blocks(text: str) -> list[tuple[str, bool]]:
    """(code, illustrative) of every ```sh block."""
    out = []
    for match in re.finditer(r"(?m)^```sh\n(.*?)^```", text, re.S):
        before = text[: match.start()].rstrip().splitlines()
        marked = bool(before) and before[-1].strip().startswith("<!-- illustrative")
        out.append((match.group(1), marked))
    return out


def test_blocks_are_found() -> None:
    blocks = sh_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 5
    assert blocks[0][1] and "install.sh" in blocks[0][0]  # the install, marked
    runnable = "".join(code for code, marked in blocks if not marked)
    assert "kumo exec vm1" in runnable and "<" not in runnable.replace("<<", "")


def test_install_puts_kumo_and_openstack_on_path(tmp_path: Path) -> None:
    env = {**os.environ, "KUMO_BIN_DIR": str(tmp_path)}
    done = subprocess.run(["bash", "scripts/install.sh"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for tool in ("kumo", "openstack"):
        link = tmp_path / tool
        assert link.is_symlink() and link.resolve() == (ROOT / ".venv/bin" / tool).resolve()
        assert subprocess.run([link, "--help"], capture_output=True, timeout=60).returncode == 0


def test_readme_commands_run_as_written() -> None:
    name = f"rd{uuid.uuid4().hex[:6]}"
    extra = f"{name}b"
    state = naming.state_dir_for(name)
    prefix = naming.prefix_for(name)
    script = "".join(code for code, marked in sh_blocks((ROOT / "README.md").read_text())
                     if not marked)  # fmt: skip
    script = script.replace("/var/lib/kumo/lab/", f"{state}/").replace("klab-", prefix)
    script = re.sub(r"--name b\b", f"--name {extra}", script)
    env = {**os.environ, "KUMO_LAB": name, "PATH": f"{BIN}:{os.environ['PATH']}"}
    for key in [k for k in env if k.startswith("OS_")]:
        del env[key]
    kumo = str(BIN / "kumo")
    up = subprocess.run([kumo, "up", "--name", name, "--detach"], capture_output=True, text=True,
                        env=env, timeout=180)  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"export OS_CLIENT_CONFIG_FILE={state}/clouds.yaml OS_CLOUD=kumo" in up.stdout
        traced = "PS4='+ $(date +%s.%N) '\n" + script  # each command's start time
        done = subprocess.run(["bash", "-exo", "pipefail", "-c", traced], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)  # fmt: skip
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
        print(slowest(done.stderr))  # shown with -s, and on failure
        # what the README promises the commands show
        out = done.stdout
        assert Path("/etc/hostname").read_text().strip() in out  # vm3's page, through the group
        assert "#cloud-config" in out and "served by kumo" in out  # vm5's user data
        assert '"role": "web"' in out  # vm5's metadata
        assert "eth0" in out  # vm6's addresses
    finally:
        subprocess.run([kumo, "down", "--name", name, "--purge"], env=env, timeout=60)
        subprocess.run([kumo, "down", "--name", extra, "--purge"], env=env, timeout=60)
    left = [ns for ns in _netns() if ns.startswith((prefix, naming.prefix_for(extra)))]
    assert left == []
    assert registry.get(name) is None and not state.exists()
    assert lab_processes(state) == []


def slowest(trace: str, count: int = 8) -> str:
    """The commands of an ``-x`` trace (PS4 with start times) that took longest."""
    starts = [(float(m.group(1)), m.group(2)[:100])
              for m in re.finditer(r"(?m)^\+ (\d+\.\d+) (.*)$", trace)]  # fmt: skip
    took = sorted(((b[0] - a[0], a[1]) for a, b in zip(starts, starts[1:], strict=False)),
                  reverse=True)  # fmt: skip
    total = starts[-1][0] - starts[0][0] if starts else 0.0
    return f"README commands: {total:.0f} s; slowest:\n" + "\n".join(
        f"  {t:5.1f} s  {cmd}" for t, cmd in took[:count]
    )


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]
