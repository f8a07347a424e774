"""Three hosts running the HA machinery as the agent does, without the API.

Each ``HaNode`` is a host's liveness thread (real beats on the lab's
underlay) and a worker that compiles the shared view with the node's
liveness view and applies it to the host's kernel. ``kill`` stops a node
the way SIGKILL stops an agent: no last beat, no cleanup, the gates left to
the kernel's lease.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.dataplane.driver import Dataplane
from kumo.ha.liveness import Liveness, LivenessSettings
from kumo.ha.seal import ClusterKey
from kumo.ha.statesync import StateSync, roles
from tests.dataplane.rootlab import RootLab, sh

PROBE = str(Path(__file__).resolve().parents[2] / "bench" / "probe.py")


class HaNode:
    def __init__(
        self,
        lab: RootLab,
        host: str,
        view: Callable[[], ClusterView],
        settings: LivenessSettings,
        key: ClusterKey,
    ) -> None:
        self.lab = lab
        self.host = host
        self.view = view
        self.settings = settings
        self.dp: Dataplane | None = None
        """Made and used by the worker thread only (netlink sockets are per thread)."""
        self.ready = threading.Event()
        self.live = Liveness(host, lab.tunnel_ips[host], settings, key=key,
                             host_netns=lab.hosts[host], on_change=self.kick)  # fmt: skip
        self.sync = StateSync(host, lab.tunnel_ips[host], settings.port + 1, key=key,
                              host_netns=lab.hosts[host])  # fmt: skip
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.errors: list[str] = []

    def kick(self) -> None:
        self.wake.set()

    def configure(self) -> None:
        view = self.view()
        peers = {h.host: h.tunnel_ip for h in view.hosts.values() if h.tunnel_ip}
        routers = {rid: r.gateway_hosts for rid, r in view.routers.items() if r.ha}
        self.live.configure(peers, routers)

    def plan(self, active: dict[str, str | None] | None = None) -> HostPlan:
        active = self.live.active() if active is None else active
        return compile_host(self.host, self.view(), ha_active=active,
                            lease_ms=round(self.settings.lease * 1000))  # fmt: skip

    def start(self) -> HaNode:
        self.configure()
        self.live.start()
        self.sync.start()
        self.thread.start()
        assert self.ready.wait(20), "the first pass did not finish"
        return self

    def _loop(self) -> None:
        self.dp = Dataplane.for_host(self.host, self.lab.hosts[self.host])
        self.dp.converge(self.plan(), timeout=10)
        self.ready.set()
        while not self.stopped.is_set():
            self.wake.wait(0.5)
            self.wake.clear()
            if self.stopped.is_set():
                return
            self.configure()
            active = self.live.active()
            result = self.dp.apply(self.plan(active))
            self.sync.update(*roles(self.host, self.view(), active))
            if not result.ok:
                self.errors.append(str(dict(result.errors)))
                time.sleep(0.05)
                self.wake.set()

    def _halt(self) -> None:
        self.sync.stop()
        self.stopped.set()
        self.wake.set()
        self.thread.join(timeout=10)
        if self.dp is not None:
            self.dp.close()

    def kill(self) -> None:
        """As SIGKILL: beats stop mid-flight, nothing is cleaned up."""
        self.live.stop(leaving=False)
        self._halt()

    def stop(self) -> None:
        """As a graceful stop: a leaving beat, then the gates closed."""
        self.live.stop(leaving=True)
        if self.dp is not None:
            self.dp.close_gates()
        self._halt()

    def close(self) -> None:
        """Stop (if running) and remove everything the host has."""
        if not self.stopped.is_set():
            self.kill()
        dp = Dataplane.for_host(self.host, self.lab.hosts[self.host])
        try:
            dp.converge(HostPlan(host=self.host), timeout=10)
        finally:
            dp.close()


def wait_for(check: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> float:
    """Seconds until ``check()`` held; AssertionError after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"not within {timeout}s")


class Probe:
    """A UDP or TCP echo probe from ``client_ns`` to ``server_ip`` (see bench/probe.py)."""

    def __init__(self, client_ns: str, server_ip: str, mode: str, seconds: float,
                 port: int = 7777, interval: float = 0.01) -> None:  # fmt: skip
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", client_ns, sys.executable, PROBE, mode, server_ip, str(port),
             str(seconds), str(interval)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def result(self, timeout: float = 60) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise AssertionError(f"probe failed: {err.strip()}")
        data: dict[str, Any] = json.loads(out)
        return data


def echo_server(ns: str, port: int = 7777) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, PROBE, "serve", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    return proc


def arp_responders(ns: str, ip: str, count: int = 3) -> int:
    """Replies to ``count`` ARP requests for ``ip`` sent from ``ns``'s eth0:
    ``count`` when exactly one host answers, more when several do."""
    out = sh("ip", "netns", "exec", ns, "busybox", "arping", "-b", "-c", str(count), "-w",
             str(count + 1), "-I", "eth0", ip, check=False).stdout  # fmt: skip
    for line in out.splitlines():
        if line.startswith("Received"):
            return int(line.split()[1])
    return 0
