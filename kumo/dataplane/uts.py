"""Instances' UTS namespaces: each instance has a hostname of its own.

An instance's UTS namespace is kept alive by a bind mount on a file named
after the instance's network namespace, ``/run/kumo/uts/<netns>``
(``KUMO_UTS_DIR``), as ``ip netns`` keeps network namespaces under
``/run/netns``. Whatever runs inside an instance enters both namespaces:
its guest processes, its serial console's shell and ``kumo exec``
(``command``).

As in ``netns``, the agent works from its own process: the CALLING THREAD
unshares (or enters) the UTS namespace, sets or reads the hostname and
switches back, restoring its namespace even on failure; no helper process
per instance, so reading back 1,000 hostnames in a full pass is cheap.

``UtsNamespaces`` is the real port (``OSError`` becomes ``DataplaneError``),
``FakeUts`` keeps hostnames in memory for unit tests.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pty
import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kumo.dataplane import netns as netnslib
from kumo.dataplane.port import DataplaneError

UTS_DIR = Path(os.environ.get("KUMO_UTS_DIR", "/run/kumo/uts"))
_CLONE_NEWUTS = 0x04000000
_MS_BIND = 4096
_MNT_DETACH = 2
_THREAD_NS = "/proc/thread-self/ns/uts"

_libc = ctypes.CDLL(None, use_errno=True)


def path(netns: str) -> Path:
    """The file holding the UTS namespace of the instance in ``netns``."""
    netnslib.path(netns)  # a namespace's name: no separators, no "." or ".."
    return UTS_DIR / netns


def command(netns: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run in the instance's UTS namespace; to be run inside its
    network namespace (after ``ip netns exec NETNS``)."""
    return ["nsenter", f"--uts={path(netns)}", "--", *argv]


SHELL_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "TERM": "vt100", "PS1": "# ", "HOME": "/"}  # fmt: skip


def shell(netns: str) -> tuple[subprocess.Popen[bytes], int]:
    """An interactive shell in the instance in ``netns`` (its network and
    UTS namespaces) on a new pseudo-terminal, in a session of its own:
    (the process, the terminal's master end, for the caller to close)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, *command(netns, ["/bin/sh", "-i"])],
        stdin=slave, stdout=slave, stderr=slave, env=SHELL_ENV, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    return proc, master


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, _CLONE_NEWUTS), "setns")


@contextmanager
def _entered(where: Path) -> Iterator[None]:
    """The block runs with the calling thread in the UTS namespace mounted
    at ``where``; OSError(EINVAL) when none is (a plain file)."""
    target = os.open(where, os.O_RDONLY)
    try:
        own = os.open(_THREAD_NS, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)
    finally:
        os.close(target)


def create(netns: str, hostname: str) -> None:
    """A new UTS namespace holding ``hostname`` for the instance in
    ``netns``; OSError(EEXIST) when its file exists."""
    UTS_DIR.mkdir(parents=True, exist_ok=True)
    where = path(netns)
    os.close(os.open(where, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    try:
        own = os.open(_THREAD_NS, os.O_RDONLY)
        try:
            _check(_libc.unshare(_CLONE_NEWUTS), "unshare")
            try:
                socket.sethostname(hostname)
                _check(
                    _libc.mount(_THREAD_NS.encode(), bytes(where), b"none", _MS_BIND, None),
                    "mount",
                )
            finally:
                _setns(own)
        finally:
            os.close(own)
    except OSError:
        where.unlink(missing_ok=True)
        raise


def read(netns: str) -> str | None:
    """The hostname in the instance's UTS namespace; None when there is no
    namespace (no file, or a file with no namespace mounted on it)."""
    try:
        with _entered(path(netns)):
            return socket.gethostname()
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return None
        raise


def set_hostname(netns: str, hostname: str) -> None:
    with _entered(path(netns)):
        socket.sethostname(hostname)


def remove(netns: str) -> None:
    """Unmount and remove the instance's UTS namespace file (none: done)."""
    where = path(netns)
    _libc.umount2(bytes(where), _MNT_DETACH)  # EINVAL for a plain file: unlinked below
    where.unlink(missing_ok=True)


def list_names() -> frozenset[str]:
    try:
        return frozenset(p.name for p in UTS_DIR.iterdir())
    except FileNotFoundError:
        return frozenset()


class UtsPort(Protocol):
    def hostnames(self, namespaces: frozenset[str] | None = None) -> dict[str, str | None]:
        """Instance namespace → the hostname of its UTS namespace, for every
        UTS file kept (in ``namespaces`` only, unless None); None for a
        file that holds no namespace."""
        ...

    def create(self, netns: str, hostname: str) -> None:
        """Make the instance's UTS namespace (replacing a file that holds none)."""
        ...

    def set(self, netns: str, hostname: str) -> None: ...
    def remove(self, netns: str) -> None: ...


def _failed(op: str, netns: str, exc: OSError) -> DataplaneError:
    return DataplaneError(op, exc.errno or errno.EIO, f"{netns}: {exc.strerror or exc}")


class UtsNamespaces:
    def hostnames(self, namespaces: frozenset[str] | None = None) -> dict[str, str | None]:
        if namespaces is None:
            kept = list_names()
        else:
            # By name: listing the directory reads one file per instance.
            kept = frozenset(ns for ns in namespaces if os.path.lexists(path(ns)))
        out: dict[str, str | None] = {}
        for netns in sorted(kept):
            try:
                out[netns] = read(netns)
            except OSError as exc:
                raise _failed("read hostname", netns, exc) from exc
        return out

    def create(self, netns: str, hostname: str) -> None:
        try:
            if read(netns) is None:
                path(netns).unlink(missing_ok=True)  # a file left without its namespace
            create(netns, hostname)
        except OSError as exc:
            raise _failed("create uts namespace", netns, exc) from exc

    def set(self, netns: str, hostname: str) -> None:
        try:
            set_hostname(netns, hostname)
        except OSError as exc:
            raise _failed("set hostname", netns, exc) from exc

    def remove(self, netns: str) -> None:
        try:
            remove(netns)
        except OSError as exc:
            raise _failed("remove uts namespace", netns, exc) from exc


@dataclass
class FakeUts:
    names: dict[str, str | None] = field(default_factory=dict)
    fail_next: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(operation, netns) of every change, in order."""

    def _maybe_fail(self, op: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise DataplaneError(op, errno.EIO, "injected failure")

    def hostnames(self, namespaces: frozenset[str] | None = None) -> dict[str, str | None]:
        for ns in namespaces or ():
            path(ns)  # a bad name fails here as it does on the kernel's side
        return {
            ns: name for ns, name in self.names.items() if namespaces is None or ns in namespaces
        }

    def create(self, netns: str, hostname: str) -> None:
        self._maybe_fail("create uts namespace")
        if self.names.get(netns) is not None:
            raise DataplaneError("create uts namespace", errno.EEXIST, netns)
        self.names[netns] = hostname
        self.calls.append(("create", netns))

    def set(self, netns: str, hostname: str) -> None:
        self._maybe_fail("set hostname")
        if self.names.get(netns) is None:
            raise DataplaneError("set hostname", errno.ENOENT, netns)
        self.names[netns] = hostname
        self.calls.append(("set", netns))

    def remove(self, netns: str) -> None:
        self._maybe_fail("remove uts namespace")
        self.names.pop(netns, None)
        self.calls.append(("remove", netns))
