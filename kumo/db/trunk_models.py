"""Trunk rows: a parent port that carries other ports (subports) of any
network, each told apart on the parent by its VLAN id."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class Trunk(StandardAttrs, Base):
    """One trunk per parent port (``port_id`` unique); the parent cannot be
    deleted while the trunk exists."""

    __tablename__ = "trunks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    port_id: Mapped[str] = mapped_column(String(36), ForeignKey("ports.id"), unique=True)


class SubPort(Base):
    """A port carried by a trunk: at most one trunk per port, one port per
    (segmentation type, id) on a trunk."""

    __tablename__ = "trunk_subports"
    __table_args__ = (UniqueConstraint("trunk_id", "segmentation_type", "segmentation_id"),)
    port_id: Mapped[str] = mapped_column(String(36), ForeignKey("ports.id"), primary_key=True)
    trunk_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("trunks.id", ondelete="CASCADE"), index=True
    )
    segmentation_type: Mapped[str] = mapped_column(String(32))
    segmentation_id: Mapped[int] = mapped_column(Integer)
