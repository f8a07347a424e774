"""The id of the HTTP request being served, for whatever it causes.

The access-log middleware sets it for the request; the unit of work
stamps it on the outbox events it appends, so the agent that applies a
change can name the request that caused it. Handlers run in a thread
pool, which copies the context: the id follows them there.
"""

from __future__ import annotations

from contextvars import ContextVar

CURRENT: ContextVar[str | None] = ContextVar("kumo_request_id", default=None)


def current() -> str | None:
    return CURRENT.get()
