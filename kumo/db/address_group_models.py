"""Address group rows: a named list of CIDRs a security-group rule can name
as its remote end (``remote_address_group_id``)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class AddressGroup(StandardAttrs, Base):
    __tablename__ = "address_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    addresses: Mapped[list] = mapped_column(default=list)
    """Normalised CIDRs (``10.0.0.1/32``), sorted, no repeats."""
