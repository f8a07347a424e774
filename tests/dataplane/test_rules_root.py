"""Policy rules through the netlink adapter on the real kernel: a rule by
source and a rule by firewall mark (port forwarding's replies) are written,
read back as written, and removed. Its own throwaway namespace."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from kumo.compiler.plan import PolicyRule
from kumo.dataplane.kernel import KernelAdapter

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def test_rules_by_source_and_by_mark_round_trip() -> None:
    ns = f"krt{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        kernel = KernelAdapter()
        marked = PolicyRule(ns, 32900, 101, fwmark=0x6B50)
        sourced = PolicyRule(ns, 33000, 101, "10.0.0.5/32")
        kernel.add_rule(marked)
        kernel.add_rule(sourced)
        assert set(kernel.list_rules(ns)) == {marked, sourced}
        kernel.del_rule(marked)
        assert set(kernel.list_rules(ns)) == {sourced}
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
