"""The QoS reconciler against the in-memory nftables: written once, kept,
rewritten on a change, removed when no port has a policy, retried after a
failure."""

from __future__ import annotations

from kumo.compiler import compile_host
from kumo.compiler.plan import HOST_NS
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.nftables import qos
from tests.compiler.test_qos import BW_IN, BW_OUT, DSCP, view


def test_write_keep_rewrite_remove() -> None:
    dp = Dataplane(FakeKernel(), "host-a")
    assert dp.apply(compile_host("host-a", view([BW_OUT, DSCP]))).ok
    nft = dp.fake_nft[HOST_NS]
    assert nft.has_table("bridge", qos.TABLE)
    assert len(nft.scripts) == 1 and "ip dscp set 26" in nft.scripts[0]
    assert dp.apply(compile_host("host-a", view([BW_OUT, DSCP]))).ok
    assert len(nft.scripts) == 1  # in place: nothing written again
    assert dp.apply(compile_host("host-a", view([BW_IN]))).ok
    assert len(nft.scripts) == 2 and "oifname vmap" in nft.scripts[-1]
    assert "iifname" not in nft.scripts[-1]
    assert dp.apply(compile_host("host-a", view([]))).ok
    assert not nft.has_table("bridge", qos.TABLE)


def test_a_failed_write_is_retried() -> None:
    dp = Dataplane(FakeKernel(), "host-a")
    dp.apply(compile_host("host-a", view([])))
    nft = dp.fake_nft[HOST_NS]
    nft.fail_next = 1
    assert not dp.apply(compile_host("host-a", view([BW_OUT]))).ok
    assert dp.apply(compile_host("host-a", view([BW_OUT]))).ok
    assert nft.has_table("bridge", qos.TABLE)
