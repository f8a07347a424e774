"""nftables in-process (libnftables): the same results and errors as the
program, and the fallback when descriptors run past select()'s limit."""

from __future__ import annotations

import os
import resource
import uuid
from collections.abc import Iterator

import pytest

from kumo.dataplane import netns
from kumo.dataplane.nftables import lib as nftlib
from kumo.dataplane.nftables.port import NftCommands
from kumo.dataplane.port import NotPresent, Rejected

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(nftlib.load(None) is None, reason="needs libnftables"),
]


@pytest.fixture
def ns() -> Iterator[str]:
    name = f"knl-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    try:
        yield name
    finally:
        netns.remove(name)


def table(name: str) -> dict[str, object]:
    return {"add": {"table": {"family": "inet", "name": name}}}


def test_commands_run_in_the_namespace_and_errors_keep_their_kind(ns: str) -> None:
    nft = NftCommands(ns)
    assert nft.lib is not None
    nft.apply([table("kumo"), {"add": {"set": {"family": "inet", "table": "kumo",
                                               "name": "s", "type": "ipv4_addr"}}}])  # fmt: skip
    nft.apply_script("add element inet kumo s { 10.0.0.1 }\n")
    body = nft.list_set("inet", "s")
    assert body is not None and body["elem"] == ["10.0.0.1"]
    assert nft.list_set("inet", "missing") is None
    assert nft.has_table("inet") and not nft.has_table("bridge")
    with pytest.raises(NotPresent):
        nft.apply([{"delete": {"element": {"family": "inet", "table": "kumo", "name": "s",
                                           "elem": ["10.9.9.9"]}}}])  # fmt: skip
    with pytest.raises(Rejected):
        nft.apply_script("add rule inet kumo nowhere bogus\n")
    # the failed transactions changed nothing
    assert nft.list_set("inet", "s") == body
    same = NftCommands(ns, in_process=False)
    assert same.list_set("inet", "s") == body


def test_without_descriptor_headroom_the_program_runs_instead(ns: str) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1200, hard), hard))
    held: list[int] = []
    try:
        while not held or held[-1] < 1010:
            held.append(os.open(os.devnull, os.O_RDONLY))
        nft = NftCommands(ns)
        assert nft.lib is None
        nft.apply([table("kumo")])
        assert nft.has_table("inet")
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
