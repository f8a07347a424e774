"""Waiting on sockets whose descriptors are above select(2)'s limit."""

from __future__ import annotations

import os
import resource
import socket

import pytest

from kumo import pollwait


def test_sockets_numbered_above_1023_are_waited_on() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"descriptor limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held: list[int] = []
    try:
        while len(held) < 1100 and (not held or held[-1] < 1030):
            held.append(os.open(os.devnull, os.O_RDONLY))
        a, b = socket.socketpair()
        with a, b:
            assert a.fileno() > 1023 and b.fileno() > 1023
            assert pollwait.readable([a, b], 0.01) == []
            b.send(b"x")
            assert pollwait.readable([a, b.fileno()], 1.0) == [a.fileno()]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
