"""Subnet pools and address scopes: where subnets take their prefixes from,
and which prefixes are routed without translation between each other."""

from __future__ import annotations

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class AddressScope(StandardAttrs, Base):
    """A set of address spaces routed to each other without NAT; the subnet
    pools bound to one never hold overlapping prefixes."""

    __tablename__ = "address_scopes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    """Kept equal to the scope's wildcard ``access_as_shared`` RBAC entry."""


class SubnetPool(StandardAttrs, Base):
    """Prefixes subnets are carved from (``subnetpool_id`` on a subnet marks
    the subnets taken from it; those are what is not free)."""

    __tablename__ = "subnetpools"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    prefixes: Mapped[list] = mapped_column(default=list)
    """Normalised CIDRs, merged where adjacent, sorted."""
    default_prefixlen: Mapped[int] = mapped_column(Integer)
    min_prefixlen: Mapped[int] = mapped_column(Integer)
    max_prefixlen: Mapped[int] = mapped_column(Integer)
    default_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Addresses (IPv4) or /64 networks (IPv6) one project may take; None: no limit."""
    address_scope_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    """Kept equal to the pool's wildcard ``access_as_shared`` RBAC entry."""
