"""End to end: ``openstack usage show`` and ``usage list`` with the real CLI, also
after the server is deleted."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.test_openstack_compute import _cli, _run, _wire, agent  # noqa: F401 - a fixture
from tests.live import LiveServer

pytestmark = pytest.mark.slow


def test_cli_usage_show_and_list(live_server: LiveServer, agent: dict[str, str]) -> None:  # noqa: F811
    _cli(live_server, "network", "create", "unet")
    _cli(live_server, "subnet", "create", "--network", "unet", "--subnet-range", "10.8.0.0/24",
         "us1")  # fmt: skip
    made = _cli(live_server, "server", "create", "--image", "busybox", "--flavor", "m1.small",
                "--network", "unet", "uvm")  # fmt: skip
    _wire(live_server, agent, made["id"])
    today = dt.date.today()
    period = [
        "--start",
        str(today - dt.timedelta(days=1)),
        "--end",
        str(today + dt.timedelta(days=1)),
    ]
    shown = _cli(live_server, "usage", "show", "--project", "admin", *period)
    # -f json prints the server usages themselves under "Servers"
    (server,) = shown["Servers"]
    assert server["instance_id"] == made["id"] and server["flavor"] == "m1.small"
    assert shown["Project"] and float(shown["CPU Hours"]) > 0
    assert float(shown["CPU Hours"]) > 0 and float(shown["RAM MB-Hours"]) > 0
    _run(live_server, "server", "delete", "--wait", "uvm")
    after = _cli(live_server, "usage", "show", "--project", "admin", *period)
    (gone,) = after["Servers"]  # the record outlives the server
    assert gone["state"] == "terminated" and gone["ended_at"]
    listed = _cli(live_server, "usage", "list", *period)
    assert [len(row["Servers"]) for row in listed] == [1]
