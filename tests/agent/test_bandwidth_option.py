"""``kumo agent --bandwidth``: what each physical network offers to ports'
minimum bandwidth rules, reported in the agent's configurations."""

from __future__ import annotations

import argparse

import pytest

from kumo.agent import cli
from kumo.agent.client import ApiClient


def _args(*extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.add_parsers(sub)
    return parser.parse_args(["agent", "--host", "h1", "--api", "http://127.0.0.1:1",
                              "--clouds-yaml", "/nonexistent", *extra])  # fmt: skip


def test_bandwidths_parsed_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # credentials are another option's business
    monkeypatch.setattr(cli, "credentials", lambda _args: None)
    args = _args("--bandwidth", "physnet1:1000000", "--bandwidth", "data:500:200")
    cfg = cli.config_from_args(args)
    assert cfg.bandwidths == {"physnet1": (1_000_000, 1_000_000), "data": (500, 200)}
    client = ApiClient.__new__(ApiClient)
    client.config = cfg
    assert client.configurations()["bandwidths"] == {
        "physnet1": {"egress": 1_000_000, "ingress": 1_000_000},
        "data": {"egress": 500, "ingress": 200},
    }


@pytest.mark.parametrize("bad", ["physnet1", "physnet1:x", ":100", "p:1:2:3", "p:-1"])
def test_bad_bandwidths_refused(bad: str) -> None:
    with pytest.raises(SystemExit):
        cli.config_from_args(_args("--bandwidth", bad))
