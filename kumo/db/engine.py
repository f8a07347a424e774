"""Engines and sessions for SQLite (embedded, WAL) and PostgreSQL.

SQLite serialises writers; a write transaction starts with ``BEGIN
IMMEDIATE`` so two writers never deadlock upgrading a read lock. PostgreSQL
runs at READ COMMITTED and the service layer locks rows it updates.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(
                url,
                echo=echo,
                poolclass=QueuePool,
                pool_size=8,
                max_overflow=24,
                connect_args={"check_same_thread": False, "timeout": 60, "isolation_level": None},
            )
            _install_sqlite_hooks(self.engine)
        else:
            self.engine = create_engine(
                url, echo=echo, pool_size=8, max_overflow=24, pool_pre_ping=True
            )
        self._write_engine = self.engine.execution_options(kumo_write=True)
        # SQLite has one writer at a time; threads of this process queue here
        # instead of in SQLite's busy handler, which sleeps in coarse steps.
        self.write_lock: threading.Lock | None = threading.Lock() if self.is_sqlite else None
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._writer = sessionmaker(bind=self._write_engine, expire_on_commit=False)

    def read_session(self) -> Session:
        return self._reader()

    def write_session(self) -> Session:
        return self._writer()

    def dispose(self) -> None:
        self.engine.dispose()


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("kumo_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
