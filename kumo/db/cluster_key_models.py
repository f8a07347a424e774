"""The cluster key: the one secret agents seal their underlay messages with
(``kumo.ha.seal``). One row, made the first time an agent asks for it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, utcnow


class ClusterKey(Base):
    __tablename__ = "cluster_keys"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    """What the key is for (``underlay``)."""
    secret: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
