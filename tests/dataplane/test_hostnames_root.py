"""Root test: an instance has its own UTS namespace on the real kernel.

``hostname`` in the instance (as ``kumo exec`` and the console run it)
prints the port's hostname, not the machine's; the instance's guest process
(busybox httpd of a server's instance) runs in that namespace, and is
started again in it when it runs outside (started before the namespace was
made); a new hostname is set in place; the namespace's file goes with the
instance.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane import uts
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.guest import processes
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture
def lab() -> Iterator[RootLab]:
    lab = RootLab()
    try:
        yield lab.start(count=1)
    finally:
        lab.close()


def _view(lab: RootLab, hostname: str) -> ClusterView:
    (host,) = lab.hosts
    port = s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", host, [("s1", "10.0.0.11")])
    port["kumo_hostname"] = hostname  # a server's port, as the watch feed has it
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1")],
        [port],
        lab.agent_bodies(),
    )


def _in_instance(ns: str, *cmd: str) -> str:
    """``cmd``'s output, run in the instance as ``kumo exec`` runs it."""
    return sh("ip", "netns", "exec", ns, *uts.command(ns, list(cmd))).stdout.strip()


def _guest_pid(run_dir: Path, ns: str) -> int:
    pidfile = run_dir / f"{ns}.services.pid"
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the instance's guest did not start"
        time.sleep(0.05)
    return int(pidfile.read_text())


def test_instance_has_its_own_hostname(
    lab: RootLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, uts_dir = tmp_path / "guests", tmp_path / "uts"
    monkeypatch.setattr(processes, "RUN_DIR", run_dir)
    monkeypatch.setattr(uts, "UTS_DIR", uts_dir)
    (host,) = lab.hosts
    ns = n.instance_netns(host, s.P1)
    other = n.instance_netns("another-host", s.P2)  # another agent's instance
    dp = Dataplane.for_host(host, lab.hosts[host])
    try:
        uts.create(other, "theirs")
        result = dp.apply(compile_host(host, _view(lab, "web-1")))
        assert result.ok, result.errors
        assert s.P1 in result.wired_ports
        assert _in_instance(ns, "hostname") == "web-1"
        assert socket.gethostname() != "web-1"  # the machine keeps its own
        pid = _guest_pid(run_dir, ns)
        assert os.stat(f"/proc/{pid}/ns/uts").st_ino == os.stat(uts.path(ns)).st_ino

        result = dp.apply(compile_host(host, _view(lab, "db-2")))  # the server renamed
        assert result.ok, result.errors
        assert _in_instance(ns, "hostname") == "db-2"
        assert _guest_pid(run_dir, ns) == pid  # renamed in place: the guest keeps running
        assert os.stat(f"/proc/{pid}/ns/uts").st_ino == os.stat(uts.path(ns)).st_ino

        # its namespace made again (a guest from before it was made, the
        # same): the guest is started again inside it
        uts.remove(ns)
        uts.create(ns, "db-2")
        dp.resync()
        result = dp.apply(compile_host(host, _view(lab, "db-2")))
        assert result.ok, result.errors
        deadline = time.monotonic() + 10
        while (new := _guest_pid(run_dir, ns)) == pid:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert os.stat(f"/proc/{new}/ns/uts").st_ino == os.stat(uts.path(ns)).st_ino

        result = dp.apply(HostPlan(host=host))  # the instance is deleted
        assert result.ok, result.errors
        assert not uts.path(ns).exists()
        assert uts.read(other) == "theirs"
    finally:
        dp.apply(HostPlan(host=host))
        dp.close()
        for name in uts.list_names():
            uts.remove(name)
