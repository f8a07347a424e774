"""Bring a database to the newest schema with Alembic (never create_all)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import insert, select, text

from kumo.db.engine import Database
from kumo.db.outbox_models import OutboxCounter

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database) -> None:
    """Upgrade to head. On PostgreSQL an advisory lock keeps several API
    servers that start at once from migrating the same database twice."""
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        if conn.execute(select(OutboxCounter.id)).first() is None:
            conn.execute(insert(OutboxCounter).values(id=1, value=0))


def head_revision() -> str | None:
    """The newest revision of the shipped migrations."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


_HEAD: list[str | None] = []


def readiness(db: Database) -> dict[str, dict[str, object]]:
    """Whether the database answers and holds the schema this code wants:
    ``{"database": {"ok": ...}, "migrations": {"ok": ..., "head": ..., "current": ...}}``."""
    if not _HEAD:
        _HEAD.append(head_revision())
    head = _HEAD[0]
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:  # noqa: BLE001 - no version table: never migrated
                current = None
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        message = str(exc).splitlines()[0][:200]
        return {
            "database": {"ok": False, "error": message},
            "migrations": {"ok": False, "head": head, "current": None},
        }
    return {
        "database": {"ok": True},
        "migrations": {"ok": current == head, "head": head, "current": current},
    }
