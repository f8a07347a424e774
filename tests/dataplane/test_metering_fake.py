"""The metering reconciler against the in-memory nftables: written once,
kept, rewritten on a change, removed with the last label, retried after a
failure; the counters read back per namespace and table."""

from __future__ import annotations

from kumo.compiler import compile_host
from kumo.compiler import names as n
from kumo.compiler.metering import counter_name
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.nftables import metering
from tests.compiler.test_address_scopes import R
from tests.compiler.test_metering import EGRESS, EXCLUDED, L1, L2, label, view

NS = n.snat_netns("g", R)


def test_write_keep_rewrite_remove_and_read() -> None:
    dp = Dataplane(FakeKernel(host_links=("lo", "eth0", "eth1")), "g")
    assert dp.apply(compile_host("g", view([label(L1, "pa", [EGRESS])]))).ok
    nft = dp.fake_nft[NS]
    assert nft.has_table(metering.FAMILY, metering.TABLE)
    writes = len(nft.transactions)
    assert dp.apply(compile_host("g", view([label(L1, "pa", [EGRESS])]))).ok
    assert len(nft.transactions) == writes  # in place: nothing written again
    two = view([label(L1, "pa", [EGRESS, EXCLUDED]), label(L2, "pa", [EGRESS])])
    assert dp.apply(compile_host("g", two)).ok
    assert len(nft.transactions) == writes + 1
    chain = nft.chains[("inet", "e0")]
    assert "return" in chain[0] and "counter" not in chain[0]  # excluded first
    assert counter_name(L1) in chain[1]
    nft.counters[("inet", counter_name(L1))] = (3, 300)
    (((netns, _), counts),) = dp.read_meters().items()
    assert netns == NS and counts == {L1: (300, 3), L2: (0, 0)}
    assert dp.apply(compile_host("g", view([]))).ok
    assert not nft.has_table(metering.FAMILY, metering.TABLE)


def test_a_failed_write_is_retried() -> None:
    dp = Dataplane(FakeKernel(host_links=("lo", "eth0", "eth1")), "g")
    assert dp.apply(compile_host("g", view([]))).ok
    dp.fake_nft.setdefault(NS, dp._fake_nft(NS))  # type: ignore[arg-type]
    dp.fake_nft[NS].fail_next = 1
    assert not dp.apply(compile_host("g", view([label(L1, "pa", [EGRESS])]))).ok
    assert dp.retry().ok
    assert dp.fake_nft[NS].has_table(metering.FAMILY, metering.TABLE)
