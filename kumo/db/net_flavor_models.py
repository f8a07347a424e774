"""Networking flavor rows (``flavors``): flavors of an advanced service and the
service profiles (driver, meta information) bound to them. A router names
its flavor in ``flavor_id`` (``l3-flavors``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_uuid, utcnow


class NetworkFlavor(Base):
    __tablename__ = "network_flavors"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(1024), default="")
    service_type: Mapped[str] = mapped_column(String(36))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ServiceProfile(Base):
    __tablename__ = "service_profiles"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    description: Mapped[str] = mapped_column(String(1024), default="")
    driver: Mapped[str] = mapped_column(String(1024), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    metainfo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class FlavorServiceProfile(Base):
    """A service profile bound to a flavor (the first by ``position`` serves it)."""

    __tablename__ = "flavor_service_profiles"
    flavor_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("network_flavors.id", ondelete="CASCADE"), primary_key=True
    )
    service_profile_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("service_profiles.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    """Binding order within the flavor (timestamps can tie)."""
