"""Floating IP port forwarding rows: a protocol and external port of a
floating IP sent on to an internal port's address and port."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class PortForwarding(StandardAttrs, Base):
    """One external port per floating IP and protocol, one internal socket
    (port, address, port number) per protocol: both unique. A forwarding of
    a port range (``floating-ip-port-forwarding-port-ranges``) holds its
    first ports in ``internal_port``/``external_port`` and its last ones in
    ``*_port_end`` (equal for a single port); overlapping ranges are refused
    by the service."""

    __tablename__ = "port_forwardings"
    __table_args__ = (
        UniqueConstraint("floatingip_id", "protocol", "external_port"),
        UniqueConstraint("internal_port_id", "internal_ip_address", "protocol", "internal_port"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    floatingip_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("floating_ips.id", ondelete="CASCADE"), index=True
    )
    internal_port_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="CASCADE"), index=True
    )
    internal_ip_address: Mapped[str] = mapped_column(String(64))
    protocol: Mapped[str] = mapped_column(String(8))
    internal_port: Mapped[int] = mapped_column(Integer)
    external_port: Mapped[int] = mapped_column(Integer)
    internal_port_end: Mapped[int] = mapped_column(Integer)
    external_port_end: Mapped[int] = mapped_column(Integer)
