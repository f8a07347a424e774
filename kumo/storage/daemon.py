"""The storage host's ``qemu-storage-daemon``: one process, kept running by
the storage agent, serving attached volumes over NBD on the underlay.

- ``ensure``: start the daemon unless its pid file names a live one (it
  runs in the storage host's network namespace, detached, with a QMP
  socket in the run directory), then start its NBD server on the export
  address. A daemon that died is started again by the next ``ensure``:
  its exports are gone with it and the agent's next pass adds them back.
- ``exports`` / ``export`` / ``unexport``: one NBD export per attachment,
  named by the attachment's id, over a qcow2 node opening the volume's
  file. Removing one deletes the export (clients cut) and closes the node,
  which flushes it to the file.
- ``allow``: who may connect. The daemon has one NBD server for all
  exports, so access is restricted in the kernel: an nftables table of
  its own (``inet kumo_storage``) in the storage host's namespace drops
  every connection to the NBD port from any address but those of the
  compute hosts that hold an attachment on this host. A host let in can
  open only exports it can name, and an export is named by the id of an
  attachment that only its own host is told of.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kumo.vm.argv import SOCKET_PATH_MAX
from kumo.vm.qmp import QmpClient, QmpCommandError, QmpError, QmpTimeout

log = logging.getLogger("kumo.storage")

QSD = os.environ.get("KUMO_QEMU_STORAGE_DAEMON", "qemu-storage-daemon")
NBD_PORT = 10809
NFT_TABLE = "kumo_storage"


class DaemonError(RuntimeError):
    pass


def in_netns(netns: str | None, argv: list[str]) -> list[str]:
    """``argv`` in network namespace ``netns``, in the caller's mount
    namespace (``nsenter``, not ``ip netns exec``, which makes a new one:
    a FUSE mount or a loop device's mount must be seen by everyone)."""
    if not netns:
        return argv
    return ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]


def node_name(export_id: str) -> str:
    """QEMU's node name for an export's volume (node names are at most 31 characters)."""
    return "v" + export_id.replace("-", "")[:30]


def qemu_id(export_id: str) -> str:
    """QEMU's id of an export (QEMU ids start with a letter; attachment ids may not)."""
    return "x-" + export_id


def pid_alive(pidfile: Path, marker: str) -> int | None:
    """The pid in ``pidfile`` if that process lives and its command line holds ``marker``."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if marker.encode() in cmdline else None


def stop_pid(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM (the daemon flushes and closes its nodes), SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


SHORT_SOCKET_DIR = Path("/run/kumo/sockets")


def socket_path(wanted: Path) -> Path:
    """``wanted``, or a short stand-in under /run/kumo/sockets named by its
    hash when ``wanted`` is longer than a unix socket path may be (a state
    directory deep in the file system)."""
    if len(str(wanted)) <= SOCKET_PATH_MAX:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:24]
    SHORT_SOCKET_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    return SHORT_SOCKET_DIR / f"{digest}.sock"


@dataclass
class StorageDaemon:
    run_dir: Path
    address: str
    """Where the NBD server listens (the storage host's underlay address)."""
    port: int = NBD_PORT
    netns: str | None = None
    firewall: bool = True
    """Program the nftables table (off only where nft is not usable, e.g. unprivileged tests)."""

    @property
    def qmp_path(self) -> Path:
        return socket_path(self.run_dir / "qsd.sock")

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "qsd.pid"

    def pid(self) -> int | None:
        return pid_alive(self.pidfile, f"path={self.qmp_path},")

    def qmp(self) -> QmpClient:
        client = QmpClient(self.qmp_path, timeout=10.0)
        client.connect()
        return client

    def ensure(self) -> bool:
        """Start the daemon and its NBD server unless running; True when it was (re)started."""
        if self.pid() is not None:
            return False
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.qmp_path, self.pidfile):
            stale.unlink(missing_ok=True)
        argv = in_netns(self.netns, [
            QSD,
            "--chardev", f"socket,id=qmp,path={self.qmp_path},server=on,wait=off",
            "--monitor", "chardev=qmp",
            "--pidfile", str(self.pidfile),
            "--daemonize",
        ])  # fmt: skip
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DaemonError(f"{QSD} did not start: {exc}") from exc
        if done.returncode != 0 or self.pid() is None:
            raise DaemonError(f"{QSD} did not start: {done.stderr.strip()[-1000:]}")
        try:
            with self.qmp() as q:
                q.execute("nbd-server-start", {"addr": {"type": "inet", "data": {
                    "host": self.address, "port": str(self.port)}}})  # fmt: skip
        except QmpError as exc:
            self.stop()
            raise DaemonError(f"the NBD server on {self.address}:{self.port}: {exc}") from exc
        log.info("qemu-storage-daemon (pid %s) serving NBD on %s:%d", self.pid(), self.address,
                 self.port)  # fmt: skip
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)

    def exports(self) -> set[str]:
        with self.qmp() as q:
            ids = (str(e["id"]) for e in q.execute("query-block-exports"))
            return {i.removeprefix("x-") for i in ids if i.startswith("x-")}

    def export(
        self, export_id: str, path: Path, *, writable: bool = True, node: str | None = None
    ) -> None:
        """Export ``path`` (a node of its own), or the open node ``node``
        (a replicated volume's, which the mirror keeps open)."""
        shared = node is not None
        node = node or node_name(export_id)
        with self.qmp() as q:
            nodes = {n.get("node-name") for n in q.execute("query-named-block-nodes",
                                                          {"flat": True})}  # fmt: skip
            if not shared and node not in nodes:
                q.execute("blockdev-add", {
                    "driver": "qcow2", "node-name": node, "read-only": not writable,
                    "file": {"driver": "file", "filename": str(path)},
                })  # fmt: skip
            try:
                q.execute("block-export-add", {"type": "nbd", "id": qemu_id(export_id),
                                               "node-name": node, "name": export_id,
                                               "writable": writable})  # fmt: skip
            except QmpError:
                if not shared:
                    _quiet(q, "blockdev-del", {"node-name": node})
                raise

    def unexport(self, export_id: str) -> None:
        """Cut the export's clients, then close (and so flush) its node."""
        node = node_name(export_id)
        with self.qmp() as q:
            try:
                q.execute("block-export-del", {"id": qemu_id(export_id), "mode": "hard"})
                q.wait_event("BLOCK_EXPORT_DELETED", 10.0, {"id": qemu_id(export_id)})
            except QmpCommandError as exc:
                if "not found" not in exc.desc.lower():
                    raise
            except QmpTimeout as exc:
                raise DaemonError(f"export {export_id} was not deleted in 10 s") from exc
            _quiet(q, "blockdev-del", {"node-name": node})

    def backup(self, pairs: list[tuple[str, Path]], timeout: float = 3600) -> None:
        """Point-in-time copies of open volumes, all taken at the same
        instant: one QMP ``transaction`` of ``drive-backup`` jobs (node
        name, target file) — a consistent cut across the disks, taken while
        clients keep writing (writes after the cut are copied aside first).
        Each target is written as ``NAME.part`` and renamed once complete."""
        if not pairs:
            return
        jobs = {f"snap-{n}": (n, t) for n, t in pairs}
        actions = [
            {"type": "drive-backup", "data": {
                "device": node, "job-id": job, "target": str(_part(target)),
                "format": "qcow2", "sync": "full", "mode": "absolute-paths",
            }}
            for job, (node, target) in jobs.items()
        ]  # fmt: skip
        for _, target in pairs:
            _part(target).unlink(missing_ok=True)
        with self.qmp() as q:
            q.execute("transaction", {"actions": actions})
            left = set(jobs)
            deadline = time.monotonic() + timeout
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DaemonError(f"snapshots {sorted(left)} did not finish in {timeout:.0f} s")
                try:
                    event = q.wait_event("BLOCK_JOB_COMPLETED", min(remaining, 5.0))
                except QmpTimeout:
                    running = {str(j.get("device")) for j in q.execute("query-block-jobs")}
                    if not left & running:
                        raise DaemonError("a snapshot job ended without a completion") from None
                    continue
                job = str(event.data.get("device"))
                if job in left:
                    if event.data.get("error"):
                        raise DaemonError(f"snapshot {job}: {event.data['error']}")
                    left.discard(job)
        for _, target in pairs:
            os.replace(_part(target), target)

    def nodes(self) -> set[str]:
        with self.qmp() as q:
            return {str(n.get("node-name")) for n in q.execute("query-named-block-nodes",
                                                               {"flat": True})}  # fmt: skip

    def close_node(self, node: str) -> None:
        with self.qmp() as q:
            _quiet(q, "blockdev-del", {"node-name": node})

    def allow(self, clients: set[str]) -> None:
        """Only ``clients`` may connect to the NBD port (the whole table replaced at once)."""
        if not self.firewall:
            return
        v4 = sorted(c for c in clients if ":" not in c)
        v6 = sorted(c for c in clients if ":" in c)
        rules = [f"tcp dport {self.port} ip saddr {{ {', '.join(v4)} }} accept" if v4 else "",
                 f"tcp dport {self.port} ip6 saddr {{ {', '.join(v6)} }} accept" if v6 else "",
                 f"tcp dport {self.port} drop"]  # fmt: skip
        body = "\n".join(f"    {r}" for r in rules if r)
        script = (
            f"table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\n"
            f"table inet {NFT_TABLE} {{\n  chain input {{\n"
            f"    type filter hook input priority -10; policy accept;\n{body}\n  }}\n}}\n"
        )
        done = subprocess.run(in_netns(self.netns, ["nft", "-f", "-"]), input=script,
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        if done.returncode != 0:
            raise DaemonError(f"nft: {done.stderr.strip()}")


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _quiet(q: QmpClient, command: str, args: dict[str, object]) -> None:
    try:
        q.execute(command, args)
    except QmpCommandError as exc:
        log.debug("%s: %s", command, exc)
