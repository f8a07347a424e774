"""A runtime on a fresh database with a project member, for engine tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.identity.authbody import password_auth
from kumo.runtime import Runtime
from tests.conftest import make_settings


@dataclass
class Cloud:
    rt: Runtime
    ctx: RequestContext
    project_id: str
    endpoint: str = "http://kumo.test/orchestration/v1/"

    def wait(self, ident: str, timeout: float = 30) -> tuple[str, str]:
        """The stack's status once it is no longer IN_PROGRESS."""
        svc = self.rt.orchestration
        deadline = time.monotonic() + timeout
        while True:
            row = svc._find(self.project_id, ident, deleted=True)
            if row.status != "IN_PROGRESS":
                return f"{row.action}_{row.status}", row.status_reason
            assert time.monotonic() < deadline, f"stack still {row.action}_{row.status}"
            time.sleep(0.05)


def member_context(rt: Runtime, name: str) -> tuple[RequestContext, str]:
    ident = rt.identity
    project = ident.create_project({"name": name})
    user = ident.create_user({"name": name, "password": "pw-" + name})
    role = next(r for r in ident.list_rows("role") if r.name == "member")
    ident.grant(user.id, "project", project.id, role.id)
    token, _ = ident.authenticate(password_auth(name, "pw-" + name, project_name=name)["auth"])
    return ident.validate_token(token), project.id


@pytest.fixture
def cloud(tmp_path: Path, sqlite_url: str) -> Iterator[Cloud]:
    settings = make_settings(tmp_path, sqlite_url)
    rt = Runtime.open(Settings(**{**settings.__dict__, "stack_lease_seconds": 1.0}), migrate=False)
    rt.identity.bootstrap()
    rt.compute.bootstrap()
    rt.image.bootstrap()
    ctx, project = member_context(rt, "alice")
    rt.orchestration.engine.start()
    yield Cloud(rt, ctx, project, f"http://kumo.test/orchestration/v1/{project}")
    rt.orchestration.engine.halt()
    rt.orchestration.engine.wait_idle(10)
    rt.close()
