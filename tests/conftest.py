"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL.

PostgreSQL tests use ``KUMO_TEST_PG_URL`` (an admin URL to a server that
may create databases; ``.ci/run`` starts a throwaway cluster and sets it).
Without it they are skipped locally, and fail in CI (``CI=true``), so a
missing server can never pass silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

# The machine's guest image (kumo image build) is no part of a test's cloud
# unless the test asks for it (the VM lab test does).
os.environ.setdefault("KUMO_GUEST_IMAGE", "")

from kumo.config import Settings  # noqa: E402
from kumo.db.engine import Database
from kumo.db.migrate import upgrade

PG_URL = os.environ.get("KUMO_TEST_PG_URL", "")
pytest_plugins = ["tests.live"]
_templates: dict[str, str] = {}


def _sqlite_template(tmp_factory: pytest.TempPathFactory) -> Path:
    if "sqlite" not in _templates:
        path = tmp_factory.mktemp("template") / "template.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db)
        db.dispose()
        _templates["sqlite"] = str(path)
    return Path(_templates["sqlite"])


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _pg_template() -> str:
    if "pg" not in _templates:
        name = f"kumo_tpl_{uuid.uuid4().hex[:8]}"
        eng = _pg_admin_engine()
        with eng.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        db = Database(PG_URL.rsplit("/", 1)[0] + "/" + name)
        upgrade(db)
        db.dispose()
        _templates["pg"] = name
    return _templates["pg"]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated, empty database; the test runs once per engine."""
    if request.param == "sqlite":
        path = tmp_path / "kumo.db"
        shutil.copy(_sqlite_template(tmp_path_factory), path)
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("KUMO_TEST_PG_URL is not set in CI")
        pytest.skip("KUMO_TEST_PG_URL not set")
    template = _pg_template()
    name = f"kumo_t_{uuid.uuid4().hex[:10]}"
    eng = _pg_admin_engine()
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only, for tests whose subject does not touch the engine."""
    path = tmp_path / "kumo.db"
    shutil.copy(_sqlite_template(tmp_path_factory), path)
    return f"sqlite:///{path}"


def make_settings(tmp_path: Path, url: str) -> Settings:
    return Settings(state_dir=tmp_path / "state", database_url=url)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "pg" in _templates and PG_URL:
        eng = _pg_admin_engine()
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{_templates["pg"]}" WITH (FORCE)'))
        eng.dispose()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests by module for ``pytest -n N --dist loadgroup``: a module
    runs whole on one worker, in order, so its module-scoped fixtures (a
    lab, a live server, a browser) are set up once and its tests may build
    on each other as they do without ``-n``. Root tests of different modules
    may run side by side: each owns its namespaces, prefixes and ports."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(config.rootpath))))
