"""Wake the outbox tailer on PostgreSQL's NOTIFY instead of polling.

Every write transaction on PostgreSQL that appends to the outbox also sends
``NOTIFY kumo_outbox`` (delivered when it commits, collapsed within one
transaction), so every API server learns of writes made through the others
at once. A tailer that listens polls only as a safety net; while the
listening connection is down (the database restarting), it polls as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

CHANNEL = "kumo_outbox"

log = logging.getLogger(__name__)


def conninfo(database_url: str) -> str:
    """The libpq connection string of an SQLAlchemy PostgreSQL URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class OutboxListener:
    """A thread that holds one connection listening on ``CHANNEL`` and calls
    ``wake`` for each notification (and once after each (re)connection:
    whatever committed while it was not listening)."""

    def __init__(self, database_url: str, wake: Callable[[], None]) -> None:
        self._conninfo = conninfo(database_url)
        self._wake = wake
        self._stop = threading.Event()
        self.listening = threading.Event()
        """Set while notifications arrive: the tailer may poll rarely."""
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="outbox-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.5
        down = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = 0.5
                    if down:
                        log.warning("outbox listener: listening again")
                        down = False
                    self._wake()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake()
            except (psycopg.Error, OSError) as exc:
                if self._stop.is_set():
                    break
                # Said once per outage: a database gone for an hour is one line.
                if not down:
                    log.warning("outbox listener: %s; polling until it is back", exc)
                    down = True
                else:
                    log.debug("outbox listener: still down: %s", exc)
            self.listening.clear()
            self._stop.wait(delay)
            delay = min(delay * 2, 10.0)
        self.listening.clear()
