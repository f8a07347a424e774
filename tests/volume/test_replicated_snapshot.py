"""A snapshot of an attached replicated volume (real storage daemon, no
API): the mirror job holds the volume's nodes and QEMU refuses a backup of
them, so the agent releases the mirror, takes the snapshot and starts the
mirror again; writes after it reach the replica. (The replica's export is
served by a second daemon on the loopback address, as its host's would be.)"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kumo.storage import mirror
from kumo.storage.agent import StorageAgent, StorageConfig
from kumo.storage.daemon import StorageDaemon
from kumo.storage.pool import FilePool

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("qemu-storage-daemon", "qemu-img", "qemu-io")),
    reason="needs qemu-utils and qemu-storage-daemon",
)

VID = "9e1f0c2a-0000-4000-8000-000000000001"
ATT = "5a7b8c9d-0000-4000-8000-000000000002"


class NoReports:
    def _post(self, path: str, body: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _io(target: str, command: str, fmt: str = "qcow2") -> str:
    share = ["-r", "-U"] if fmt == "qcow2" else []  # (reads of files others hold open)
    done = subprocess.run(["qemu-io", *share, "-f", fmt, "-c", command, target],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "Pattern verification failed" not in done.stdout, done.stdout
    return done.stdout


def test_a_snapshot_of_an_attached_replicated_volume(tmp_path: Path) -> None:
    port, replica_port = _free_port(), _free_port()
    second = StorageDaemon(tmp_path / "run2", "127.0.0.1", replica_port, firewall=False)
    pool = FilePool("pool1", tmp_path / "pool1", 10)
    replicas = tmp_path / "replicas"
    config = StorageConfig("st1", (pool,), export_address="127.0.0.1", export_port=port,
                           run_dir=tmp_path / "run", export_firewall=False)  # fmt: skip
    agent = StorageAgent(config, NoReports())  # type: ignore[arg-type]
    daemon = agent.daemon
    assert daemon is not None
    try:
        daemon.ensure()
        second.ensure()
        pool.directory.mkdir(parents=True)
        replicas.mkdir()
        for path in (pool.volume(VID), replicas / "replica.qcow2"):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"],
                           check=True)  # fmt: skip
        second.export(mirror.replica_export(VID), replicas / "replica.qcow2")
        agent.volumes[VID] = {
            "id": VID, "status": "in-use", "storage_host": "st1", "pool": "pool1", "size": 1,
            "replication_status": "enabled",
            "replica": {"host": "st2", "pool": "pool1", "address": "127.0.0.1",
                        "port": replica_port},
        }  # fmt: skip
        agent.attachments[ATT] = {"id": ATT, "volume_id": VID, "storage_host": "st1"}
        agent._mirror_pass()
        assert mirror.wait_ready(daemon, VID, 30)
        daemon.export(ATT, pool.volume(VID), node=mirror.export_node(daemon, VID))
        url = f"nbd://127.0.0.1:{port}/{ATT}"
        _io(url, "write -P 0x21 0 1M", "raw")

        agent.snapshots["s1"] = {"id": "s1", "status": "creating", "volume_id": VID,
                                 "storage_host": "st1", "pool": "pool1", "size": 1}  # fmt: skip
        agent._snapshot_exported()
        outcome = agent.pending[("snapshots", "s1")]
        assert outcome.status == "available", outcome
        _io(str(pool.snapshot("s1")), "read -P 0x21 0 1M")
        # the mirror runs again; the export still takes writes, which reach the replica
        assert mirror.state(daemon, VID).running
        assert mirror.wait_ready(daemon, VID, 30)
        _io(url, "write -P 0x42 0 1M", "raw")
        _io(str(pool.snapshot("s1")), "read -P 0x21 0 1M")  # the snapshot kept its cut
        deadline = time.monotonic() + 10
        while True:
            try:
                _io(str(replicas / "replica.qcow2"), "read -P 0x42 0 1M")
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the write never reached the replica"
                time.sleep(0.2)
    finally:
        daemon.stop()
        second.stop()
