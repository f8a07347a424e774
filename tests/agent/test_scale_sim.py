"""The scale benchmark, reduced: 20 agents and 300 ports on two API servers.

``bench/scale.py`` is a benchmark; this keeps it working and checks what it
claims: every change reaches the agents that hold its objects and each of
them applies it, agents that have no work for a port do not receive it,
a restart storm ends with every agent in sync, and no agent hears of
its peers' heartbeats or readiness. On PostgreSQL
(``KUMO_TEST_PG_URL``, a fresh database) when given, else on SQLite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench import scale
from tests.live import PG_URL

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'kumo.db'}"
        return
    name = f"kumo_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_reduced_simulated_cloud_converges(database_url: str) -> None:
    layout = scale.Layout(hosts=20, ports=300, networks=6, big=40)
    report = scale.run(layout, workers=2, changes=2, database_url=database_url, settle=0.3,
                       quiet=1.0, log=lambda _: None)  # fmt: skip
    assert report.storm < 60
    for kind in ("port create", "rule create", "big group member"):
        outs = report.by_kind(kind)
        assert outs, kind
        for o in outs:
            assert o.missing == 0 and o.all_applied is not None, (kind, o)
            assert o.all_applied < 10, (kind, o)  # 2 s is the target on an idle machine
            assert o.needed >= 1, (kind, o)
            # Only hosts with something to do for the change receive it (a
            # rule: the hosts of its group's ports, not those naming the group).
            assert o.needed == o.receivers, (kind, o)
    # Heartbeats, readiness changes and restarts with the same underlay reach no agent.
    assert report.fanout.beats == 2 * layout.hosts
    assert report.fanout.beat_events == 0 and report.fanout.storm == 0, report.fanout
    # A big group member reaches the hosts of the group's members: half the hosts.
    big = report.by_kind("big group member")
    assert all(o.receivers >= layout.hosts // 2 for o in big), big
