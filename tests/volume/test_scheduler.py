"""The pool-aware scheduler, pure: filters, weighers, the message when nothing fits."""

from __future__ import annotations

import pytest

from kumo.volume.scheduler import (
    NoValidPool,
    PairPlacement,
    Placement,
    PoolState,
    Request,
    place,
    place_pair,
    wants_replication,
)
from kumo.volume.scheduler.filters import capacity, spec_matches
from kumo.volume.scheduler.weighers import WEIGHERS, resolve


def pool(name: str, host: str = "h1", **kw: object) -> PoolState:
    base: dict[str, object] = {"total_gb": 100.0, "free_gb": 100.0}
    base.update(kw)
    return PoolState(host=host, pool=name, **base)  # type: ignore[arg-type]


def test_thin_pool_takes_volumes_up_to_its_over_subscription_ratio() -> None:
    p = pool("p", total_gb=10, free_gb=10, allocated_gb=15, max_over_subscription_ratio=2.0)
    assert capacity(p, Request(size=5)) is None  # 20 / 10 = 2.0: allowed
    why = capacity(p, Request(size=6))
    assert why is not None and "2.10 times its capacity" in why


def test_reserved_percentage_is_kept_free() -> None:
    p = pool("p", total_gb=100, free_gb=15, reserved_percentage=10, thin=False)
    assert capacity(p, Request(size=5)) is None
    assert capacity(p, Request(size=6)) is not None
    thin = pool(
        "t", total_gb=100, free_gb=10, reserved_percentage=10, max_over_subscription_ratio=20
    )
    assert capacity(thin, Request(size=1)) is not None  # nothing free above the reserve


def test_zone_and_host_state_filter() -> None:
    pools = [pool("a", zone="z1"), pool("b", host="h2", zone="z2"), pool("c", host="h3", up=False)]
    found = place(pools, Request(size=1, zone="z2"))
    assert found == Placement("h2", "b", 0.0)
    found = place([pools[2]], Request(size=1))
    assert isinstance(found, NoValidPool)
    assert "h3@file#c: its storage host is down or disabled" in found.message(1)


def test_capabilities_match_extra_specs() -> None:
    fast = pool("fast", capabilities={"volume_backend_name": "ssd", "iops": "5000"})
    slow = pool("slow", host="h2", capabilities={"volume_backend_name": "hdd"})
    specs = {"volume_backend_name": "ssd"}
    assert place([fast, slow], Request(size=1, extra_specs=specs)).pool == "fast"  # type: ignore[union-attr]
    specs = {"capabilities:iops": ">= 1000", "qos:limit": "ignored by the scheduler"}
    assert place([fast, slow], Request(size=1, extra_specs=specs)).pool == "fast"  # type: ignore[union-attr]
    found = place([slow], Request(size=1, extra_specs={"volume_backend_name": "ssd"}))
    assert isinstance(found, NoValidPool)
    assert "its volume_backend_name is 'hdd', the volume type asks 'ssd'" in found.message(1)


@pytest.mark.parametrize(
    ("wanted", "have", "ok"),
    [("<is> True", "True", True), ("<is> True", "False", False), ("<in> ssd", "fast-ssd", True),
     ("<or> a <or> b", "b", True), ("<or> a <or> b", "c", False), ("s== x", "x", True),
     (">= 10", "9", False), ("<= 10", "9", True), ("plain", "plain", True),
     ("== 3", "three", False)],
)  # fmt: skip
def test_spec_operators(wanted: str, have: str, ok: bool) -> None:
    assert spec_matches(wanted, have) is ok


def test_weighers() -> None:
    roomy = pool("roomy", total_gb=1000, free_gb=900, allocated_gb=100, volume_count=50)
    busy = pool("busy", host="h2", total_gb=100, free_gb=90, allocated_gb=10, volume_count=1)
    both = [roomy, busy]
    assert place(both, Request(size=1), resolve(("CapacityWeigher",))).pool == "roomy"  # type: ignore[union-attr]
    assert place(both, Request(size=1), resolve(("AllocatedCapacityWeigher",))).pool == "busy"  # type: ignore[union-attr]
    assert place(both, Request(size=1), resolve(("VolumeNumberWeigher",))).pool == "busy"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unknown volume weighers"):
        resolve(("Nope",))
    assert set(WEIGHERS) == {"CapacityWeigher", "AllocatedCapacityWeigher", "VolumeNumberWeigher"}


def test_same_pool_for_copies_and_ties_go_to_the_first() -> None:
    a, b = pool("a"), pool("b", host="h2")
    assert place([b, a], Request(size=1)).pool == "a"  # type: ignore[union-attr]
    assert place([a, b], Request(size=1, pool=("h2", "b"))).pool == "b"  # type: ignore[union-attr]
    found = place([a], Request(size=1, pool=("h2", "b")))
    assert isinstance(found, NoValidPool)


def test_no_pools_at_all() -> None:
    found = place([], Request(size=3))
    assert isinstance(found, NoValidPool)
    assert "no storage host has registered a pool" in found.message(3)


# -- replicated volumes: a primary and a replica on another host ------------------------

REPLICATED = {"replication_enabled": "<is> True"}


def test_replication_is_asked_by_the_volume_types_spec() -> None:
    assert wants_replication(REPLICATED)
    assert wants_replication({"capabilities:replication_enabled": "<is> True"})
    assert not wants_replication({"replication_enabled": "<is> False"})
    assert not wants_replication({"volume_backend_name": "file"})


def test_pair_puts_the_replica_on_another_host() -> None:
    pools = [
        pool("a", allocated_gb=0),
        pool("b", allocated_gb=10),
        pool("c", host="h2", allocated_gb=900),
        pool("d", host="h3", allocated_gb=400),
    ]
    found = place_pair(pools, Request(size=1, extra_specs=REPLICATED))
    assert isinstance(found, PairPlacement)
    assert (found.primary.host, found.primary.pool) == ("h1", "a")
    assert (found.replica.host, found.replica.pool) == ("h3", "d")  # the best of the other hosts


def test_pair_replica_is_filtered_like_a_primary_but_not_pinned_to_the_source() -> None:
    pools = [pool("a"), pool("b", host="h2", zone="z2"), pool("c", host="h3", up=False),
             pool("e", host="h4")]  # fmt: skip
    request = Request(size=1, extra_specs=REPLICATED, pool=("h1", "a"))
    found = place_pair(pools, request)
    assert isinstance(found, PairPlacement)
    assert found.primary.host == "h1" and found.replica.host in ("h2", "h4")
    found = place_pair(pools, Request(size=1, zone="nova", extra_specs=REPLICATED))
    assert isinstance(found, PairPlacement) and {found.primary.host, found.replica.host} == {
        "h1",
        "h4",
    }


def test_no_second_host_is_an_error_naming_the_replica() -> None:
    pools = [pool("a"), pool("b"), pool("c", host="h2", up=False)]
    found = place_pair(pools, Request(size=2, extra_specs=REPLICATED))
    assert isinstance(found, NoValidPool) and found.replica
    text = found.message(2)
    assert "replica of this replicated 2 GiB volume" in text
    assert "second storage host" in text
    assert "h1@file#b: it is on the primary's storage host" in text
    assert "h2@file#c: its storage host is down or disabled" in text
    # nothing fits the primary: the ordinary message
    found = place_pair([pool("a", up=False)], Request(size=2, extra_specs=REPLICATED))
    assert isinstance(found, NoValidPool) and not found.replica


def test_replication_spec_is_not_matched_against_capabilities() -> None:
    found = place([pool("a")], Request(size=1, extra_specs=REPLICATED))
    assert isinstance(found, Placement)
