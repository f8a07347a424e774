"""Two named labs side by side on one machine (2 hosts each), sharing one
pair of labs between the checks: a name or port in use is refused before
anything is built; commands find a lab by its name; the supervisor
restarts a killed agent; ``kumo down`` from another shell stops a
foreground ``kumo up`` within 5 s and leaves nothing of that lab behind,
while the other lab keeps working.

Names are unique per run (``t`` + 6 hex digits), so no other lab on the
machine is ever touched; state directories are the test's own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kumo.compiler import names
from kumo.dataplane.guest.processes import RUN_DIR
from kumo.lab import naming, registry
from kumo.lab.supervisor import LabState, lab_processes, wait_restarted

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]
KUMO = str(Path(sys.executable).parent / "kumo")
OPENSTACK = str(Path(sys.executable).parent / "openstack")


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUMO, *args], capture_output=True, text=True, timeout=timeout, env=env)


def ok(*args: str) -> str:
    done = run(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def netns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def root_links() -> set[str]:
    """Links of the machine's own namespace that a lab could have left there
    (kumo's own names, the lab's segment ends); others' are none of ours."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}
    return {n for n in found if names.is_kumo_name(n) or re.fullmatch(r"[upe]\d+|up0", n)}


def nft_tables() -> set[str]:
    """The machine's own namespace's nftables tables named like kumo's."""
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {line for line in out.splitlines() if "kumo" in line}


@dataclass
class Lab:
    name: str
    state: Path
    proc: subprocess.Popen[bytes] | None = None
    """The foreground ``kumo up`` (None: started with --detach)."""

    @property
    def lab(self) -> LabState:
        loaded = LabState.load(self.state)
        assert loaded is not None
        return loaded

    def owned(self, ns: str) -> bool:
        hosts = [f"{self.name}-host{i}" for i in (1, 2)]
        return ns.startswith(naming.prefix_for(self.name)) or any(
            names.is_instance_netns(ns, h) or names.is_router_netns(ns, h)
            or names.is_metadata_netns(ns, h)
            for h in hosts
        )  # fmt: skip

    def leftovers(self) -> list[str]:
        """Whatever of this lab is still on the machine."""
        left = [ns for ns in netns_list() if self.owned(ns)]
        left += [f"process {pid}" for pid in lab_processes(self.state)]
        tags = tuple(names.instance_netns_prefix(f"{self.name}-host{i}") for i in (1, 2))
        if RUN_DIR.is_dir():
            left += [f"guest file {p.name}" for p in RUN_DIR.iterdir() if p.name.startswith(tags)]
        if registry.get(self.name) is not None:
            left.append("registry entry")
        return left

    def openstack(self, *args: str) -> str:
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.state / "clouds.yaml"),
               "OS_CLOUD": "kumo"}  # fmt: skip
        done = subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env,
                              timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def ping(self, instance: str, address: str, count: int = 1) -> bool:
        done = run("exec", "--name", self.name, instance, "--", "ping", "-c", str(count),
                   "-W", "1", address)  # fmt: skip
        return done.returncode == 0

    def stop(self) -> None:
        run("down", "--name", self.name, timeout=60)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for ns in netns_list():
            if self.owned(ns):
                subprocess.run(["ip", "netns", "delete", ns], check=False)


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Lab]]:
    tag = uuid.uuid4().hex[:6]
    root = tmp_path_factory.mktemp("labs")
    a = Lab(f"t{tag}a", root / "a")
    b = Lab(f"t{tag}b", root / "b")
    links, tables = root_links(), nft_tables()
    try:
        # b in the foreground (as a user runs it), a detached, both at once
        with open(root / "b.out", "wb") as out:
            b.proc = subprocess.Popen([KUMO, "up", "--name", b.name, "--hosts", "2",
                                       "--state-dir", str(b.state)],
                                      stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        ok("up", "--name", a.name, "--hosts", "2", "--state-dir", str(a.state), "--detach")
        _wait(lambda: (e := registry.get(b.name)) is not None and e.ready, 120,
              (root / "b.out").read_text())  # fmt: skip
        for lab, cidr in ((a, "10.31.0.0/24"), (b, "10.32.0.0/24")):
            lab.openstack("network", "create", "n1")
            lab.openstack("subnet", "create", "--network", "n1", "--subnet-range", cidr, "s1")
            for i in (1, 2):
                # host1/host2 name the lab's own first and second hosts
                ok("lab", "instance", "create", f"v{i}", "--network", "n1", "--host", f"host{i}",
                   "--name", lab.name)  # fmt: skip
        yield a, b
    finally:
        a.stop()
        b.stop()
    assert a.leftovers() == [] and b.leftovers() == []
    assert root_links() == links
    assert nft_tables() == tables


def test_each_lab_has_its_own_names_and_port(labs: tuple[Lab, Lab]) -> None:
    a, b = labs
    for lab in (a, b):
        state = lab.lab
        assert state.name == lab.name
        assert state.host_names == [f"{lab.name}-host1", f"{lab.name}-host2"]
        assert set(state.namespaces) <= netns_list()
        entry = registry.get(lab.name)
        assert entry is not None and entry.api_url == state.api_url
    assert a.lab.port != b.lab.port
    assert a.lab.port >= naming.FIRST_PORT and b.lab.port >= naming.FIRST_PORT
    assert (
        f"export OS_CLIENT_CONFIG_FILE={b.state}/clouds.yaml"
        in (b.state.parent / "b.out").read_text()
    )
    # found by name, from any directory, without --state-dir
    assert a.ping("v1", "10.31.0.3") and b.ping("v1", "10.32.0.3")
    env = {**os.environ, "KUMO_LAB": b.name}
    listed = run("lab", "instance", "list", env=env)
    assert listed.returncode == 0 and f"{b.name}-host2" in listed.stdout, listed.stderr
    # a name that a lab instance and a server share is refused, both listed
    a.openstack("server", "create", "--image", "busybox", "--flavor", "m1.tiny", "--network", "n1",
                "v1")  # fmt: skip
    try:
        both = run("exec", "--name", a.name, "v1", "--", "true")
        assert both.returncode != 0
        assert "2 instances are named 'v1'" in both.stderr
        assert "lab instance" in both.stderr and "server" in both.stderr
    finally:
        a.openstack("server", "delete", "v1")
    # several labs run (maybe others' too): a command naming none says which exist
    if registry.get(naming.DEFAULT_NAME) is None:
        vague = run("lab", "status", env={k: v for k, v in os.environ.items() if k != "KUMO_LAB"})
        assert vague.returncode != 0 and "several labs are running" in vague.stderr


def test_a_name_or_port_in_use_is_refused_before_anything_is_built(labs: tuple[Lab, Lab]) -> None:
    a, _ = labs
    before = netns_list()
    again = run("up", "--name", a.name, "--hosts", "2", "--detach", timeout=30)
    assert again.returncode != 0
    assert f"a lab named {a.name!r} is running already" in again.stderr
    assert str(registry.get(a.name).pid) in again.stderr  # type: ignore[union-attr]
    other = f"{a.name}x"
    taken = run("up", "--name", other, "--port", str(a.lab.port), "--state-dir",
                str(a.state.parent / "x"), "--detach", timeout=30)  # fmt: skip
    assert taken.returncode != 0
    assert f"port {a.lab.port} is in use by the running lab {a.name!r}" in taken.stderr
    assert "Traceback" not in taken.stderr
    assert netns_list() == before
    assert registry.get(other) is None


def test_a_killed_agent_is_restarted_and_its_ports_stay_active(labs: tuple[Lab, Lab]) -> None:
    a, _ = labs
    host = f"{a.name}-host2"
    killed = a.lab.pids[host]
    os.killpg(killed, signal.SIGKILL)
    pid = wait_restarted(a.state, host, killed, timeout=30)
    assert pid != killed
    log = (a.state / "logs" / "supervisor.log").read_text()
    assert f"the agent of {host} exited (signal 9)" in log
    assert f"the agent of {host} restarted (pid {pid})" in log
    ports = json.loads(a.openstack("port", "list", "--device-owner", "compute:lab", "-f", "json",
                                   "-c", "Name", "-c", "Status"))  # fmt: skip
    assert {p["Name"]: p["Status"] for p in ports} == {"v1": "ACTIVE", "v2": "ACTIVE"}
    assert a.ping("v1", "10.31.0.3")
    # a deliberate stop is not undone by the supervisor, until started again
    ok("lab", "stop", "agent", "host2", "--name", a.name)
    time.sleep(1.0)
    assert a.lab.pids[host] == pid and not registry.alive(pid)
    ok("lab", "start", "agent", "host2", "--name", a.name)
    assert registry.alive(a.lab.pids[host])


def test_down_from_another_shell_stops_the_foreground_lab(labs: tuple[Lab, Lab]) -> None:
    a, b = labs
    assert b.proc is not None
    started = time.monotonic()
    down = run("down", "--name", b.name, timeout=30)
    took = time.monotonic() - started
    assert down.returncode == 0, down.stderr
    log = (b.state / "logs" / "supervisor.log").read_text().splitlines()
    assert took < 5, f"kumo down took {took:.1f} s; the supervisor: {log[-1:]}"
    b.proc.wait(timeout=5)
    assert b.leftovers() == []
    assert f"state kept in {b.state.resolve()}" in down.stdout.replace("\n", "")
    # the other lab is untouched and still pings across hosts
    assert set(a.lab.namespaces) <= netns_list()
    assert a.ping("v1", "10.31.0.3", count=2)
    # --purge also removes the state directory
    purged = run("down", "--name", b.name, "--state-dir", str(b.state), "--purge")
    assert purged.returncode == 0 and not b.state.exists()
