"""Fixtures for the image API: a cloud over HTTP with real tokens and a real store."""

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

G = "/image/v2"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


class ImageCloud(ApiCloud):
    @property
    def store(self) -> Path:
        return self.rt.settings.images_path

    def create(self, h: dict[str, str], **body: Any) -> dict[str, Any]:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        r = self.c.post(f"{G}/images", headers=h, json=body)
        assert r.status_code == 201, r.text
        image: dict[str, Any] = r.json()
        return image

    def upload(self, h: dict[str, str], image_id: str, data: Any) -> httpx.Response:
        return self.c.put(
            f"{G}/images/{image_id}/file",
            headers={**h, "Content-Type": "application/octet-stream"},
            content=data,
        )

    def show(self, h: dict[str, str], image_id: str, status: int = 200) -> dict[str, Any]:
        r = self.c.get(f"{G}/images/{image_id}", headers=h)
        assert r.status_code == status, r.text
        image: dict[str, Any] = r.json()
        return image

    def names(self, h: dict[str, str], query: str = "") -> list[str]:
        r = self.c.get(f"{G}/images{query}", headers=h)
        assert r.status_code == 200, r.text
        return sorted(i["name"] for i in r.json()["images"])

    def patch(self, h: dict[str, str], image_id: str, ops: list[dict[str, Any]]) -> httpx.Response:
        return self.c.patch(f"{G}/images/{image_id}", headers={**h, **PATCH}, json=ops)

    def files(self) -> list[str]:
        """What the store directory holds (partial uploads included)."""
        return sorted(p.name for p in self.store.iterdir()) if self.store.exists() else []


@pytest.fixture
def image_settings() -> dict[str, Any]:
    """Settings the cloud is made with (a module overrides this fixture to change them)."""
    return {}


@pytest.fixture
def runtime(db_url: str, tmp_path: Path, image_settings: dict[str, Any]) -> Iterator[Runtime]:
    settings = Settings(state_dir=tmp_path / "state", database_url=db_url, **image_settings)
    rt = Runtime.open(settings)
    yield rt
    rt.close()


@pytest.fixture
def cloud(runtime: Runtime) -> Iterator[ImageCloud]:
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    with TestClient(create_app(runtime)) as client:
        yield ImageCloud(client, runtime, password)
