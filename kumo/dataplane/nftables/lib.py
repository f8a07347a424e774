"""nftables in-process, through libnftables (the library ``nft`` is built on).

Running ``nft`` costs a process start (and ``ip netns exec``) per command:
25-40 ms here, most of a port's wiring time on an idle host. The library
does the same work in well under a millisecond for a small change. Its
netlink socket belongs to the namespace the calling thread is in when it is
opened, so each call runs with the thread inside the host's namespace.

One context per (namespace, input syntax), used under a lock: a context is
not safe to share between threads. Contexts are opened at once, while the
process holds few descriptors: libnftables waits on its socket with
``select()``, which aborts the process for a descriptor past 1,023, and an
agent later holds one netlink socket per instance namespace. ``load()``
returns None where the library is missing or the contexts cannot be opened
so; callers then run the ``nft`` program instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading

from kumo.dataplane import netns
from kumo.dataplane.port import DataplaneError, NotPresent, Rejected

_OUTPUT_JSON = 1 << 4
_FD_LIMIT = 1000
"""Below FD_SETSIZE (1,024), with room for the socket a context opens."""
_lib: ctypes.CDLL | None = None
_tried = False


def _load_library() -> ctypes.CDLL | None:
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    name = ctypes.util.find_library("nftables") or "libnftables.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
    lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
    lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    _lib = lib
    return lib


class LibNft:
    """Runs nft commands (JSON or text) in one namespace, in this process."""

    def __init__(self, lib: ctypes.CDLL, where: str | None) -> None:
        self._lib = lib
        self.netns = where
        self._lock = threading.Lock()
        self._contexts: dict[bool, int] = {}

    def open(self) -> None:
        """Open both contexts now (see the module docstring)."""
        probe = os.open(os.devnull, os.O_RDONLY)
        os.close(probe)
        if probe >= _FD_LIMIT:
            raise DataplaneError("nft", errno.EMFILE, f"descriptor {probe} is past select()'s")
        with self._lock, netns.entered(self.netns):
            for as_json in (True, False):
                ctx = self._lib.nft_ctx_new(0)
                if not ctx:
                    raise DataplaneError("nft", errno.ENOMEM, "nft_ctx_new failed")
                self._contexts[as_json] = ctx
                if as_json:
                    self._lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON)
                self._lib.nft_ctx_buffer_output(ctx)
                self._lib.nft_ctx_buffer_error(ctx)

    def run(self, text: str, *, as_json: bool) -> str:
        """Run ``text`` as one transaction; its output. Raises ``Rejected``
        (or ``NotPresent`` for a missing object or namespace) on failure."""
        with self._lock:
            try:
                ctx = self._contexts[as_json]
                with netns.entered(self.netns):
                    rc = self._lib.nft_run_cmd_from_buffer(ctx, text.encode())
            except FileNotFoundError as exc:
                raise NotPresent("nft", errno.ENOENT, f"namespace {self.netns}: {exc}") from exc
            except OSError as exc:
                raise DataplaneError("nft", exc.errno or errno.EIO, str(exc)) from exc
            out = (self._lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
            err = (self._lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
        if rc != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            message = " | ".join(lines[-3:]) or f"nft failed ({rc})"
            if "No such file or directory" in message:
                raise NotPresent("nft", errno.ENOENT, message)
            raise Rejected("nft", errno.EINVAL, message)
        return out

    def close(self) -> None:
        with self._lock:
            for ctx in self._contexts.values():
                self._lib.nft_ctx_free(ctx)
            self._contexts.clear()


def load(where: str | None) -> LibNft | None:
    """An in-process runner for namespace ``where`` with its contexts open,
    or None (no library, no such namespace yet, too many descriptors)."""
    lib = _load_library()
    if lib is None:
        return None
    runner = LibNft(lib, where)
    try:
        runner.open()
    except (DataplaneError, OSError):
        runner.close()
        return None
    return runner
