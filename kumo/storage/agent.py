"""The storage agent's loop: register, list and watch ``storage:HOST``, act, report.

Each pass looks at every volume and snapshot of the host in the cache
and does what its status asks, judged against the files on disk:

- volume ``creating``: make the file (blank, a copy of its source
  snapshot or volume, or an image's data fetched from the API by its
  hash) unless it is there, then report ``available``;
- volume ``extending``: grow the file to the task's size, report ``available``;
- volume ``deleting`` / snapshot ``deleting``: remove the file, report ``deleted``;
- snapshot ``creating``: copy the volume's file, report ``available``;
- volume ``uploading`` (``os-volume_upload_image``, ``uploader.py``): the
  volume's data converted into the image's disk format and streamed to the
  API (an attached volume's from a point-in-time copy its storage daemon
  takes), in a thread of its own; the API moves the volume back;
- attachments of its volumes to servers (``volume_attachment``): the
  host's ``qemu-storage-daemon`` (``daemon.py``, started again whenever it
  is found dead, by a pass or by the heartbeat) exports each over NBD to
  its compute host only; an export whose attachment is gone is removed;
- replicated volumes (``replica`` in the body; ``mirror.py``): on the
  primary's host the daemon keeps the file open and mirrors every write
  to the replica's host (reporting the mirror ``enabled`` or ``error``);
  on the replica's host the replica's file is made, grown with its volume
  and exported over NBD to the primary's host only, and removed when the
  volume leaves the host's topic (deleted, or retyped to a type without
  replication). A volume failed over is served by its new
  primary like any other.

A failed operation reports ``error`` with qemu-img's message (the API
turns it into ``error``, ``error_extending`` or ``error_deleting`` and a
user message). Reports that do not get through are sent again on the next
pass; a heartbeat thread re-registers the pools with their free space.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kumo.agent.client import ApiClient, Gone
from kumo.guestimage import bundle
from kumo.storage import mirror, qemu, uploader
from kumo.storage.daemon import NBD_PORT, DaemonError, StorageDaemon, node_name
from kumo.storage.pool import FilePool
from kumo.vm.qmp import QmpError

log = logging.getLogger("kumo.storage")


@dataclass(frozen=True)
class StorageConfig:
    host: str
    pools: tuple[FilePool, ...]
    availability_zone: str = "nova"
    backend: str = "file"
    max_over_subscription_ratio: float = 20.0
    reserved_percentage: int = 0
    heartbeat_interval: float = 10.0
    capabilities: dict[str, str] = field(default_factory=dict)
    export_address: str | None = None
    """The underlay address attached volumes are served on (None: no data path)."""
    export_port: int = NBD_PORT
    netns: str | None = None
    """The storage host's network namespace (where the storage daemon runs)."""
    run_dir: Path | None = None
    """The storage daemon's socket and pid file."""
    export_firewall: bool = True


@dataclass(frozen=True)
class Export:
    """What the daemon should export: a file, or an open node, to one client."""

    path: Path
    client: str
    writable: bool
    volume_id: str
    mirrored: bool = False
    """The volume's node is kept open by its mirror: export that node."""
    what: str = ""


@dataclass
class Outcome:
    kind: str
    """``volumes``, ``snapshots`` or ``replication`` (a mirror's state)."""
    id: str
    status: str
    error: str = ""


class StorageAgent:
    def __init__(self, config: StorageConfig, client: ApiClient) -> None:
        self.config = config
        self.client = client
        self.pools = {p.name: p for p in config.pools}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, dict[str, Any]] = {}
        self.daemon: StorageDaemon | None = None
        if config.export_address:
            run_dir = config.run_dir or Path("/run/kumo/storage") / config.host
            self.daemon = StorageDaemon(run_dir, config.export_address, config.export_port,
                                        config.netns, config.export_firewall)  # fmt: skip
        self.lock = threading.RLock()
        self.pending: dict[tuple[str, str], Outcome] = {}
        self.stop_event = threading.Event()
        self.revision = 0
        self.uploads = uploader.Uploads(client)
        self.replica_sizes: dict[str, int] = {}
        """GiB of the replicas held here, as last read or grown."""

    # -- registration and heartbeats ------------------------------------------------------

    def registration(self, *, started: bool = False) -> dict[str, Any]:
        cfg = self.config
        return {
            "storage_host": {
                "host": cfg.host,
                "availability_zone": cfg.availability_zone,
                "backend": cfg.backend,
                "started": started,
                "export_address": cfg.export_address,
                "export_port": cfg.export_port,
                "pools": [
                    {
                        "name": p.name,
                        "total_gb": p.capacity_gb,
                        "free_bytes": p.free_bytes(),
                        "max_over_subscription_ratio": cfg.max_over_subscription_ratio,
                        "reserved_percentage": cfg.reserved_percentage,
                        "capabilities": dict(cfg.capabilities),
                    }
                    for p in cfg.pools
                ],
            }
        }

    def register(self, *, started: bool = False) -> None:
        self.client._post("/internal/v1/storage-hosts", self.registration(started=started))

    def _beat(self) -> None:
        while not self.stop_event.wait(self.config.heartbeat_interval):
            try:
                self.register()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("heartbeat failed: %s", exc)
            if self.daemon is not None:
                if self.daemon.pid() is None:
                    log.warning("the storage daemon is not running: starting it again")
                with self.lock:
                    self.export_attached()  # also retries what failed (and mirrors)
                    self.flush()

    # -- the cache --------------------------------------------------------------------------

    def relist(self) -> None:
        revision, objects, _ = self.client.list(frozenset({f"storage:{self.config.host}"}))
        self.volumes = {o["id"]: o for o in objects if o.get("kind") == "volume"}
        self.snapshots = {o["id"]: o for o in objects if o.get("kind") == "volume_snapshot"}
        self.attachments = {
            o["id"]: o for o in objects if o.get("kind") == "volume_attachment" and self._mine(o)
        }
        self.revision = revision

    def _mine(self, attachment: dict[str, Any]) -> bool:
        return attachment.get("storage_host") == self.config.host

    def _primary(self, vol: dict[str, Any]) -> bool:
        return vol.get("storage_host") == self.config.host and vol.get("pool") in self.pools

    def _replica_here(self, vol: dict[str, Any]) -> bool:
        """This host holds the volume's replica (and it was not failed over)."""
        replica = vol.get("replica") or {}
        return (
            replica.get("host") == self.config.host
            and vol.get("storage_host") != self.config.host
            and vol.get("replication_status") != "failed-over"
            and replica.get("pool") in self.pools
        )

    def _drop_replica(self, vol: dict[str, Any]) -> None:
        """The volume is no longer replicated here (deleted, or retyped to a
        type without replication: the watch brings it without this host as
        either its primary or its replica): its replica's file goes (its
        export is removed by the next pass)."""
        try:
            self._replica_path(vol).unlink(missing_ok=True)
            log.info("replica of volume %s removed", vol["id"])
        except OSError as exc:
            log.error("replica of volume %s: %s", vol["id"], exc)

    def _replica_path(self, vol: dict[str, Any]) -> Path:
        return self.pools[str(vol["replica"]["pool"])].volume(vol["id"])

    def _mirrored(self, vol: dict[str, Any]) -> bool:
        """A replicated volume whose primary is here and whose file is made:
        the daemon keeps it open and mirrors it."""
        status = str(vol.get("status"))
        return (
            self._primary(vol)
            and bool(vol.get("replica"))
            and vol.get("replication_status") in ("enabling", "enabled", "error", "failing-back")
            and status not in ("creating", "deleting", "reported-deleted", "error_deleting")
            and self._pool(vol).volume(vol["id"]).exists()
        )

    def apply_event(self, event: dict[str, Any]) -> None:
        self.revision = max(self.revision, int(event.get("revision", 0)))
        kind, body = event.get("kind"), event.get("object") or {}
        table = {"volume": self.volumes, "volume_snapshot": self.snapshots,
                 "volume_attachment": self.attachments}.get(str(kind))  # fmt: skip
        if table is None or "id" not in body:
            return
        if kind == "volume_attachment" and not self._mine(body):
            return
        before = table.get(body["id"])
        if event.get("op") == "delete":
            table.pop(body["id"], None)
        else:
            table[body["id"]] = body
        if kind == "volume" and before is not None and self._replica_here(before):
            now = None if event.get("op") == "delete" else body
            if now is None or self.config.host not in (
                now.get("storage_host"),
                (now.get("replica") or {}).get("host"),
            ):
                self._drop_replica(before)

    # -- one pass ---------------------------------------------------------------------------

    def reconcile(self) -> list[Outcome]:
        """Do what every object's status asks; report the outcomes (kept for
        the next pass when the API does not take them)."""
        with self.lock:
            outcomes = self._reconcile()
            self.export_attached()
            return outcomes

    def _wanted_exports(self) -> dict[str, Export]:
        wanted: dict[str, Export] = {}
        for a in self.attachments.values():
            vol = self.volumes.get(str(a.get("volume_id")))
            if vol is None or not self._primary(vol):
                continue
            wanted[a["id"]] = Export(
                self._pool(vol).volume(vol["id"]), str(a.get("host_address") or ""),
                a.get("mode", "rw") != "ro", vol["id"], self._mirrored(vol),
                f"to {a.get('host')} ({a.get('host_address')})",
            )  # fmt: skip
        for vol in self.volumes.values():
            if self._replica_here(vol) and vol.get("status") != "deleting":
                primary = vol.get("primary") or {}
                wanted[mirror.replica_export(vol["id"])] = Export(
                    self._replica_path(vol), str(primary.get("address") or ""), True, vol["id"],
                    what=f"(replica) to {primary.get('host')} ({primary.get('address')})",
                )  # fmt: skip
        return wanted

    def export_attached(self) -> None:
        """The storage daemon running, exporting exactly the attached
        volumes, each to its compute host only, and the replicas held here
        to their primary's host; the replicated volumes whose primary is
        here mirrored."""
        if self.daemon is None:
            return
        wanted = self._wanted_exports()
        try:
            self.daemon.ensure()
            have = self.daemon.exports()
            for gone in sorted(have - set(wanted)):
                self.daemon.unexport(gone)
                log.info("export %s removed", gone)
            self.daemon.allow({w.client for w in wanted.values() if w.client})
            opened = self.daemon.nodes()
            for moved in sorted(have & set(wanted)):
                if wanted[moved].mirrored and node_name(moved) in opened:
                    # replicated since it was exported (failing back, a retype): its
                    # clients reconnect to the export made again on the mirror's node
                    self.daemon.unexport(moved)
                    have.discard(moved)
                    log.info("export %s made again on the mirror's node", moved)
            for node in self.daemon.nodes() - {node_name(e) for e in have & set(wanted)}:
                if node.startswith("v"):
                    self.daemon.close_node(node)  # an export removed or added half-way
            self._mirror_pass()
            for export_id, w in sorted(wanted.items()):
                if export_id in have:
                    continue
                if not w.path.exists():
                    log.warning("export %s: %s is not there", export_id, w.path)
                    continue
                shared = mirror.export_node(self.daemon, w.volume_id) if w.mirrored else None
                self.daemon.export(export_id, w.path, writable=w.writable, node=shared)
                log.info("volume %s exported %s as %s", w.volume_id, w.what, export_id)
        except (DaemonError, QmpError, OSError) as exc:
            log.error("exports: %s (again next pass)", exc)

    def _mirror_pass(self) -> None:
        """Start (or restart) the mirror of each replicated volume whose
        primary is here; stop those no longer wanted; report changes."""
        assert self.daemon is not None
        mirrored = {mirror.key(v["id"]): v for v in self.volumes.values() if self._mirrored(v)}
        for stale in sorted(mirror.opened(self.daemon) - set(mirrored)):
            mirror.stop(self.daemon, stale)
            log.info("mirror of %s stopped, its node closed", stale)
        for vol in mirrored.values():
            replica = vol.get("replica") or {}
            error = ""
            try:
                if not replica.get("address"):
                    raise DaemonError(f"the replica's host {replica.get('host')} has no "
                                      "export address")  # fmt: skip
                peer = mirror.Peer(str(replica["address"]), int(replica.get("port") or 0))
                state = mirror.ensure(self.daemon, vol["id"], self._pool(vol).volume(vol["id"]),
                                      peer)  # fmt: skip
                ready = state.ready or mirror.wait_ready(self.daemon, vol["id"], 5.0)
                observed = "enabled" if ready else None
            except (DaemonError, QmpError, OSError) as exc:
                observed, error = "error", f"mirror to {replica.get('host')}: {exc}"
                log.warning("volume %s: %s", vol["id"], error)
            if observed is not None and observed != vol.get("replication_status"):
                self.pending[("replication", vol["id"])] = Outcome(
                    "replication", vol["id"], observed, error
                )

    def _replicas(self) -> None:
        """The replicas held here: made blank (the mirror fills them), removed
        with their volume."""
        for vol in list(self.volumes.values()):
            if not self._replica_here(vol):
                continue
            path = self._replica_path(vol)
            task = vol.get("task") or {}
            size = max(int(vol["size"]), int(task.get("size") or 0) if task.get("op") == "extend"
                       else 0)  # fmt: skip
            try:
                if vol.get("status") == "deleting":
                    path.unlink(missing_ok=True)
                elif not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    qemu.create(path, size)
                    log.info("replica of volume %s made in %s", vol["id"], path)
                elif self.replica_sizes.get(vol["id"]) != size:  # read once per size
                    if qemu.virtual_size(path, shared=True) < size * qemu.GiB:
                        self._grow_replica(vol["id"], path, size)
                    self.replica_sizes[vol["id"]] = size
            except (qemu.QemuError, OSError, DaemonError, QmpError) as exc:
                log.error("replica of volume %s: %s", vol["id"], exc)

    def _grow_replica(self, volume_id: str, path: Path, size: int) -> None:
        """The replica follows its volume's extend: its export is removed
        (the primary's mirror is stopped for the extend anyway), the file
        grown, and exported again by the pass's exports."""
        export = mirror.replica_export(volume_id)
        if (
            self.daemon is not None
            and self.daemon.pid() is not None
            and (node_name(export) in self.daemon.nodes())
        ):
            self.daemon.unexport(export)  # QEMU does not grow an exported node
        qemu.resize(path, size)
        log.info("replica of volume %s grown to %d GiB", volume_id, size)

    def _reconcile(self) -> list[Outcome]:
        self._snapshot_exported()
        exported = self._open_nodes() if self.daemon is not None else {}
        for snap in list(self.snapshots.values()):
            if (
                snap.get("status") == "creating"
                and str(snap.get("volume_id")) not in exported
                and not self._incomplete_group(snap)
            ):
                self._do("snapshots", snap["id"], lambda s=snap: self._snapshot(s), "available")
        self._replicas()
        self.uploads.forget({str((v.get("task") or {}).get("image_id")) for v in
                             self.volumes.values() if v.get("status") == "uploading"})  # fmt: skip
        for vol in list(self.volumes.values()):
            if vol.get("storage_host") not in (None, self.config.host):
                continue  # a replica held here (``_replicas``)
            status = vol.get("status")
            if status == "uploading" and vol.get("pool") in self.pools:
                self._upload(vol, exported)
            if status == "creating":
                self._do("volumes", vol["id"], lambda v=vol: self._create(v), "available")
            elif status == "extending":
                self._do("volumes", vol["id"], lambda v=vol: self._extend(v), "available")
            elif status == "deleting":
                self._do("volumes", vol["id"], lambda v=vol: self._delete(v), "deleted")
        for snap in list(self.snapshots.values()):
            if snap.get("status") == "deleting":
                path = (
                    self._pool(snap).snapshot(snap["id"])
                    if snap.get("pool") in self.pools
                    else None
                )
                self._do("snapshots", snap["id"],
                         lambda p=path: p.unlink(missing_ok=True) if p else None, "deleted")  # fmt: skip
        return self.flush()

    def _do(self, kind: str, ident: str, work: Any, success: str) -> None:
        if (kind, ident) in self.pending:
            return
        try:
            work()
        except (qemu.QemuError, OSError, ValueError) as exc:
            log.error("%s %s failed: %s", kind[:-1], ident, exc)
            self.pending[(kind, ident)] = Outcome(kind, ident, "error", str(exc))
        else:
            self.pending[(kind, ident)] = Outcome(kind, ident, success)

    def flush(self) -> list[Outcome]:
        if not self.pending:
            return []
        sent = list(self.pending.values())
        body: dict[str, list[dict[str, str]]] = {"volumes": [], "snapshots": [],
                                                 "replication": []}  # fmt: skip
        for o in sent:
            key = "replication_status" if o.kind == "replication" else "status"
            item = {"id": o.id, key: o.status}
            if o.error:
                item["error"] = o.error
            body[o.kind].append(item)
        try:
            self.client._post("/internal/v1/storage-reports", body)
        except (httpx.HTTPError, OSError) as exc:
            log.warning("reporting %d outcomes failed (%s); again next pass", len(sent), exc)
            return []
        self.pending.clear()
        for o in sent:  # until the watch says otherwise, the object is settled
            if o.kind == "replication":
                if o.id in self.volumes:
                    self.volumes[o.id] = {**self.volumes[o.id], "replication_status": o.status}
                continue
            table = self.volumes if o.kind == "volumes" else self.snapshots
            if o.id in table:
                table[o.id] = {**table[o.id], "status": f"reported-{o.status}"}
        return sent

    def _pool(self, obj: dict[str, Any]) -> FilePool:
        pool = self.pools.get(str(obj.get("pool")))
        if pool is None:
            raise ValueError(
                f"pool {obj.get('pool')} is not served by the agent of {self.config.host}"
            )
        return pool

    def _create(self, vol: dict[str, Any]) -> None:
        pool = self._pool(vol)
        path = pool.volume(vol["id"])
        if path.exists():
            return
        pool.directory.mkdir(parents=True, exist_ok=True)
        source = (vol.get("task") or {}).get("source")
        if not source:
            qemu.create(path, int(vol["size"]))
        elif source.get("kind") == "snapshot":
            qemu.copy(pool.snapshot(str(source["id"])), path, int(vol["size"]))
        elif source.get("kind") == "volume":
            qemu.copy(pool.volume(str(source["id"])), path, int(vol["size"]),
                      shared=self._held(str(source["id"])))  # fmt: skip
        elif source.get("kind") == "image":
            self._from_image(pool, vol["id"], source, path, int(vol["size"]))
        else:
            raise ValueError(f"unknown source {source!r}")

    def _from_image(
        self, pool: FilePool, volume_id: str, source: dict[str, Any], path: Path, size: int
    ) -> None:
        """The image's data (downloaded by its hash) written into the volume:
        the disk inside a kumo bundle, or the image's own qcow2 or raw data."""
        work = pool.directory / f".image-{volume_id}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            data = work / "image"
            try:
                self.client.download_image(str(source["id"]), str(source.get("hash")), data)
            except httpx.HTTPStatusError as exc:
                raise ValueError(f"image {source['id']}: {exc.response.status_code} "
                                 f"from the image service") from exc  # fmt: skip
            disk, fmt = data, str(source.get("disk_format") or "raw")
            if source.get("container_format") == "ova":
                (work / "bundle").mkdir()
                disk, fmt = work / "bundle" / bundle.unpack(data, work / "bundle").disk, "qcow2"
                data.unlink()
            qemu.copy(disk, path, size, fmt)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _upload(self, vol: dict[str, Any], exported: dict[str, str]) -> None:
        """Start the upload of ``vol`` into its image unless under way or done:
        an attached volume's data first copied at one instant by the storage
        daemon (which has its file open), here, under the agent's lock."""
        task = vol.get("task") or {}
        image_id = str(task.get("image_id") or "")
        if not image_id or self.uploads.known(image_id):
            return
        pool = self._pool(vol)
        source, shared, copied = pool.volume(vol["id"]), self._held(vol["id"]), None
        if vol["id"] in exported and self.daemon is not None:
            copied = pool.directory / f".upload-{image_id}.qcow2"
            try:
                self.daemon.ensure()
                if exported[vol["id"]] not in self.daemon.nodes():
                    return  # opened by this pass's exports; copied by the next
                self.daemon.backup([(exported[vol["id"]], copied)])
            except (DaemonError, QmpError, OSError) as exc:
                copied.unlink(missing_ok=True)
                log.error("volume %s: point-in-time copy for image %s: %s", vol["id"],
                          image_id, exc)  # fmt: skip
                self.uploads.fail(image_id, f"the point-in-time copy failed: {exc}")
                return
            source, shared = copied, False
        work = uploader.Work(vol["id"], image_id, source, str(task.get("disk_format") or "raw"),
                             pool.directory / f".upload-{image_id}.img", shared, copied)  # fmt: skip
        self.uploads.start(work)

    def _extend(self, vol: dict[str, Any]) -> None:
        """Grow the file; a replicated volume's open node through the daemon
        (its mirror stops, and starts again once the replica has grown)."""
        size = int((vol.get("task") or {}).get("size") or vol["size"])
        if (
            self.daemon is not None
            and self._mirrored(vol)
            and mirror.volume_node(vol["id"]) in self.daemon.nodes()
        ):
            try:
                mirror.grow(self.daemon, vol["id"], size * qemu.GiB)
            except (DaemonError, QmpError) as exc:
                raise ValueError(str(exc)) from exc
            return
        qemu.resize(self._pool(vol).volume(vol["id"]), size)

    def _delete(self, vol: dict[str, Any]) -> None:
        if vol.get("pool") not in self.pools:
            return  # nothing of it was ever made here
        self._pool(vol).volume(vol["id"]).unlink(missing_ok=True)

    def _open_nodes(self) -> dict[str, str]:
        """Volume id → the node of the export its storage daemon has open
        (attached volumes; a replicated volume's is the mirror's volume node:
        the job holds it and QEMU refuses a backup of it, so the mirror is
        released for the snapshot and started again after it)."""
        out = {}
        for a in self.attachments.values():
            vol = self.volumes.get(str(a.get("volume_id")))
            mirrored = vol is not None and self._mirrored(vol)
            out[str(a.get("volume_id"))] = (
                mirror.volume_node(str(a.get("volume_id"))) if mirrored else node_name(str(a["id"]))
            )
        return out

    def _held(self, volume_id: str) -> bool:
        """The volume's file is held open by its mirror (read it unlocked)."""
        vol = self.volumes.get(volume_id)
        return vol is not None and self._mirrored(vol)

    def _incomplete_group(self, snap: dict[str, Any]) -> bool:
        """A member of a group snapshot whose other members the watch has not
        delivered yet (they come one event at a time; taking the attached
        ones known so far would split the group's cut in two)."""
        return any(m not in self.snapshots for m in snap.get("group_members") or ())

    def _snapshot_exported(self) -> None:
        """Snapshots of attached volumes, taken by the storage daemon (it has
        their files open; clients keep writing): those of one group snapshot
        in one transaction, an atomic cut across the group's disks, once the
        agent knows every member. The transaction drains the disks' requests
        first: a write the daemon acknowledged is in the cut, and a guest that
        waits for one disk's acknowledgement before writing the next disk can
        never find the second write in the cut without the first."""
        if self.daemon is None:
            return
        exported = self._open_nodes()
        batches: dict[str, list[dict[str, Any]]] = {}
        for snap in self.snapshots.values():
            if snap.get("status") != "creating" or ("snapshots", snap["id"]) in self.pending:
                continue
            if self._incomplete_group(snap):
                continue
            if str(snap.get("volume_id")) not in exported or snap.get("pool") not in self.pools:
                continue
            if self._pool(snap).snapshot(snap["id"]).exists():
                continue
            key = str(snap.get("group_snapshot_id") or snap["id"])
            batches.setdefault(key, []).append(snap)
        for snaps in batches.values():
            pairs = [
                (exported[str(s["volume_id"])], self._pool(s).snapshot(s["id"])) for s in snaps
            ]
            try:
                self.daemon.ensure()
                have = self.daemon.nodes()
                if any(node not in have for node, _ in pairs):
                    continue  # opened by the pass below; snapshotted by the next
                mirrored = [s["volume_id"] for s in snaps if self._held(str(s["volume_id"]))]
                for volume_id in mirrored:  # started again by the mirror pass below
                    mirror.release(self.daemon, str(volume_id))
                try:
                    self.daemon.backup(pairs)
                finally:
                    if mirrored:
                        self._mirror_pass()
            except (DaemonError, QmpError, OSError) as exc:
                log.error("snapshots %s: %s", [s["id"] for s in snaps], exc)
                for snap in snaps:
                    self.pending[("snapshots", snap["id"])] = Outcome(
                        "snapshots", snap["id"], "error", str(exc)
                    )
            else:
                log.info("snapshots %s taken by the storage daemon (one cut)",
                         ", ".join(s["id"] for s in snaps))  # fmt: skip
                for snap in snaps:
                    self.pending[("snapshots", snap["id"])] = Outcome(
                        "snapshots", snap["id"], "available"
                    )

    def _snapshot(self, snap: dict[str, Any]) -> None:
        pool = self._pool(snap)
        path = pool.snapshot(snap["id"])
        if not path.exists():
            volume_id = str(snap["volume_id"])
            qemu.copy(pool.volume(volume_id), path, shared=self._held(volume_id))

    # -- the loop ---------------------------------------------------------------------------

    def run_forever(self) -> None:
        for p in self.config.pools:
            p.directory.mkdir(parents=True, exist_ok=True)
        delay = 0.2
        while not self.stop_event.is_set():
            try:
                self.register(started=True)
                break
            except (httpx.HTTPError, OSError) as exc:
                log.warning("registration failed (%s); retrying in %.1fs", exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 5.0)
        beat = threading.Thread(target=self._beat, name="storage-heartbeat", daemon=True)
        beat.start()
        log.info("storage agent of %s serving pools %s", self.config.host,
                 ", ".join(f"{p.name} ({p.directory}, {p.capacity_gb} GiB)" for p in self.config.pools))  # fmt: skip
        listed = False
        while not self.stop_event.is_set():
            try:
                if not listed:
                    self.relist()
                    listed = True
                    self.reconcile()
                for event in self.client.watch(
                    self.revision, frozenset({f"storage:{self.config.host}"})
                ):
                    if self.stop_event.is_set():
                        return
                    if event.get("type") == "bookmark":
                        self.revision = max(self.revision, int(event.get("revision", 0)))
                    else:
                        self.apply_event(event)
                    self.reconcile()
            except Gone:
                listed = False
            except (httpx.HTTPError, OSError) as exc:
                log.warning("watch failed (%s); relisting in %.1fs", exc, 1.0)
                listed = False
                self.stop_event.wait(1.0)
