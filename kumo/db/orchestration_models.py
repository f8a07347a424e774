"""Orchestration rows: stacks, their resources and events, and delegations.

A stack row is the durable record of an operation in flight: its
``action``/``status``, and the engine holding it (``engine_id``) with the
time its lease ends (``lease_until``). An engine renews the lease while it
works; a stack IN_PROGRESS past its lease belongs to an engine that died
and is marked FAILED by the next engine that looks (``engine.reap``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_uuid, utcnow


class Stack(Base):
    __tablename__ = "orchestration_stacks"
    __table_args__ = (UniqueConstraint("project_id", "live_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), index=True)
    live_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """The name while the stack exists, NULL once deleted: names are unique among live stacks."""
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    """The creator, whose delegated rights every step uses."""
    username: Mapped[str] = mapped_column(String(255), default="")
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    parent_resource: Mapped[str | None] = mapped_column(String(255), nullable=True)
    action: Mapped[str] = mapped_column(String(32), default="CREATE")
    status: Mapped[str] = mapped_column(String(32), default="IN_PROGRESS")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    template: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The parameters as given (before defaults)."""
    previous: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """During an update: the template, files and parameters before it (for rollback)."""
    disable_rollback: Mapped[bool] = mapped_column(Boolean, default=True)
    timeout_mins: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    outputs_cache: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    engine_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class StackResource(Base):
    __tablename__ = "orchestration_resources"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    stack_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("orchestration_stacks.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(255))
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    """False for a resource being replaced (kept until its replacement is made)."""
    physical_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    action: Mapped[str] = mapped_column(String(32), default="INIT")
    status: Mapped[str] = mapped_column(String(32), default="COMPLETE")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The resolved properties it was made (or last updated) with."""
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the plugin keeps between steps (a random string, a handle's token hash...)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class StackEvent(Base):
    __tablename__ = "orchestration_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    stack_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("orchestration_stacks.id", ondelete="CASCADE"), index=True
    )
    resource_name: Mapped[str] = mapped_column(String(255))
    physical_id: Mapped[str] = mapped_column(String(255), default="")
    resource_type: Mapped[str] = mapped_column(String(255), default="")
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StackDelegation(Base):
    """What the creator of a (root) stack lent it: its roles on the project at
    creation. Deleted with the stack; the engine acts only with the roles the
    user still holds among these (``orchestration/delegation.py``)."""

    __tablename__ = "orchestration_delegations"
    stack_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("orchestration_stacks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SoftwareConfig(Base):
    """A software config (Heat's ``/software_configs``): what a server's agent runs.
    Immutable once made, as in Heat; ``config`` is text, or a map for a structured one."""

    __tablename__ = "orchestration_software_configs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    group: Mapped[str] = mapped_column(String(255), default="Heat::Ungrouped")
    config: Mapped[Any] = mapped_column(JSON, nullable=True)
    inputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    outputs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SoftwareDeployment(Base):
    """A config deployed to a server (Heat's ``/software_deployments``): the server's
    agent reads its deployments and reports status and outputs on the row."""

    __tablename__ = "orchestration_software_deployments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    config_id: Mapped[str] = mapped_column(String(36))
    server_id: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(255), default="INIT")
    status: Mapped[str] = mapped_column(String(255), default="COMPLETE")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    input_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
