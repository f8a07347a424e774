"""Metering rows: labels, their rules, and the counts the agents report.

A label applies to every router of its project (a shared label: to every
router). Its rules pick the traffic crossing a router's external side
that the label counts (or, ``excluded``, does not count).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid, utcnow


class MeteringLabel(StandardAttrs, Base):
    __tablename__ = "metering_labels"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)


class MeteringLabelRule(Base):
    """``direction`` ``ingress`` (entering the router from its external
    side) or ``egress`` (leaving through it); either ``remote_ip_prefix``
    (the far end: the source of ingress, the destination of egress) or
    ``source_ip_prefix``/``destination_ip_prefix``."""

    __tablename__ = "metering_label_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    label_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("metering_labels.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(16))
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    destination_ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class MeteringCount(Base):
    """What one host counted for a label: ``bytes``/``packets`` as its
    agent last reported them, plus ``carried_*``, what earlier reports
    counted before the agent's totals started again from zero (a restart)."""

    __tablename__ = "metering_counts"
    label_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("metering_labels.id", ondelete="CASCADE"), primary_key=True
    )
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    packets: Mapped[int] = mapped_column(BigInteger, default=0)
    carried_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    carried_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
