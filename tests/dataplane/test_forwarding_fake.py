"""Port forwarding hairpin steering against the in-memory kernel: a host
that neither serves nor answers for a floating IP writes its steering
chain once (the in-memory nftables keeps scripts, not their tables)."""

from __future__ import annotations

from kumo.compiler import compile_host
from kumo.compiler import names as n
from kumo.compiler.routers import fip_leg_mac
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from tests.compiler.test_forwarding import ADDR, FORWARDINGS, R, view


def test_a_host_serving_nothing_writes_its_steering_once() -> None:
    dp = Dataplane(FakeKernel(host_links=("lo", "eth0", "eth1")), "c1")
    assert dp.apply(compile_host("c1", view(forwardings=[FORWARDINGS[0]]))).ok
    nft = dp.fake_nft[n.router_netns("c1", R)]
    script = nft.scripts[-1]
    assert "chain hairpin" in script and "chain ingress" not in script
    assert f"{ADDR} . tcp . 80 : {fip_leg_mac('c2', R)}" in script
    assert f'fwd to "{n.router_gw_name(R)}"' in script
    written = len(nft.scripts)
    assert dp.apply(compile_host("c1", view(forwardings=[FORWARDINGS[0]]))).ok
    assert len(nft.scripts) == written  # in place
