"""Fixtures for the block storage API: a cloud over HTTP with real tokens.

Storage hosts register and report through the real internal API (with
the admin's token, which the internal API accepts for any host); the
root test in ``test_storage_agent.py`` runs a real storage agent instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from tests.apicloud import ApiCloud

V = "/volume/v3"
GiB = 1 << 30


def mv(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}"}


class VolumeCloud(ApiCloud):
    def register(self, host: str = "s1", pools: list[dict[str, Any]] | None = None,
                 zone: str = "nova", export_address: str | None = None) -> None:  # fmt: skip
        pools = pools or [{"name": "p1", "total_gb": 100, "free_bytes": 100 * GiB}]
        body: dict[str, Any] = {"host": host, "availability_zone": zone, "pools": pools}
        if export_address:
            body["export_address"] = export_address
        r = self.c.post(
            "/internal/v1/storage-hosts", headers=self.admin, json={"storage_host": body}
        )
        assert r.status_code == 200, r.text

    def report(
        self, volumes: list[tuple[str, str]] = (), snapshots: list[tuple[str, str]] = ()
    ) -> list[str]:  # type: ignore[assignment]
        body = {
            "volumes": [{"id": i, "status": s} for i, s in volumes],
            "snapshots": [{"id": i, "status": s} for i, s in snapshots],
        }
        r = self.c.post("/internal/v1/storage-reports", headers=self.admin, json=body)
        assert r.status_code == 200, r.text
        changed: list[str] = r.json()["changed"]
        return changed

    def req(self, method: str, path: str, h: dict[str, str], body: Any = None,
            version: str | None = None) -> httpx.Response:  # fmt: skip
        headers = {**h, **(mv(version) if version else {})}
        return self.c.request(method, V + path, headers=headers, json=body)

    def create(self, h: dict[str, str], status: int = 202, **body: Any) -> dict[str, Any]:
        body.setdefault("size", 1)
        r = self.req("POST", "/volumes", h, {"volume": body})
        assert r.status_code == status, r.text
        out: dict[str, Any] = r.json().get("volume", r.json())
        return out

    def show(self, h: dict[str, str], volume_id: str, version: str | None = None) -> dict[str, Any]:
        r = self.req("GET", f"/volumes/{volume_id}", h, version=version)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()["volume"]
        return out

    def available(self, h: dict[str, str], **body: Any) -> dict[str, Any]:
        """A volume the (simulated) agent has made."""
        v = self.create(h, **body)
        assert v["status"] == "creating", v
        assert self.report(volumes=[(v["id"], "available")]) == [v["id"]]
        return self.show(h, v["id"])

    def action(self, h: dict[str, str], volume_id: str, body: Any,
               version: str | None = None) -> httpx.Response:  # fmt: skip
        return self.req("POST", f"/volumes/{volume_id}/action", h, body, version)


@pytest.fixture
def volume_settings() -> dict[str, Any]:
    return {}


@pytest.fixture
def runtime(db_url: str, tmp_path: Path, volume_settings: dict[str, Any]) -> Iterator[Runtime]:
    settings = Settings(state_dir=tmp_path / "state", database_url=db_url, **volume_settings)
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture
def cloud(runtime: Runtime) -> Iterator[VolumeCloud]:
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    runtime.volume.bootstrap()
    with TestClient(create_app(runtime)) as client:
        yield VolumeCloud(client, runtime, password)
