"""Waiting for sockets to become readable, with poll(2).

select(2) takes descriptors below 1,024 only (Python raises ValueError
above): an agent with 1,000 instances holds more than that (a netlink
socket per namespace), and a socket opened late gets a high number. poll
has no such limit.
"""

from __future__ import annotations

import select
from collections.abc import Iterable
from typing import Protocol


class HasFileno(Protocol):
    def fileno(self) -> int: ...


def readable(sources: Iterable[int | HasFileno], timeout: float) -> list[int]:
    """Descriptors among ``sources`` ready to read (or in error, which the
    read then reports) within ``timeout`` seconds; [] when none is."""
    poller = select.poll()
    for source in sources:
        fd = source if isinstance(source, int) else source.fileno()
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(max(0.0, timeout) * 1000)]
