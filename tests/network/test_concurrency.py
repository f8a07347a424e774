"""Concurrent clients never get duplicate IPs or MACs, lose updates, or leave half-made ports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.network_models import IPAllocation, Port
from kumo.errors import Conflict, PreconditionFailed
from kumo.network.core import ipam
from kumo.runtime import Runtime

ADMIN = RequestContext(
    user_id="u-admin", project_id="p-admin", roles=frozenset({"admin", "member"})
)


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=db_url))
    yield rt
    rt.close()


def _net(rt: Runtime, cidr: str) -> tuple[str, str]:
    net = rt.network.create_networks(ADMIN, [{"name": "n"}])[0]
    sub = rt.network.create_subnets(
        ADMIN, [{"network_id": net["id"], "ip_version": 4, "cidr": cidr}]
    )[0]
    return net["id"], sub["id"]


def _run_threads(n: int, fn) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def body(i: int) -> None:
        barrier.wait()
        try:
            fn(i)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_sixteen_clients_get_distinct_ips_and_macs(runtime: Runtime) -> None:
    net_id, _ = _net(runtime, "10.9.0.0/24")
    made: list[dict] = []  # type: ignore[type-arg]
    lock = threading.Lock()

    def create(i: int) -> None:
        for _ in range(5):
            port = runtime.network.create_ports(ADMIN, [{"network_id": net_id}])[0]
            with lock:
                made.append(port)

    assert _run_threads(16, create) == []
    ips = [p["fixed_ips"][0]["ip_address"] for p in made]
    macs = [p["mac_address"] for p in made]
    assert len(made) == 80
    assert len(set(ips)) == 80
    assert len(set(macs)) == 80
    # The first 80 pool addresses, no gaps: allocation is first-free.
    assert sorted(int(ip.rsplit(".", 1)[1]) for ip in ips) == list(range(2, 82))


def test_a_stale_hint_costs_a_search_never_a_duplicate(runtime: Runtime) -> None:
    """Another API process gave out addresses this one's hint has not seen:
    claiming them fails, and the locked search finds free ones."""
    net_id, sub_id = _net(runtime, "10.6.0.0/24")
    for _ in range(10):
        runtime.network.create_ports(ADMIN, [{"network_id": net_id}])
    ipam._HINTS.pop(sub_id)  # as in a process that has allocated nothing here
    made: list[dict] = []  # type: ignore[type-arg]
    lock = threading.Lock()

    def create(i: int) -> None:
        for _ in range(3):
            port = runtime.network.create_ports(ADMIN, [{"network_id": net_id}])[0]
            with lock:
                made.append(port)

    assert _run_threads(8, create) == []
    with runtime.db.read_session() as s:
        ips = list(s.scalars(select(IPAllocation.ip_address)))
    assert len(ips) == len(set(ips)) == 34
    assert sorted(int(ip.rsplit(".", 1)[1]) for ip in ips) == list(range(2, 36))


def test_exhaustion_reports_failure_and_leaves_nothing_half_made(runtime: Runtime) -> None:
    net_id, sub_id = _net(runtime, "10.8.0.0/29")  # 5 usable addresses after the gateway
    results: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        try:
            runtime.network.create_ports(ADMIN, [{"network_id": net_id}])
            outcome = "ok"
        except Conflict as exc:
            outcome = exc.kind
        with lock:
            results.append(outcome)

    assert _run_threads(8, create) == []
    assert results.count("ok") == 5
    assert results.count("IpAddressGenerationFailure") == 3
    with runtime.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Port)) == 5
        assert s.scalar(select(func.count()).select_from(IPAllocation)) == 5


def test_specific_ip_race_has_exactly_one_winner(runtime: Runtime) -> None:
    net_id, sub_id = _net(runtime, "10.7.0.0/24")
    kinds: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        try:
            runtime.network.create_ports(
                ADMIN,
                [
                    {
                        "network_id": net_id,
                        "fixed_ips": [{"subnet_id": sub_id, "ip_address": "10.7.0.77"}],
                    }
                ],
            )
            kind = "ok"
        except Conflict as exc:
            kind = exc.kind
        with lock:
            kinds.append(kind)

    assert _run_threads(8, create) == []
    assert sorted(kinds) == ["IpAddressAlreadyAllocated"] * 7 + ["ok"]


def test_concurrent_updates_lose_nothing(runtime: Runtime) -> None:
    net_id, _ = _net(runtime, "10.6.0.0/24")
    port = runtime.network.create_ports(ADMIN, [{"network_id": net_id}])[0]

    def rename(i: int) -> None:
        for k in range(5):
            runtime.network.update_port(ADMIN, port["id"], {"name": f"t{i}-{k}"})

    assert _run_threads(8, rename) == []
    final = runtime.network.show_port(ADMIN, port["id"])
    # Every one of the 40 updates bumped the revision exactly once.
    assert final["revision_number"] == port["revision_number"] + 40


def test_if_match_detects_a_stale_writer(runtime: Runtime) -> None:
    net_id, _ = _net(runtime, "10.5.0.0/24")
    port = runtime.network.create_ports(ADMIN, [{"network_id": net_id}])[0]
    rev = port["revision_number"]
    runtime.network.update_port(ADMIN, port["id"], {"name": "a"}, if_match=rev)
    with pytest.raises(PreconditionFailed):
        runtime.network.update_port(ADMIN, port["id"], {"name": "b"}, if_match=rev)
    assert runtime.network.show_port(ADMIN, port["id"])["name"] == "a"
