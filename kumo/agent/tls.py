"""One TLS context for the process's API clients.

An ``httpx.Client`` left to itself builds an ``ssl.SSLContext`` and loads
the system's certificate authorities into it: ~17 ms of CPU and a context
per client, even for ``http://`` URLs. An agent makes a client at each
start, and a process holding many agents (``bench/scale.py``) one per
agent at once; they all verify servers the same way, so they share one
context (an ``SSLContext`` may be used by many connections and threads).
"""

from __future__ import annotations

import ssl
import threading

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def context() -> ssl.SSLContext:
    """The process's context, verifying servers against the default
    authorities (made on first use)."""
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context
