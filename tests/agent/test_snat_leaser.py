"""The agent asks for a block per local instance of a distributed-SNAT
router, one at a time as grants show on the feed, waits after a refusal,
and returns its blocks once no instance is left for a while."""

from __future__ import annotations

from typing import Any

import httpx

from kumo.agent.snat import SnatLeaser
from kumo.compiler import ClusterView
from tests.compiler import states as s
from tests.compiler.test_snat import R, view

REFUSED = httpx.Response(409, request=httpx.Request("POST", "http://api/internal/v1/snat-leases"))


class Api:
    """Grants up to ``free`` blocks, then answers 409 as the API does."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.asked: list[str] = []
        self.returned: list[str] = []

    def lease_snat_block(self, router_id: str) -> dict[str, Any]:
        self.asked.append(router_id)
        if self.free == 0:
            raise httpx.HTTPStatusError("409", request=REFUSED.request, response=REFUSED)
        self.free -= 1
        return {"port_range": "1024:1087", "external_ip": "203.0.113.10"}

    def release_snat_block(self, lease_id: str) -> None:
        self.returned.append(lease_id)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lease(host: str, low: int) -> dict[str, Any]:
    return {"id": f"l{low}", "host": host, "external_ip": "203.0.113.10",
            "port_range": f"{low}:{low + 63}"}  # fmt: skip


def test_one_block_per_instance_asked_one_at_a_time() -> None:
    api, clock = Api(free=5), Clock()
    leaser = SnatLeaser(api, "c1", clock=clock, retry=10)
    leaser.update(view(leases=[]))
    leaser.update(view(leases=[]))  # granted, not on the feed yet
    assert api.asked == [R]
    leaser.update(view(leases=[lease("c1", 1024)]))  # c1 runs two instances
    assert api.asked == [R, R]
    leaser.update(view(leases=[lease("c1", 1024), lease("c1", 1088)]))
    assert api.asked == [R, R]  # enough


def test_a_refusal_waits() -> None:
    api, clock = Api(free=0), Clock()
    leaser = SnatLeaser(api, "c2", clock=clock, retry=10)
    leaser.update(view(leases=[]))
    leaser.update(view(leases=[]))
    assert api.asked == [R]
    clock.now = 11
    leaser.update(view(leases=[]))
    assert api.asked == [R, R]


def test_idle_blocks_are_returned() -> None:
    api, clock = Api(free=5), Clock()
    leaser = SnatLeaser(api, "c3", clock=clock, idle=60)
    held = view(leases=[lease("c3", 1024)])  # c3 runs no instance
    leaser.update(held)
    clock.now = 30
    leaser.update(held)
    assert api.returned == []
    clock.now = 61
    leaser.update(held)
    assert api.returned == ["l1024"] and api.asked == []


def test_nothing_without_the_mode() -> None:
    api = Api(free=5)
    SnatLeaser(api, "c1").update(view(distributed_snat=False, leases=[]))
    SnatLeaser(api, "c1").update(ClusterView.from_bodies([s.network(s.NET1)]))
    assert api.asked == []


def test_a_host_short_of_ports_asks_for_another_block() -> None:
    api, clock = Api(free=5), Clock()
    counts = {"n": 10}
    leaser = SnatLeaser(api, "c2", clock=clock, usage=lambda rid, ip: counts["n"])
    held = view(leases=[lease("c2", 1024)])  # one instance, one block of 64
    leaser.update(held, read_usage=True)
    assert api.asked == []
    counts["n"] = 48  # three quarters of 64
    leaser.update(held)  # passes do not read the counts
    assert api.asked == []
    leaser.update(held, read_usage=True)
    assert api.asked == [R]
