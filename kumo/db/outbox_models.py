"""The outbox: every committed change, in commit order, for the watch feed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, utcnow


class OutboxCounter(Base):
    """A single row (id=1). A writing transaction takes its revisions by
    incrementing it, which locks the row until commit: revisions therefore
    become visible in the order they were handed out."""

    __tablename__ = "outbox_counter"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class OutboxEvent(Base):
    __tablename__ = "outbox"
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    """Resource kind: ``network``, ``subnet``, ``port``, ..."""
    op: Mapped[str] = mapped_column(String(8))
    """``upsert`` or ``delete``."""
    object_id: Mapped[str] = mapped_column(String(64), index=True)
    topics: Mapped[list] = mapped_column()
    """Topics this event belongs to, e.g. ``["network:N", "host:H"]``."""
    body: Mapped[dict] = mapped_column()
    """The full object after the change (before it, for deletes)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    """When the change was appended (to the microsecond: the feed's lag is measured from it)."""
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    """The API request that made the change (``x-openstack-request-id``), for the agent's logs."""
