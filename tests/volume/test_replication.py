"""Replication with the real programs: two storage agents (``kumo
storage-agent``, each with its own ``qemu-storage-daemon`` on the loopback
address) against a real ``kumo serve``. A replicated volume is attached
(v3 attachments API, a connector naming a compute host) and written
through its NBD export with qemu-io; the primary's storage host is killed
(its agent and its daemon, SIGKILL); ``openstack volume host failover``
(``os-services/failover``) promotes the replica; every write that was acknowledged is read back
through the export the new primary serves. Before that, the primary's
daemon alone is killed once: its agent starts it again and the mirror with
it, and the writes after that are kept as well. Then the former primary's
host comes back and is failed back to (``backend_id`` ``default``): every
write, before and after the failover, is read from it; and the volume,
detached, is extended on both hosts, then retyped out of replication (its
replica removed) and back into it (mirrored again)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.storage.daemon import StorageDaemon, pid_alive
from tests.live import LiveServer

KUMO = str(Path(sys.executable).parent / "kumo")
OPENSTACK = str(Path(sys.executable).parent / "openstack")
V = "/volume/v3"
BASE_PORT = 20000 + (os.getpid() * 7) % 20000
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(shutil.which(p) for p in ("qemu-storage-daemon", "qemu-img", "qemu-io")),
        reason="needs qemu-utils and qemu-storage-daemon",
    ),
]


@dataclass
class Store:
    host: str
    port: int
    pool: Path
    run: Path
    proc: subprocess.Popen[bytes]

    def daemon(self) -> StorageDaemon:
        return StorageDaemon(self.run, "127.0.0.1", self.port)


def _agent(server: LiveServer, host: str, pool: Path, port: int, run: Path,
           log: Any) -> subprocess.Popen[bytes]:  # fmt: skip
    return subprocess.Popen(
        [KUMO, "storage-agent", "--host", host, "--api", server.base,
         "--pool", f"fast:{pool}:20", "--heartbeat-interval", "1",
         "--clouds-yaml", str(server.clouds_yaml), "--cloud", "kumo",
         "--export-address", "127.0.0.1", "--export-port", str(port),
         "--run-dir", str(run), "--no-export-firewall"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stores(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Store]]:
    out: dict[str, Store] = {}
    logs = []
    try:
        for i, host in enumerate(("store1", "store2")):
            pool = tmp_path_factory.mktemp(f"pool-{host}")
            run = tmp_path_factory.mktemp(f"run-{host}")
            port = BASE_PORT + i
            log = open(live_server.state_dir / f"{host}.log", "wb")  # noqa: SIM115
            logs.append(log)
            out[host] = Store(
                host, port, pool, run, _agent(live_server, host, pool, port, run, log)
            )
        yield out
    finally:
        for store in out.values():
            store.proc.terminate()
            try:
                store.proc.wait(10)
            except subprocess.TimeoutExpired:
                store.proc.kill()
            store.daemon().stop()
        for log in logs:
            log.close()


def _api(server: LiveServer) -> Callable[..., httpx.Response]:
    token = server.token()

    def call(method: str, path: str, body: Any = None, version: str = "3.60") -> httpx.Response:
        return httpx.request(method, server.base + V + path, json=body, timeout=30,
                             headers={"X-Auth-Token": token,
                                      "OpenStack-API-Version": f"volume {version}"})  # fmt: skip

    return call


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _nbd(port: int, export: str, commands: list[str]) -> subprocess.CompletedProcess[str]:
    argv = ["qemu-io", "-f", "raw"]
    for c in commands:
        argv += ["-c", c]
    return subprocess.run([*argv, f"nbd://127.0.0.1:{port}/{export}"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _ok(done: subprocess.CompletedProcess[str]) -> bool:
    text = done.stdout.lower()
    return done.returncode == 0 and "fail" not in text and "error" not in text


def test_failover_keeps_every_acknowledged_write(
    live_server: LiveServer, stores: dict[str, Store]
) -> None:
    call = _api(live_server)
    _until("both storage agents registered",
           lambda: len(call("GET", "/scheduler-stats/get_pools").json()["pools"]) == 2)  # fmt: skip
    r = call("POST", "/types", {"volume_type": {
        "name": "replicated", "extra_specs": {"replication_enabled": "<is> True"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    r = call("POST", "/volumes", {"volume": {"size": 1, "volume_type": "replicated"}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]

    def volume() -> dict[str, Any]:
        got = call("GET", f"/volumes/{vid}")
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()["volume"]
        assert body["status"] != "error", body
        return body

    vol = _until("the volume mirrored",
                 lambda: (v := volume())["status"] == "available"
                 and v["replication_status"] == "enabled" and v)  # fmt: skip
    primary = stores[vol["os-vol-host-attr:host"].split("@")[0]]
    replica = next(s for s in stores.values() if s is not primary)
    assert (replica.pool / f"volume-{vid}.qcow2").exists()

    r = call("POST", "/attachments", {"attachment": {
        "volume_uuid": vid, "instance_uuid": "0b7d3c1e-0000-4000-8000-0000000000aa",
        "connector": {"host": "compute1", "mountpoint": "/dev/vdb"}}})  # fmt: skip
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    assert att["connection_info"]["data"]["port"] == primary.port
    # 3 rounds of 40 writes of 64 KiB, each pattern at its own offset;
    # each round acknowledged when qemu-io exits. After the first, the
    # primary's daemon is killed: its agent starts it again, the mirror with it
    written: list[tuple[int, int]] = []
    for rnd in range(3):
        if rnd == 1:
            first = primary.daemon().pid()
            assert first is not None
            os.kill(first, signal.SIGKILL)
            _until("the daemon started again", lambda f=first: primary.daemon().pid() not in (
                None, f))  # fmt: skip
        batch = [(0x10 + rnd * 40 + i, (rnd * 40 + i) * 128 * 1024) for i in range(40)]
        commands = [f"write -P {p} {off} 64k" for p, off in batch]
        _until("the export answers", lambda c=commands: _ok(_nbd(primary.port, att["id"], c)))
        written += batch
    assert call("POST", f"/attachments/{att['id']}/action",
                {"os-complete": None}).status_code == 204  # fmt: skip

    # the primary's storage host dies: its agent and its daemon, SIGKILL
    daemon_pid = primary.daemon().pid()
    assert daemon_pid is not None
    primary.proc.send_signal(signal.SIGKILL)
    primary.proc.wait(10)
    os.kill(daemon_pid, signal.SIGKILL)
    _until("the daemon gone", lambda: pid_alive(primary.daemon().pidfile, "qsd") is None)

    # the real CLI: openstack volume host failover (openstacksdk: PUT os-services/failover)
    started = time.monotonic()
    done = subprocess.run([OPENSTACK, "volume", "host", "failover", "--volume-backend",
                           replica.host, f"{primary.host}@file"],
                          env=live_server.env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    answered = time.monotonic()
    vol = volume()
    assert vol["replication_status"] == "failed-over"
    assert vol["os-vol-host-attr:host"] == f"{replica.host}@file#fast"
    assert vol["status"] == "in-use"
    info = call("GET", f"/attachments/{att['id']}").json()["attachment"]["connection_info"]
    assert info["data"]["port"] == replica.port
    reads = [f"read -P {p} {off} 64k" for p, off in written]
    done = _until("the replica served",
                  lambda: (d := _nbd(replica.port, att["id"], reads)).returncode == 0 and d)  # fmt: skip
    assert _ok(done), done.stdout[-2000:]
    print(f"failover: the CLI returned after {answered - started:.2f} s; the replica served "
          f"the attachment {time.monotonic() - answered:.2f} s later")  # fmt: skip

    services = call("GET", "/os-services?binary=cinder-volume").json()["services"]
    failed = next(s for s in services if s["host"] == f"{primary.host}@file")
    assert failed["replication_status"] == "failed-over"
    assert failed["active_backend_id"] == replica.host
    r = call("PUT", "/os-services/failover_host", {"host": f"{primary.host}@file"})
    assert r.status_code == 400 and "badRequest" in r.json(), r.text

    # writes after the failover, to the new primary
    later = [(0xA0 + i, (200 + i) * 128 * 1024) for i in range(8)]
    assert _ok(_nbd(replica.port, att["id"], [f"write -P {p} {off} 64k" for p, off in later]))
    written += later

    # fail back: the former primary's host comes back (its agent starts its
    # daemon again); the volume is mirrored back onto its stale file, then
    # switched; every write, before and after the failover, is read there
    with open(live_server.state_dir / f"{primary.host}-again.log", "wb") as log:
        primary.proc = _agent(live_server, primary.host, primary.pool, primary.port,
                              primary.run, log)  # fmt: skip
    started = time.monotonic()
    _until("the former primary back and failing back", lambda: call(
        "PUT", "/os-services/failover_host",
        {"host": f"{primary.host}@file", "backend_id": "default"}).status_code == 202)  # fmt: skip
    vol = _until("the volume back on its primary and mirrored",
                 lambda: (v := volume())["os-vol-host-attr:host"].startswith(primary.host)
                 and v["replication_status"] == "enabled" and v, timeout=120)  # fmt: skip
    print(f"fail back: mirrored back, switched and mirrored again in "
          f"{time.monotonic() - started:.2f} s")  # fmt: skip
    info = call("GET", f"/attachments/{att['id']}").json()["attachment"]["connection_info"]
    assert info["data"]["port"] == primary.port
    reads = [f"read -P {p} {off} 64k" for p, off in written]
    done = _until("the primary served",
                  lambda: (d := _nbd(primary.port, att["id"], reads)).returncode == 0 and d)  # fmt: skip
    assert _ok(done), done.stdout[-2000:]
    services = call("GET", "/os-services?binary=cinder-volume").json()["services"]
    back = next(s for s in services if s["host"] == f"{primary.host}@file")
    assert back["active_backend_id"] is None and back["status"] == "enabled"

    # extend while replicated (detached: 400 while attached): both files grow,
    # the mirror runs again
    r = call("POST", f"/volumes/{vid}/action", {"os-extend": {"new_size": 2}})
    assert r.status_code == 400 and "detached" in r.text, r.text
    assert call("DELETE", f"/attachments/{att['id']}").status_code == 200
    _until("detached", lambda: volume()["status"] == "available")
    r = call("POST", f"/volumes/{vid}/action", {"os-extend": {"new_size": 2}})
    assert r.status_code == 202, r.text
    _until("extended and mirrored again", lambda: (v := volume())["size"] == 2
           and v["status"] == "available" and v["replication_status"] == "enabled")  # fmt: skip
    for store in (primary, replica):
        info = subprocess.run(["qemu-img", "info", "--output=json", "-U",
                               str(store.pool / f"volume-{vid}.qcow2")],
                              capture_output=True, text=True, check=True)  # fmt: skip
        assert '"virtual-size": 2147483648' in info.stdout, (store.host, info.stdout)

    # retype out of replication: the replica's host removes the replica, the
    # mirror stops; back into it: a replica placed and mirrored again
    r = call("POST", f"/volumes/{vid}/action", {"os-retype": {"new_type": "__DEFAULT__"}})
    assert r.status_code == 202, r.text
    assert volume()["replication_status"] == "disabled"
    _until("the replica removed", lambda: not (replica.pool / f"volume-{vid}.qcow2").exists())
    r = call("POST", f"/volumes/{vid}/action", {"os-retype": {"new_type": "replicated"}})
    assert r.status_code == 202, r.text
    _until("replicated again", lambda: volume()["replication_status"] == "enabled")
    assert (replica.pool / f"volume-{vid}.qcow2").exists()
    r = call("PUT", f"/volumes/{vid}", {"volume": {"name": "done"}})
    assert r.status_code == 200, r.text
