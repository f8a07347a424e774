"""Port-block leases of distributed SNAT.

A ``SnatLease`` gives one host a block of one external address's ports
(``port_min``..``port_max``, inclusive) for one router: the host translates
its own instances' outbound connections to that address and a port of the
block (TCP and UDP ports, ICMP echo identifiers: the same numbers), and
the gateways send the return traffic of that block to the host. A block
of an address is leased to at most one host at a time (the unique key).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_uuid, utcnow


class SnatLease(Base):
    __tablename__ = "snat_leases"
    __table_args__ = (UniqueConstraint("external_ip", "port_min"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    router_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("routers.id", ondelete="CASCADE"), index=True
    )
    host: Mapped[str] = mapped_column(String(255), index=True)
    external_ip: Mapped[str] = mapped_column(String(64))
    port_min: Mapped[int] = mapped_column(Integer)
    port_max: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
