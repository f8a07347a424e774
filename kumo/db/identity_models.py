"""Identity rows: domains, projects, users, roles, assignments, revocations, signing keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_hex_id, utcnow


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(default=dict)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), ForeignKey("domains.id"))
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list] = mapped_column(default=list)
    extra: Mapped[dict] = mapped_column(default=dict)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(String(64), ForeignKey("domains.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    extra: Mapped[dict] = mapped_column(default=dict)


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_hex_id)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict] = mapped_column(default=dict)


class RoleAssignment(Base):
    """``actor_type`` is ``user`` (groups are not implemented);
    ``target_type`` is ``project``, ``domain`` or ``system`` (target_id ``all``)."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        UniqueConstraint("actor_type", "actor_id", "target_type", "target_id", "role_id"),
        Index("ix_role_assignments_target", "target_type", "target_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    actor_type: Mapped[str] = mapped_column(String(16), default="user")
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[str] = mapped_column(String(64))
    role_id: Mapped[str] = mapped_column(String(64), ForeignKey("roles.id", ondelete="CASCADE"))
    inherited: Mapped[bool] = mapped_column(Boolean, default=False)


class Revocation(Base):
    """A token revocation event: a token matches when every non-null field
    matches and it was issued at or before ``issued_before``."""

    __tablename__ = "revocations"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issued_before: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SigningKey(Base):
    """One Fernet key of a purpose's key repository (``kumo/identity/keys.py``).

    As in Keystone's key repository, the serial says the state: 0 is the
    staged key, the highest serial the primary, anything between a
    secondary. A rotation renumbers the staged key past the primary, so the
    unique (purpose, serial) pair makes two rotations that race collide.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("purpose", "serial"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(32))
    serial: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    promoted_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    """When it became the primary key (None while staged)."""
