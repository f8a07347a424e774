"""Fixtures for networking API tests: a cloud over HTTP with real tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from tests.apicloud import ApiCloud

N = "/networking/v2.0"


class Cloud(ApiCloud):
    def post(self, h: dict[str, str], path: str, body: Any, status: int = 201) -> Any:
        r = self.c.post(N + path, headers=h, json=body)
        assert r.status_code == status, r.text
        return r.json()


@contextmanager
def open_cloud(db_url: str, tmp_path: Path, **settings: Any) -> Iterator[Cloud]:
    """A cloud on ``db_url`` whose settings differ from the defaults by ``settings``."""
    runtime = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=db_url, **settings))
    password = runtime.identity.bootstrap()
    assert password
    with TestClient(create_app(runtime)) as client:
        yield Cloud(client, runtime, password)
    runtime.close()


@pytest.fixture
def cloud(db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    with open_cloud(db_url, tmp_path) as made:
        yield made
