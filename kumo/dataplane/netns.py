"""Network namespaces from one process, without forking a helper per namespace.

``create`` and ``remove`` do what ``ip netns add/del`` do (a bind mount of a
new namespace under ``/run/netns``); ``socket_in`` opens a socket inside a
namespace by ``setns``-ing the CALLING THREAD into it, creating the socket
and switching back: the socket stays bound to the namespace it was created
in. No child process is involved, which was measured ~5x faster than
pyroute2's default (a forked helper per namespace socket). All functions
restore the thread's namespace even on failure.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager

NETNS_RUN_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MS_REC = 16384
_MS_SHARED = 1 << 20
_MNT_DETACH = 2
_THREAD_NS = "/proc/thread-self/ns/net"

_libc = ctypes.CDLL(None, use_errno=True)
_run_dir_ready = False


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise OSError(errno.EINVAL, f"bad namespace name {name!r}")
    return os.path.join(NETNS_RUN_DIR, name)


def list_names() -> frozenset[str]:
    try:
        return frozenset(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return frozenset()


def _prepare_run_dir() -> None:
    """Make /run/netns a shared mount point, as iproute2 does, so namespaces
    mounted here are visible to every mount namespace (and ``ip netns``)."""
    global _run_dir_ready
    if _run_dir_ready:
        return
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    target = NETNS_RUN_DIR.encode()
    if _libc.mount(b"", target, b"none", _MS_SHARED | _MS_REC, None) != 0:
        _check(_libc.mount(target, target, b"none", _MS_BIND | _MS_REC, None), "bind run dir")
        _check(_libc.mount(b"", target, b"none", _MS_SHARED | _MS_REC, None), "share run dir")
    _run_dir_ready = True


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, _CLONE_NEWNET), "setns")


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the block with the calling thread inside namespace ``name``
    (None: stay where it is)."""
    if name is None:
        yield
        return
    own = os.open(_THREAD_NS, os.O_RDONLY)
    try:
        target = os.open(path(name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def create(name: str) -> None:
    """Create namespace ``name``; OSError(EEXIST) when it exists."""
    _prepare_run_dir()
    where = path(name)
    fd = os.open(where, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    own = os.open(_THREAD_NS, os.O_RDONLY)
    try:
        try:
            _check(_libc.unshare(_CLONE_NEWNET), "unshare")
            try:
                _check(
                    _libc.mount(_THREAD_NS.encode(), where.encode(), b"none", _MS_BIND, None),
                    "mount",
                )
            finally:
                _setns(own)
        except OSError:
            os.unlink(where)
            raise
    finally:
        os.close(own)


def remove(name: str) -> None:
    """Remove namespace ``name``; OSError(ENOENT) when it does not exist."""
    where = path(name)
    if not os.path.exists(where):
        raise OSError(errno.ENOENT, f"no namespace {name}")
    _kill_processes_in(where)
    _libc.umount2(where.encode(), _MNT_DETACH)
    os.unlink(where)
    etc = f"/etc/netns/{name}"
    if os.path.isdir(etc):
        shutil.rmtree(etc, ignore_errors=True)


def _kill_processes_in(where: str) -> None:
    """SIGKILL every process inside the namespace mounted at ``where`` (a
    process would otherwise keep a removed namespace, and its devices, alive)."""
    try:
        inode = os.stat(where).st_ino
    except OSError:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == inode:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            continue


def open_fd(name: str) -> int:
    """An O_RDONLY descriptor of namespace ``name`` (caller closes it)."""
    try:
        return os.open(path(name), os.O_RDONLY)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, f"no namespace {name}") from None


def socket_in(name: str | None, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside namespace ``name`` (None: the current one)."""
    with entered(name):
        return socket.socket(family, kind, proto)


_IPV6_FREEBIND = 78
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def bind_on_link(sock: socket.socket, address: str, port: int, ifname: str) -> None:
    """Bind an IPv6 socket to a link-local ``address`` of ``ifname``, which
    the kernel looks up in the namespace the socket was made in (binding to
    the device gives the address its zone; no interface index is needed
    from this thread's namespace). Free binding: the address may come later."""
    sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_FREEBIND, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
