"""Root test: the responder takes a pass's leases as given, and the same
sets again without indexing them anew."""

from __future__ import annotations

import os
import uuid

import pytest

from kumo.compiler.plan import DhcpLease
from kumo.dhcp.responder import Responder
from tests.dataplane.rootlab import sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def _lease(n: int) -> DhcpLease:
    return DhcpLease(
        f"p{n}", f"kt{n:011x}", f"fa:16:3e:00:00:{n:02x}", f"10.0.0.{n}", 24, "10.0.0.1"
    )


def test_the_same_sets_are_kept_and_new_ones_taken() -> None:
    ns = f"kd{uuid.uuid4().hex[:8]}z"
    sh("ip", "netns", "add", ns)
    responder = Responder(ns)
    try:
        leases = frozenset({_lease(1), _lease(2)})
        responder.update(leases)
        indexed = responder._leases
        assert set(indexed) == {"kt00000000001", "kt00000000002"}
        responder.update(leases)  # the very same set: taken as it was
        assert responder._leases is indexed
        responder.update(frozenset({_lease(2)}))  # a new set, even if a subset
        assert set(responder._leases) == {"kt00000000002"}
        responder.update(frozenset({_lease(2)}), adverts=[])  # a new adverts list
        assert set(responder._leases) == {"kt00000000002"}
    finally:
        responder.sock.close()
        sh("ip", "netns", "del", ns, check=False)
