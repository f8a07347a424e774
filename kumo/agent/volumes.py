"""Volumes attached to this host's servers: plugged in, unplugged, reported.

The agent's attacher thread lists and watches the host's ``storage:HOST``
topic for ``volume_attachment`` objects whose server runs here
(``kumo.volume.events``). Each pass (on every change, and every
``interval`` to retry and to re-plug a disk a restarted VM lost):

- an attachment ``attaching``/``attached``: its storage host's NBD export
  is plugged into the server. A QEMU VM gets a virtio disk by QMP
  (``kumo.vm.disks``); a namespace instance gets the volume through a
  ``qemu-storage-daemon`` of its own (the NBD export opened, served back
  as a raw file by its FUSE export), a loop device on that file, and a
  mount at ``ROOT/mnt/SERVER/VOLUME`` that the instance's processes see
  (they share the host's mounts). A volume with no filesystem yet is made
  ext4 first. The mount path is reported and published in the server's
  metadata (``volume:VOLUME_ID``). The front-end QoS limits of the
  volume's type (``qos`` in the attachment, ``kumo.volume.throttle``)
  throttle the VM's disk, or the daemon's FUSE export through a throttle
  filter node;
- an attachment ``detaching``: unplugged (the VM lets go of the disk, or
  the mount, loop device and daemon go, each flushing), then reported
  ``detached`` so the volume becomes ``available``;
- a plug whose attachment is gone (deleted, force-detached, its server
  deleted): unplugged without a report;
- an attachment that cannot be plugged (the export unreachable, QEMU
  refusing the disk) is tried again each pass and reported ``error`` with
  the reason once it has failed for ``attach_timeout``: the API makes the
  volume ``error_attaching`` with a user message;
- an attachment whose export moved (its replicated volume failed over to
  another storage host) is unplugged from the old export and plugged from
  the new one (a VM's disk is hot-unplugged and hot-plugged again: the
  guest sees the disk go and come back; a namespace instance's mount is
  redone, lazily unmounting the old one);
- a server's root volume (``boot_index`` 0) is left alone: it is on its
  VM's command line (``kumo.vm.disks.root_drive``).

What is plugged is read back each pass (QEMU's block nodes; the daemon's
pid, the mount), so a restarted agent neither loses nor repeats work.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kumo.agent.client import ApiClient, Gone
from kumo.storage.daemon import QSD, in_netns, pid_alive, stop_pid
from kumo.vm import disks
from kumo.vm.qmp import QmpClient, QmpError
from kumo.volume import throttle

log = logging.getLogger("kumo.agent.volumes")

INTERVAL = 5.0
ATTACH_TIMEOUT = 30.0
"""How long a plug may keep failing before the attachment is reported ``error``."""
KIND = "volume_attachment"


class AttachError(RuntimeError):
    pass


class NotRunning(AttachError):
    """The VM is not running: its disks are plugged once it runs (not a failure)."""


@dataclass
class Report:
    id: str
    status: str
    mount_path: str | None = None
    error: str = ""


def _run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _must(argv: list[str], timeout: float = 120) -> str:
    done = _run(argv, timeout)
    if done.returncode != 0:
        raise AttachError(f"{argv[0]}: {(done.stderr or done.stdout).strip()[-500:]}")
    return done.stdout.strip()


def _mounted(path: Path) -> bool:
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return False
    return any(line.split()[1] == str(path) for line in mounts.splitlines() if line.strip())


def _endpoint(a: dict[str, Any]) -> tuple[str, int]:
    export = a.get("export") or {}
    return str(export.get("address")), int(export.get("port") or 0)


class NamespaceDisks:
    """A namespace instance's volumes: daemon (NBD in, FUSE out), loop device, mount."""

    def __init__(self, root: Path, netns: str | None) -> None:
        self.root = root
        self.netns = netns

    def _dir(self, attachment_id: str) -> Path:
        return self.root / "attachments" / attachment_id

    def mount_path(self, a: dict[str, Any]) -> Path:
        return self.root / "mnt" / str(a["server_id"]) / str(a["volume_id"])

    def plugged(self) -> set[str]:
        base = self.root / "attachments"
        return {p.name for p in base.iterdir() if p.is_dir()} if base.is_dir() else set()

    def healthy(self, a: dict[str, Any]) -> bool:
        """Plugged, from the export the attachment names now (a failover moves it)."""
        d = self._dir(a["id"])
        try:
            plugged = json.loads((d / "attachment.json").read_text()).get("export")
        except (OSError, ValueError):
            plugged = None
        if plugged is not None and plugged != a.get("export"):
            return False
        return pid_alive(d / "qsd.pid", str(d / "disk.raw")) is not None and _mounted(
            self.mount_path(a)
        )

    def plug(self, a: dict[str, Any]) -> Path:
        export = a.get("export") or {}
        if not export.get("address"):
            raise AttachError("the storage host has no export address yet")
        d = self._dir(a["id"])
        self.unplug(a["id"])  # whatever an interrupted pass left
        d.mkdir(parents=True, exist_ok=True)
        raw = d / "disk.raw"
        raw.touch()
        read_only = a.get("mode") == "ro"
        (d / "attachment.json").write_text(json.dumps(a))
        source = (f"driver=nbd,node-name=vol,server.type=inet,server.host={export['address']},"
                  f"server.port={export['port']},export={export['name']},"
                  f"read-only={'on' if read_only else 'off'}")  # fmt: skip
        argv = fuse_daemon(source, raw, d / "qsd.pid", read_only=read_only, qos=a.get("qos"))
        _must(in_netns(self.netns, argv), timeout=60)
        loop = _must(["losetup", "--find", "--show", *(["-r"] if read_only else []), str(raw)])
        (d / "loop").write_text(loop + "\n")
        if _run(["blkid", "-p", loop]).returncode == 2 and not read_only:
            _must(["mkfs.ext4", "-q", "-L", str(a["volume_id"])[:16], loop], timeout=600)
        target = self.mount_path(a)
        target.mkdir(parents=True, exist_ok=True)
        _must(["mount", *(["-o", "ro"] if read_only else []), loop, str(target)])
        return target

    def unplug(self, attachment_id: str) -> None:
        d = self._dir(attachment_id)
        if not d.is_dir():
            return
        try:
            a = json.loads((d / "attachment.json").read_text())
            target: Path | None = self.mount_path(a)
        except (OSError, ValueError, KeyError):
            target = None
        if (
            target is not None
            and _mounted(target)
            and _run(["umount", str(target)]).returncode != 0
        ):
            _must(["umount", "-l", str(target)])  # its storage host is gone (failed over)
        if target is not None:
            try:
                target.rmdir()
                target.parent.rmdir()
            except OSError:
                pass
        loop_file = d / "loop"
        if loop_file.exists():
            loop = loop_file.read_text().strip()
            backing = _run(["losetup", "-n", "-O", "BACK-FILE", loop]).stdout.strip()
            if backing == str(d / "disk.raw"):
                _must(["losetup", "-d", loop])
        pid = pid_alive(d / "qsd.pid", str(d / "disk.raw"))
        if pid is not None:
            stop_pid(pid, timeout=30)  # SIGTERM: the daemon flushes to the storage host
        if _mounted(d / "disk.raw"):
            _run(["umount", "-l", str(d / "disk.raw")])
        shutil.rmtree(d, ignore_errors=True)


def fuse_daemon(
    source: str, raw: Path, pidfile: Path, *, read_only: bool, qos: dict[str, int] | None
) -> list[str]:
    """The storage daemon serving a namespace instance's volume: ``source``
    (a ``--blockdev`` named ``vol``: the storage host's NBD export) as the
    raw file ``raw`` (its FUSE export); with ``qos``
    (``kumo.volume.throttle``), through a ``throttle`` filter node whose
    group holds those limits."""
    argv = [QSD, "--blockdev", source]
    node = "vol"
    if qos:
        argv += ["--object", throttle.object_argument("qos", qos),
                 "--blockdev", "driver=throttle,node-name=qos,throttle-group=qos,file=vol"]  # fmt: skip
        node = "qos"
    return [*argv,
            "--export", f"type=fuse,id=fuse,node-name={node},mountpoint={raw},"
                        f"writable={'off' if read_only else 'on'}",
            "--pidfile", str(pidfile), "--daemonize"]  # fmt: skip


class VmDisks:
    """A QEMU VM's volumes: NBD drives hot-plugged by QMP."""

    def __init__(self, qmp_path: Callable[[str], Path]) -> None:
        self.qmp_path = qmp_path

    def _qmp(self, server_id: str) -> QmpClient:
        path = self.qmp_path(server_id)
        if not path.exists():
            raise NotRunning(f"VM {server_id} is not running")
        client = QmpClient(path, timeout=10.0)
        client.connect()
        return client

    def plugged(self, server_id: str) -> dict[str, tuple[str, int] | None]:
        """The VM's attachment disk nodes → the NBD server each was opened from."""
        with self._qmp(server_id) as q:
            return disks.plugged_from(q)

    def plug(self, a: dict[str, Any]) -> None:
        export = a.get("export") or {}
        if not export.get("address"):
            raise AttachError("the storage host has no export address yet")
        with self._qmp(str(a["server_id"])) as q:
            disks.plug(q, a["id"], address=str(export["address"]), port=int(export["port"]),
                       export=str(export["name"]), serial=str(a["volume_id"]),
                       read_only=a.get("mode") == "ro", qos=a.get("qos"))  # fmt: skip

    def unplug(self, server_id: str, attachment_id: str) -> None:
        with self._qmp(server_id) as q:
            disks.unplug(q, attachment_id)


class VolumeAttacher:
    def __init__(
        self,
        host: str,
        client: ApiClient,
        root: Path,
        netns: str | None = None,
        vm_qmp: Callable[[str], Path] | None = None,
        interval: float = INTERVAL,
        attach_timeout: float = ATTACH_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.client = client
        self.namespaces = NamespaceDisks(root, netns)
        self.vms = VmDisks(vm_qmp) if vm_qmp is not None else None
        self.interval = interval
        self.attach_timeout = attach_timeout
        self.clock = clock
        self.failing: dict[str, float] = {}
        """Attachment id → when plugging it first failed (since its last success)."""
        self.attachments: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, Report] = {}
        self.reported: dict[str, tuple[str, str | None]] = {}
        self.revision = 0
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.vm_exports: dict[str, tuple[str, int]] = {}
        """Attachment id → the storage endpoint its VM disk was plugged from."""
        self.vm_plugs: dict[str, str] = {}
        """Attachment id → VM it was plugged into by this process (to unplug after a delete)."""

    # -- the cache ----------------------------------------------------------------------

    def _mine(self, body: dict[str, Any]) -> bool:
        return body.get("host") == self.host and bool(body.get("server_id"))

    def relist(self) -> None:
        revision, objects, _ = self.client.list(frozenset({f"storage:{self.host}"}))
        with self.lock:
            self.attachments = {
                o["id"]: o for o in objects if o.get("kind") == KIND and self._mine(o)
            }
            self.revision = revision

    def apply_event(self, event: dict[str, Any]) -> None:
        self.revision = max(self.revision, int(event.get("revision", 0)))
        body = event.get("object") or {}
        if event.get("kind") != KIND or "id" not in body:
            return
        with self.lock:
            if event.get("op") == "delete" or not self._mine(body):
                self.attachments.pop(body["id"], None)
            else:
                self.attachments[body["id"]] = body

    # -- one pass -----------------------------------------------------------------------

    def reconcile(self) -> list[Report]:
        with self.lock:
            for a in list(self.attachments.values()):
                if a.get("boot_index") == 0:
                    continue  # a root disk: on the VM's command line, never hot-plugged
                try:
                    if a.get("status") == "detaching":
                        self._detach(a)
                    elif a.get("status") in ("attaching", "attached"):
                        self._attach(a)
                        self.failing.pop(a["id"], None)
                except (AttachError, QmpError, disks.DiskError, OSError,
                        subprocess.TimeoutExpired) as exc:  # fmt: skip
                    log.warning("attachment %s of volume %s to %s: %s", a["id"],
                                a.get("volume_id"), a.get("server_id"), exc)  # fmt: skip
                    if a.get("status") in ("attaching", "attached") and not isinstance(
                        exc, NotRunning
                    ):
                        self._failed(a, exc)
            self._forget_gone()
            return self.flush()

    def _failed(self, a: dict[str, Any], exc: BaseException) -> None:
        """Retried every pass (the export may not be there yet); reported
        ``error`` once it has kept failing for ``attach_timeout``."""
        first = self.failing.setdefault(a["id"], self.clock())
        if self.clock() - first >= self.attach_timeout:
            self._report(Report(a["id"], "error", error=str(exc) or type(exc).__name__))

    def _is_vm(self, a: dict[str, Any]) -> bool:
        return a.get("driver") == "qemu"

    def _attach(self, a: dict[str, Any]) -> None:
        if self._is_vm(a):
            if self.vms is None:
                raise AttachError("this host runs no QEMU VMs")
            server = str(a["server_id"])
            export = _endpoint(a)
            have = self.vms.plugged(server)
            node = disks.node_name(a["id"])
            plugged = node in have
            # where QEMU says the disk comes from (after an agent restart this
            # process has not plugged it), else where this process plugged it from
            was = have.get(node) or self.vm_exports.get(a["id"], export)
            if plugged and was != export:
                self.vms.unplug(server, a["id"])  # failed over: reopen from the new primary
                plugged = False
                log.info("volume %s moved to %s: replugging into VM %s", a["volume_id"],
                         export, server)  # fmt: skip
            if not plugged:
                self.vms.plug(a)
                log.info("volume %s plugged into VM %s", a["volume_id"], server)
            self.vm_plugs[a["id"]] = server
            self.vm_exports[a["id"]] = export
            self._report(Report(a["id"], "attached"))
            return
        path = self.namespaces.mount_path(a)
        if not self.namespaces.healthy(a):
            path = self.namespaces.plug(a)
            log.info("volume %s mounted at %s for %s", a["volume_id"], path, a["server_id"])
        self._report(Report(a["id"], "attached", str(path)))

    def _detach(self, a: dict[str, Any]) -> None:
        if self._is_vm(a):
            if self.vms is not None:
                try:
                    if disks.node_name(a["id"]) in self.vms.plugged(str(a["server_id"])):
                        self.vms.unplug(str(a["server_id"]), a["id"])
                except AttachError:
                    pass  # the VM is not running: nothing holds the volume
            self.vm_plugs.pop(a["id"], None)
            self.vm_exports.pop(a["id"], None)
        else:
            self.namespaces.unplug(a["id"])
        log.info("volume %s detached from %s", a["volume_id"], a["server_id"])
        self._report(Report(a["id"], "detached"))

    def _forget_gone(self) -> None:
        """Unplug what no attachment asks for any more (deleted, force-detached)."""
        for attachment_id in self.namespaces.plugged() - set(self.attachments):
            try:
                self.namespaces.unplug(attachment_id)
                log.info("attachment %s is gone: unmounted", attachment_id)
            except (AttachError, OSError, subprocess.TimeoutExpired) as exc:
                log.warning("attachment %s is gone; unplugging failed: %s", attachment_id, exc)
        for attachment_id, server in list(self.vm_plugs.items()):
            if attachment_id in self.attachments or self.vms is None:
                continue
            try:
                self.vms.unplug(server, attachment_id)
            except (AttachError, QmpError, disks.DiskError, OSError) as exc:
                log.info("attachment %s is gone (%s)", attachment_id, exc)
            self.vm_plugs.pop(attachment_id, None)
            self.vm_exports.pop(attachment_id, None)

    # -- reports ------------------------------------------------------------------------

    def _report(self, report: Report) -> None:
        if self.reported.get(report.id) == (report.status, report.mount_path):
            return
        self.pending[report.id] = report

    def flush(self) -> list[Report]:
        if not self.pending:
            return []
        sent = list(self.pending.values())
        items = []
        for r in sent:
            item: dict[str, Any] = {"id": r.id, "status": r.status}
            if r.mount_path:
                item["mount_path"] = r.mount_path
            if r.error:
                item["error"] = r.error
            items.append(item)
        try:
            self.client._post("/internal/v1/volume-attachment-reports", {"attachments": items})
        except (httpx.HTTPError, OSError) as exc:
            log.warning("reporting %d attachments failed (%s); again next pass", len(sent), exc)
            return []
        for r in sent:
            self.pending.pop(r.id, None)
            self.reported[r.id] = (r.status, r.mount_path)
        return sent

    # -- the loop -----------------------------------------------------------------------

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="volume-attacher", daemon=True)
        thread.start()
        ticker = threading.Thread(target=self._tick, name="volume-attacher-tick", daemon=True)
        ticker.start()
        return thread

    def _tick(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - a pass that raised is retried next tick
                log.exception("volume attacher pass failed")

    def run_forever(self) -> None:
        listed = False
        topics = frozenset({f"storage:{self.host}"})
        while not self.stop_event.is_set():
            try:
                if not listed:
                    self.relist()
                    listed = True
                    self.reconcile()
                for event in self.client.watch(self.revision, topics):
                    if self.stop_event.is_set():
                        return
                    if event.get("type") == "bookmark":
                        self.revision = max(self.revision, int(event.get("revision", 0)))
                        continue
                    self.apply_event(event)
                    if event.get("kind") == KIND:
                        self.reconcile()
            except Gone:
                listed = False
            except (httpx.HTTPError, OSError) as exc:
                log.warning("watch failed (%s); relisting in 1 s", exc)
                listed = False
                self.stop_event.wait(1.0)


def cleanup_under(root: Path) -> int:
    """Unmount, detach and stop every volume plug kept under ``root`` (a lab
    going down); the number of plugs removed."""
    done = 0
    if not root.is_dir():
        return 0
    for base in [p for p in root.rglob("attachments") if p.is_dir()]:
        owner = NamespaceDisks(base.parent, None)
        for attachment_id in owner.plugged():
            try:
                owner.unplug(attachment_id)
                done += 1
            except (AttachError, OSError, subprocess.TimeoutExpired) as exc:
                log.warning("%s: %s", attachment_id, exc)
    return done
