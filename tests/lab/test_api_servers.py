"""``kumo up --api-servers N``: the servers' command lines and what the agents are told.

(The lab itself, with its own PostgreSQL, is started by hand in
docs/DEPLOY.md's terms: ``kumo up --api-servers 2``; this checks the
wiring without root.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from kumo.cli.main import build_parser
from kumo.lab import postgres
from kumo.lab.cli import api_target
from kumo.lab.supervisor import LabState, agent_command, api_command, api_log, new_state


def _two_servers(tmp_path: Path) -> LabState:
    state = new_state("two", tmp_path, hosts=2, port=18001, api_servers=2)
    state.more_api_urls = ["http://127.0.0.1:18002"]
    state.database_url = "postgresql+psycopg://kumo@127.0.0.1:5999/postgres"
    return state


def test_every_agent_names_every_api_server(tmp_path: Path) -> None:
    state = _two_servers(tmp_path)
    argv = agent_command(state, state.host_names[0])
    assert argv[argv.index("--api") + 1] == "http://127.0.0.1:18001,http://127.0.0.1:18002"


def test_the_servers_share_the_database_and_the_state_directory(tmp_path: Path) -> None:
    state = _two_servers(tmp_path)
    first, second = api_command(state), api_command(state, 1)
    for argv, port in ((first, "18001"), (second, "18002")):
        assert argv[argv.index("--port") + 1] == port
        assert argv[argv.index("--state-dir") + 1] == state.state_dir
        assert argv[argv.index("--database-url") + 1] == state.database_url
    assert api_log(state, 1).name == "api2.log" and api_log(state).name == "api.log"


def test_the_option_and_a_saved_state_round_trip(tmp_path: Path) -> None:
    args = build_parser().parse_args(["up", "--api-servers", "2", "--name", "two"])
    assert args.api_servers == 2
    state = _two_servers(tmp_path)
    state.own_postgres = True
    state.save()
    again = LabState.load(tmp_path)
    assert again is not None and again.api_urls == state.api_urls and again.own_postgres
    assert postgres.data_dir("two") == postgres.DATA_ROOT / "two"


def test_lab_stop_api_names_either_server() -> None:
    args = build_parser().parse_args(["lab", "stop", "api", "2"])
    assert (args.process, args.host) == ("api", "2")
    assert api_target(None, 2) == "api" and api_target("1", 2) == "api"
    assert api_target("2", 2) == "api2"
    for wrong in ("3", "x", "0"):
        with pytest.raises(SystemExit, match=r"api \[1-2\]"):
            api_target(wrong, 2)


def test_physnet_option_reaches_the_api_and_the_agents_and_the_state(tmp_path: Path) -> None:
    from kumo.cli.serve import settings_from_args
    from kumo.lab.cli import _physnets

    args = build_parser().parse_args(["up", "--name", "seg", "--physnet", "rack1:host1",
                                      "--physnet", "rack2:host2,host3"])  # fmt: skip
    physnets = _physnets(args.physnet, 3, "seg", None)
    assert physnets == {"rack1": [1], "rack2": [2, 3]}
    with pytest.raises(SystemExit, match="physnet1"):
        _physnets(["physnet1:host1"], 3, "seg", None)
    state = new_state("seg", tmp_path, hosts=3, port=18003, physnets=physnets)
    state.save()
    again = LabState.load(tmp_path)
    assert again is not None and again.physnets == physnets
    assert {"kl-seg-pn1", "kl-seg-pn2"} <= set(again.namespaces)
    mappings = [
        [argv[i + 1] for i, a in enumerate(argv) if a == "--bridge-mapping"]
        for argv in (agent_command(again, h) for h in again.host_names)
    ]
    assert mappings == [
        ["physnet1:eth1", "external:eth2", "rack1:eth3"],
        ["physnet1:eth1", "external:eth2", "rack2:eth3"],
        ["physnet1:eth1", "external:eth2", "rack2:eth3"],
    ]
    serve = api_command(again)
    given = [serve[i + 1] for i, a in enumerate(serve) if a == "--physical-network"]
    assert given == ["rack1", "rack2"]
    settings = settings_from_args(build_parser().parse_args(serve[serve.index("serve") :]))
    assert set(settings.physical_networks) >= {"physnet1", "external", "rack1", "rack2"}
