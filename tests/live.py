"""Fixture plugin: a live ``kumo serve`` subprocess per module, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from kumo.identity.authbody import password_auth

PG_URL = os.environ.get("KUMO_TEST_PG_URL", "")
KUMO = str(Path(sys.executable).parent / "kumo")


@dataclass
class LiveServer:
    base: str
    state_dir: Path
    clouds_yaml: Path
    admin_password: str
    database_url: str

    def token(self, project: str = "admin") -> str:
        body = password_auth("admin", self.admin_password, project_name=project)
        r = httpx.post(f"{self.base}/identity/v3/auth/tokens", json=body, timeout=30)
        r.raise_for_status()
        return r.headers["X-Subject-Token"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(OS_CLIENT_CONFIG_FILE=str(self.clouds_yaml), OS_CLOUD="kumo")
        for key in list(env):
            if key.startswith("OS_") and key not in ("OS_CLIENT_CONFIG_FILE", "OS_CLOUD"):
                del env[key]
        return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    state = tmp_path_factory.mktemp("serve")
    port = _free_port()
    cmd = [KUMO, "serve", "--state-dir", str(state), "--port", str(port)]
    dbname = None
    database_url = f"sqlite:///{state / 'kumo.db'}"
    if request.param == "postgresql":
        if not PG_URL:
            if os.environ.get("CI"):
                pytest.fail("KUMO_TEST_PG_URL is not set in CI")
            pytest.skip("KUMO_TEST_PG_URL not set")
        dbname = f"kumo_e2e_{uuid.uuid4().hex[:8]}"
        eng = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
        eng.dispose()
        database_url = PG_URL.rsplit("/", 1)[0] + "/" + dbname
        cmd += ["--database-url", database_url]
    log = open(state / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (state / "server.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "kumo serve did not come up"
            time.sleep(0.1)
        clouds = state / "clouds.yaml"
        password = yaml.safe_load(clouds.read_text())["clouds"]["kumo"]["auth"]["password"]
        yield LiveServer(
            base=base,
            state_dir=state,
            clouds_yaml=clouds,
            admin_password=password,
            database_url=database_url,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if dbname:
            eng = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with eng.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
            eng.dispose()
