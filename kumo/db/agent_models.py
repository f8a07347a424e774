"""Host agents: one row per (host, binary), kept fresh by heartbeats; the
host each agent credential speaks for."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_uuid, utcnow


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("host", "binary"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255), default="kumo-agent")
    agent_type: Mapped[str] = mapped_column(String(255), default="kumo agent")
    topic: Mapped[str] = mapped_column(String(255), default="kumo")
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    configurations: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_timestamp: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AgentCredential(Base):
    """The host an agent's user speaks for, recorded when the host is enrolled
    (``kumo agent enroll``): the internal API reads the caller's host here,
    never from the request."""

    __tablename__ = "agent_credentials"
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
