"""Root test: the netlink adapter of a lab host whose namespace is deleted
behind the agent's back, then made again by the lab."""

from __future__ import annotations

import errno
import os
import uuid

import pytest

from kumo.compiler.plan import HOST_NS
from kumo.dataplane.kernel import KernelAdapter
from tests.dataplane.rootlab import sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def test_missing_host_namespace_is_reported_and_its_successor_used() -> None:
    ns = f"kh{uuid.uuid4().hex[:8]}z"
    sh("ip", "netns", "add", ns)
    adapter = KernelAdapter(ns)
    try:
        sh("ip", "-n", ns, "link", "add", "kfirst", "type", "bridge")
        adapter.check_host()
        assert "kfirst" in {x.name for x in adapter.list_links(HOST_NS)}
        sh("ip", "netns", "del", ns)
        with pytest.raises(OSError) as missing:
            adapter.check_host()
        assert missing.value.errno == errno.ENOENT and ns in str(missing.value)
        # the lab makes it again: the adapter reads the new one, not the old
        # one its sockets kept alive
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "add", "ksecond", "type", "bridge")
        adapter.check_host()
        found = {x.name for x in adapter.list_links(HOST_NS)}
        assert "ksecond" in found and "kfirst" not in found
        # replaced without a pass seeing it gone: the same
        sh("ip", "netns", "del", ns)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "add", "kthird", "type", "bridge")
        adapter.check_host()
        assert "kthird" in {x.name for x in adapter.list_links(HOST_NS)}
    finally:
        adapter.close()
        sh("ip", "netns", "del", ns, check=False)
