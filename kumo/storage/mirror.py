"""Replication by QEMU's own block mirror, driven over the storage daemon's QMP.

On the primary's storage host the daemon keeps a replicated volume's file
open (node ``r…``) whether or not it is attached, with a ``blockdev-mirror``
job (``m…``) copying it to an NBD client node (``t…``) that opens the
replica's export on the other storage host (``replica-VOLUME``, served by
that host's daemon from the replica's file). The job runs with
``copy-mode: write-blocking``: once it is ready (the first full copy done)
a write from a client completes only after it is written to both files, so
an acknowledged write survives the loss of either host. The job inserts a
filter node (``f…``) above the volume's node; exports of the volume to
compute hosts are made on that filter, so their writes pass through it.

``ensure`` is level-triggered: it reads the daemon's jobs and nodes back
and starts what is missing (after a daemon restart: everything, a full
copy again), removing a job that failed and its target node first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from kumo.storage.daemon import DaemonError, StorageDaemon
from kumo.vm.qmp import QmpClient, QmpCommandError, QmpTimeout

log = logging.getLogger("kumo.storage")


def key(volume_id: str) -> str:
    """The part of a volume's node names and job id that names the volume."""
    return volume_id.replace("-", "")[:30]


def _short(prefix: str, volume_id: str) -> str:
    return prefix + key(volume_id)


def volume_node(volume_id: str) -> str:
    return _short("r", volume_id)


def target_node(volume_id: str) -> str:
    return _short("t", volume_id)


def filter_node(volume_id: str) -> str:
    return _short("f", volume_id)


def job_id(volume_id: str) -> str:
    return _short("m", volume_id)


def replica_export(volume_id: str) -> str:
    """The NBD export (and export id) of a replica on its storage host."""
    return f"replica-{volume_id}"


OWNED_PREFIXES = ("r", "t", "f")


@dataclass(frozen=True)
class Peer:
    address: str
    port: int


@dataclass(frozen=True)
class MirrorState:
    running: bool
    ready: bool
    error: str = ""


def _nodes(q: QmpClient) -> set[str]:
    return {str(n.get("node-name")) for n in q.execute("query-named-block-nodes", {"flat": True})}


def _jobs(q: QmpClient) -> dict[str, dict[str, object]]:
    return {str(j.get("device")): j for j in q.execute("query-block-jobs")}


def _quiet(q: QmpClient, command: str, args: dict[str, object]) -> None:
    try:
        q.execute(command, args)
    except QmpCommandError as exc:
        log.debug("%s: %s", command, exc)


def open_volume(daemon: StorageDaemon, volume_id: str, path: Path) -> None:
    """The volume's file open in the daemon (node ``r…``), unless it is."""
    node = volume_node(volume_id)
    with daemon.qmp() as q:
        if node not in _nodes(q):
            q.execute("blockdev-add", {"driver": "qcow2", "node-name": node,
                                       "file": {"driver": "file", "filename": str(path)}})  # fmt: skip


def state(daemon: StorageDaemon, volume_id: str) -> MirrorState:
    with daemon.qmp() as q:
        job = _jobs(q).get(job_id(volume_id))
    if job is None:
        return MirrorState(running=False, ready=False)
    return MirrorState(running=job.get("status") not in ("concluded", "null"),
                       ready=bool(job.get("ready")), error=str(job.get("error") or ""))  # fmt: skip


def ensure(
    daemon: StorageDaemon,
    volume_id: str,
    path: Path,
    peer: Peer,
    copy_mode: str = "write-blocking",
) -> MirrorState:
    """The volume open and mirrored to its replica's export at ``peer``;
    raises ``QmpError`` when the mirror cannot be started (the replica's host
    unreachable, its export not there yet). ``copy_mode`` ``background`` is
    for measuring what write-blocking costs (it acknowledges writes before
    the replica has them)."""
    open_volume(daemon, volume_id, path)
    job = job_id(volume_id)
    with daemon.qmp() as q:
        jobs = _jobs(q)
        current = jobs.get(job)
        if current is not None and current.get("status") not in ("concluded", "null"):
            return MirrorState(running=True, ready=bool(current.get("ready")))
        if current is not None:
            _quiet(q, "job-dismiss", {"id": job})
        target = target_node(volume_id)
        if target in _nodes(q):
            _quiet(q, "blockdev-del", {"node-name": target})
        q.execute("blockdev-add", {
            "driver": "nbd", "node-name": target,
            "server": {"type": "inet", "host": peer.address, "port": str(peer.port)},
            "export": replica_export(volume_id),
        })  # fmt: skip
        try:
            q.execute("blockdev-mirror", {
                "job-id": job, "device": volume_node(volume_id), "target": target,
                "sync": "full", "copy-mode": copy_mode,
                "filter-node-name": filter_node(volume_id),
            })  # fmt: skip
        except QmpCommandError:
            _quiet(q, "blockdev-del", {"node-name": target})
            raise
    log.info("volume %s: mirroring to %s:%d started", volume_id, peer.address, peer.port)
    return MirrorState(running=True, ready=False)


def lag_bytes(daemon: StorageDaemon, volume_id: str) -> int | None:
    """What the replica is behind the primary (bytes still to copy), None without a job."""
    with daemon.qmp() as q:
        job = _jobs(q).get(job_id(volume_id))
    if job is None:
        return None
    return max(int(str(job.get("len", 0))) - int(str(job.get("offset", 0))), 0)


def wait_ready(daemon: StorageDaemon, volume_id: str, timeout: float) -> bool:
    """Until the first full copy is done (``BLOCK_JOB_READY``); False after ``timeout``."""
    with daemon.qmp() as q:
        job = _jobs(q).get(job_id(volume_id))
        if job is not None and job.get("ready"):
            return True
        try:
            q.wait_event("BLOCK_JOB_READY", timeout, {"device": job_id(volume_id)})
        except QmpTimeout:
            return False
    return True


def _end(q: QmpClient, job: str, *, strict: bool = False) -> None:
    """Cancel the mirror ``job`` if it runs and wait for its end (10 s at
    most: then a warning, or with ``strict`` an error)."""
    if job not in _jobs(q):
        return
    _quiet(q, "block-job-cancel", {"device": job, "force": True})
    try:
        q.wait_event("BLOCK_JOB_CANCELLED", 10.0, {"device": job})
    except QmpTimeout:
        if strict:
            raise DaemonError(f"mirror {job} did not end in 10 s") from None
        log.warning("mirror %s did not end in 10 s", job)
    _quiet(q, "job-dismiss", {"id": job})


def stop(daemon: StorageDaemon, volume_key: str) -> None:
    """Cancel the mirror of the volume ``key`` names, close its target and
    its node (which flushes it)."""
    job = "m" + volume_key
    with daemon.qmp() as q:
        _end(q, job)
        for node in ("t" + volume_key, "r" + volume_key):
            _quiet(q, "blockdev-del", {"node-name": node})


def grow(daemon: StorageDaemon, volume_id: str, size_bytes: int) -> None:
    """Grow a replicated volume's open node (an extend): its mirror stops
    first (QEMU does not resize a node a mirror copies) and its target
    closes; ``ensure`` starts both again once the replica has grown too."""
    job = job_id(volume_id)
    with daemon.qmp() as q:
        _end(q, job)
        _quiet(q, "blockdev-del", {"node-name": target_node(volume_id)})
        q.execute("block_resize", {"node-name": volume_node(volume_id), "size": size_bytes})
    log.info("volume %s grown to %d bytes; its mirror starts again when the replica has grown",
             volume_id, size_bytes)  # fmt: skip


def release(daemon: StorageDaemon, volume_id: str) -> None:
    """End the volume's mirror but keep its node open (the exports on the
    filter move down to it): a block job holds its nodes, and QEMU refuses
    a backup of them, so a snapshot of an attached replicated volume is
    taken between ``release`` and the next ``ensure`` (which copies the
    volume to the replica again, writes mirrored at once as before)."""
    job = job_id(volume_id)
    with daemon.qmp() as q:
        _end(q, job, strict=True)
        _quiet(q, "blockdev-del", {"node-name": target_node(volume_id)})


def opened(daemon: StorageDaemon) -> set[str]:
    """The keys of the volumes this module holds open (nodes ``r…``)."""
    with daemon.qmp() as q:
        return {n[1:] for n in _nodes(q) if n.startswith("r")}


def export_node(daemon: StorageDaemon, volume_id: str) -> str:
    """The node an export of a mirrored volume must use: the mirror's filter
    while the job runs (writes pass through it to both files), else the
    volume's node."""
    with daemon.qmp() as q:
        nodes = _nodes(q)
    node = filter_node(volume_id)
    return node if node in nodes else volume_node(volume_id)
