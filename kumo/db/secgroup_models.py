"""Security group rows: groups, their rules, each project's default group,
and the port bindings (which ports are in which groups)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "security_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)


class DefaultSecurityGroup(Base):
    """The primary key on ``project_id`` is what keeps a project from ever
    getting two default groups: a racing creator fails and retries."""

    __tablename__ = "default_security_groups"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("security_groups.id", ondelete="CASCADE"), unique=True
    )


class SecurityGroupRule(StandardAttrs, Base):
    """``protocol`` stored normalised (lower-case name or decimal string, NULL
    for any); ``remote_ip_prefix`` as given, with its prefix length (a host's
    bits kept: ``10.0.0.34/24``), or NULL; its network is ``normalized_cidr``."""

    __tablename__ = "security_group_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    security_group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("security_groups.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str | None] = mapped_column(String(32), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("security_groups.id", ondelete="CASCADE"), nullable=True, index=True
    )
    remote_address_group_id: Mapped[str | None] = mapped_column(
        String(36), nullable=True, index=True
    )


class PortSecurityGroup(Base):
    """A port's membership of a group; the key leads with the port, the
    second index with the group (for "which ports are in group G")."""

    __tablename__ = "port_security_groups"
    port_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    security_group_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("security_groups.id"), primary_key=True, index=True
    )


class DefaultSecurityGroupRule(Base):
    """A template for the rules every new security group starts with
    (``used_in_default_sg``: each project's default group;
    ``used_in_non_default_sg``: the groups projects create). A
    ``remote_group_id`` of ``PARENT`` stands for the new group itself."""

    __tablename__ = "default_security_group_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    description: Mapped[str] = mapped_column(String(255), default="")
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8))
    protocol: Mapped[str | None] = mapped_column(String(32), nullable=True)
    port_range_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    port_range_max: Mapped[int | None] = mapped_column(Integer, nullable=True)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remote_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    remote_address_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    used_in_default_sg: Mapped[bool] = mapped_column(Boolean, default=False)
    used_in_non_default_sg: Mapped[bool] = mapped_column(Boolean, default=True)
