"""Fixtures for compute and image API tests: a cloud over HTTP with real tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from tests.apicloud import ApiCloud

C = "/compute/v2.1"
N = "/networking/v2.0"
LATEST = {"OpenStack-API-Version": "compute 2.79"}


class Cloud(ApiCloud):
    def call(
        self,
        method: str,
        h: dict[str, str],
        path: str,
        body: Any = None,
        status: int = 200,
        version: str = "2.79",
    ) -> Any:
        headers = dict(h)
        if version:
            headers["OpenStack-API-Version"] = f"compute {version}"
        r = self.c.request(method, C + path, headers=headers, json=body)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def get(self, h: dict[str, str], path: str, status: int = 200, **kw: Any) -> Any:
        return self.call("GET", h, path, status=status, **kw)

    def post(self, h: dict[str, str], path: str, body: Any, status: int = 202, **kw: Any) -> Any:
        return self.call("POST", h, path, body, status=status, **kw)

    def net(self, h: dict[str, str], name: str, cidr: str) -> str:
        r = self.c.post(N + "/networks", headers=h, json={"network": {"name": name}})
        assert r.status_code == 201, r.text
        net_id: str = r.json()["network"]["id"]
        r = self.c.post(
            N + "/subnets",
            headers=h,
            json={"subnet": {"network_id": net_id, "cidr": cidr, "ip_version": 4}},
        )
        assert r.status_code == 201, r.text
        return net_id

    def host(
        self,
        name: str,
        *,
        vcpus: int | None = None,
        memory_mb: int | None = None,
        az: str = "nova",
        **config: Any,
    ) -> str:
        """Register (or refresh) a compute agent for ``name``."""
        if vcpus is not None:
            config["vcpus"] = vcpus
        if memory_mb is not None:
            config["memory_mb"] = memory_mb
        body = {"agent": {"host": name, "availability_zone": az, "configurations": config}}
        r = self.c.post("/internal/v1/agents", headers=self.admin, json=body)
        assert r.status_code == 201, r.text
        agent_id: str = r.json()["agent"]["id"]
        return agent_id

    def ports_of(self, server_id: str) -> list[dict[str, Any]]:
        r = self.c.get(N + f"/ports?device_id={server_id}", headers=self.admin)
        assert r.status_code == 200, r.text
        ports: list[dict[str, Any]] = r.json()["ports"]
        return ports

    def activate(self, server_id: str) -> None:
        """What a host agent does once it has wired the server's ports."""
        ids = [p["id"] for p in self.ports_of(server_id)]
        r = self.c.post("/internal/v1/ports/status", headers=self.admin, json={"active": ids})
        assert r.status_code == 200, r.text


@pytest.fixture
def cloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    # the stand-in hosts register once and never beat again: alive for the
    # whole test however slow the machine (test_scheduler kills one explicitly)
    settings = Settings(state_dir=tmp_path / "state", database_url=db_url, agent_down_time=3600)
    runtime = Runtime.open(settings)
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    with TestClient(create_app(runtime)) as client:
        yield Cloud(client, runtime, password)
    runtime.close()
