"""Usage per project: the computation (pure) and ``os-simple-tenant-usage`` over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from kumo.compute.usage import Lifetime, hours, in_period, parse_time, tenant_usage, usages
from kumo.errors import BadRequest
from tests.compute.conftest import Cloud
from tests.compute.test_servers import boot

T0 = dt.datetime(2030, 1, 1)


def life(
    sid: str = "s1",
    project: str = "p1",
    launched: float | None = 0,
    terminated: float | None = None,
    vcpus: int = 2,
    ram: int = 512,
    disk: int = 10,
) -> Lifetime:
    def at(h: float | None) -> dt.datetime | None:
        return None if h is None else T0 + dt.timedelta(hours=h)

    return Lifetime(sid, project, sid, "m1.small", vcpus, ram, disk, "active",
                    at(launched), at(terminated))  # fmt: skip


def test_hours_are_clipped_to_the_period() -> None:
    start, stop = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=5)
    assert hours(life(launched=0), start, stop) == 4.0  # running before and after
    assert hours(life(launched=2), start, stop) == 3.0  # launched within
    assert hours(life(launched=0, terminated=3), start, stop) == 2.0  # deleted within
    assert hours(life(launched=2, terminated=2.5), start, stop) == 0.5
    assert hours(life(launched=0, terminated=1), start, stop) == 0.0  # gone at the start
    assert hours(life(launched=6), start, stop) == 0.0  # after the end
    assert hours(life(launched=None), start, stop) == 0.0  # never launched
    # running: counted until now, never into the future
    assert hours(life(launched=2), start, stop, now=T0 + dt.timedelta(hours=4)) == 2.0
    assert hours(life(launched=2), start, stop, now=T0 + dt.timedelta(hours=9)) == 3.0


def test_which_servers_are_in_a_period() -> None:
    start, stop = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=5)
    assert in_period(life(launched=0, terminated=1), start, stop)
    assert not in_period(life(launched=0, terminated=0.5), start, stop)
    assert not in_period(life(launched=5.5), start, stop)
    assert in_period(life(launched=None), start, stop)


def test_totals_multiply_hours_by_the_flavor() -> None:
    start, stop, now = T0, T0 + dt.timedelta(hours=10), T0 + dt.timedelta(hours=12)
    lives = [life("a", launched=0, terminated=4), life("b", launched=5, vcpus=4, ram=1024, disk=20)]
    out = tenant_usage("p1", lives, start, stop, now, detailed=True)
    assert out["total_hours"] == 9.0
    assert out["total_vcpus_usage"] == 4 * 2 + 5 * 4
    assert out["total_memory_mb_usage"] == 4 * 512 + 5 * 1024
    assert out["total_local_gb_usage"] == 4 * 10 + 5 * 20
    assert out["start"] == "2030-01-01T00:00:00.000000"
    a, b = out["server_usages"]
    assert (a["state"], a["ended_at"], a["uptime"]) == (
        "terminated",
        "2030-01-01T04:00:00.000000",
        4 * 3600,
    )
    assert (b["state"], b["ended_at"], b["uptime"]) == ("active", None, 7 * 3600)
    assert "server_usages" not in tenant_usage("p1", lives, start, stop, now, detailed=False)


def test_usages_group_by_project() -> None:
    lives = [life("a", "p2"), life("b", "p1"), life("c", "p2")]
    hour = T0 + dt.timedelta(hours=1)
    out = usages(lives, T0, hour, hour, detailed=False)
    assert [(u["tenant_id"], u["total_hours"]) for u in out] == [("p1", 1.0), ("p2", 2.0)]


def test_times_parse_as_nova_takes_them() -> None:
    now = T0
    assert parse_time(None, "start", now) == now
    assert parse_time("2030-01-02T03:04:05", "start", now) == dt.datetime(2030, 1, 2, 3, 4, 5)
    assert parse_time("2030-01-02 03:04:05.5", "start", now).microsecond == 500000
    assert parse_time("2030-01-02T03:04:05+01:00", "start", now).hour == 2
    with pytest.raises(BadRequest):
        parse_time("yesterday", "start", now)


def _period(days: int = 1) -> str:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = (now - dt.timedelta(days=days)).isoformat()
    end = (now + dt.timedelta(days=days)).isoformat()
    return f"start={start}&end={end}"


def test_usage_api_survives_deletion_and_checks_rights(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    bob = cloud.member("bob")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", [{"uuid": net}])
    cloud.activate(sid)
    project = cloud.projects["alice"]
    mine = cloud.get(alice, f"/os-simple-tenant-usage/{project}?{_period()}")["tenant_usage"]
    (server,) = mine["server_usages"]
    assert server["instance_id"] == sid and server["state"] == "active"
    assert server["vcpus"] == 1 and server["memory_mb"] == 512 and server["flavor"] == "m1.tiny"
    assert server["started_at"] is not None and server["ended_at"] is None
    cloud.call("DELETE", alice, f"/servers/{sid}", status=204)
    after = cloud.get(alice, f"/os-simple-tenant-usage/{project}?{_period()}")["tenant_usage"]
    (gone,) = after["server_usages"]
    assert gone["instance_id"] == sid and gone["state"] == "terminated" and gone["ended_at"]
    assert after["total_hours"] > 0
    # another project's reader: refused; the admin: every project, detailed on request
    cloud.get(bob, f"/os-simple-tenant-usage/{project}?{_period()}", status=403)
    cloud.get(alice, f"/os-simple-tenant-usage?{_period()}", status=403)
    listed = cloud.get(cloud.admin, f"/os-simple-tenant-usage?{_period()}&detailed=1")
    (entry,) = [u for u in listed["tenant_usages"] if u["tenant_id"] == project]
    assert [s["instance_id"] for s in entry["server_usages"]] == [sid]
    plain = cloud.get(cloud.admin, f"/os-simple-tenant-usage?{_period()}")["tenant_usages"]
    assert all("server_usages" not in u for u in plain)
    # a period before the server: nothing; start after end: 400
    early = "start=2001-01-01T00:00:00&end=2001-01-02T00:00:00"
    assert cloud.get(alice, f"/os-simple-tenant-usage/{project}?{early}")["tenant_usage"] == {}
    bad = "start=2001-01-02T00:00:00&end=2001-01-01T00:00:00"
    cloud.get(alice, f"/os-simple-tenant-usage/{project}?{bad}", status=400)
