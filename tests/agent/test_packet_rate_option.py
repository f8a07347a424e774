"""``kumo agent --packet-rate``: what the host's switch offers to ports'
minimum packet rate rules, without direction or per direction, reported
in the agent's configurations."""

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


def _reported(monkeypatch: pytest.MonkeyPatch, *extra: str) -> object:
    # credentials are another option's business
    monkeypatch.setattr(cli, "credentials", lambda _args: None)
    client = ApiClient.__new__(ApiClient)
    client.config = cli.config_from_args(_args(*extra))
    return client.configurations()["packet_rates"]


def test_packet_rate_without_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _reported(monkeypatch, "--packet-rate", "1000") == {"any": 1000}


def test_packet_rate_per_direction(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _reported(monkeypatch, "--packet-rate", "800:600") == {"egress": 800, "ingress": 600}


def test_no_packet_rate_offers_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _reported(monkeypatch) == {}


@pytest.mark.parametrize("bad", ["", "x", "1:2:3", "-1", "5:-1", "1:", "physnet1:100"])
def test_bad_packet_rates_refused(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "credentials", lambda _args: None)
    with pytest.raises(SystemExit, match="--packet-rate"):
        cli.config_from_args(_args("--packet-rate", bad))
