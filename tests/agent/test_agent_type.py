"""What a host's agent registers as: a gateway host's agent is an ``L3 agent``
in ``dvr_snat`` mode (Neutron's name for the agent routers are scheduled
to), every other host's a ``kumo agent``."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from kumo.agent import cli
from kumo.agent.client import ApiClient


def _registered(monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict[str, Any]:
    monkeypatch.setattr(cli, "credentials", lambda _args: None)
    parser = argparse.ArgumentParser()
    cli.add_parsers(parser.add_subparsers())
    args = parser.parse_args(["agent", "--host", "h1", "--api", "http://127.0.0.1:1",
                              "--clouds-yaml", "/nonexistent", *extra])  # fmt: skip
    client = ApiClient.__new__(ApiClient)
    client.config = cli.config_from_args(args)
    sent: dict[str, Any] = {}

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        sent.update(body["agent"], path=path)
        return {"agent": {"id": "a1"}}

    monkeypatch.setattr(client, "_post", post)
    assert client.register() == "a1"
    return sent


def test_a_gateway_hosts_agent_is_an_l3_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _registered(monkeypatch, "--gateway")
    assert sent["path"] == "/internal/v1/agents"
    assert (sent["agent_type"], sent["binary"]) == ("L3 agent", "kumo-agent")
    assert sent["configurations"]["agent_mode"] == "dvr_snat"
    assert sent["configurations"]["gateway"] is True


def test_another_hosts_agent_is_a_kumo_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = _registered(monkeypatch)
    assert sent["agent_type"] == "kumo agent"
    assert "agent_mode" not in sent["configurations"] and sent["configurations"]["gateway"] is False
