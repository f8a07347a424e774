"""QoS rows: policies and their rules (bandwidth and packet rate limits per
direction, DSCP marks). A port or network names its policy in ``qos_policy_id``."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class QosPolicy(StandardAttrs, Base):
    __tablename__ = "qos_policies"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    """Kept equal to the policy's wildcard ``access_as_shared`` RBAC entry."""
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    """The project's default policy (at most one): new networks of the
    project that name none get it."""


class QosRule(Base):
    """One rule of a policy: ``rule_type`` ``bandwidth_limit`` (with
    ``direction``, ``max_kbps``, ``max_burst_kbps``), ``packet_rate_limit``
    (``direction``, ``max_kpps``, ``max_burst_kpps``), ``minimum_bandwidth``
    (``direction``, ``min_kbps``), ``minimum_packet_rate`` (``direction``,
    ``min_kpps``) or ``dscp_marking``
    (``dscp_mark``); at most one of each type and direction per policy."""

    __tablename__ = "qos_rules"
    __table_args__ = (UniqueConstraint("policy_id", "rule_type", "direction"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    policy_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("qos_policies.id", ondelete="CASCADE"), index=True
    )
    rule_type: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16), default="")
    """``egress`` or ``ingress`` for bandwidth and packet rate limits; empty
    for DSCP marks."""
    max_kbps: Mapped[int] = mapped_column(Integer, default=0)
    max_burst_kbps: Mapped[int] = mapped_column(Integer, default=0)
    dscp_mark: Mapped[int] = mapped_column(Integer, default=0)
    min_kbps: Mapped[int] = mapped_column(Integer, default=0)
    """Minimum bandwidth rules: the bandwidth a port is guaranteed (scheduling)."""
    max_kpps: Mapped[int] = mapped_column(Integer, default=0)
    """Packet rate limits: thousands of packets per second."""
    max_burst_kpps: Mapped[int] = mapped_column(Integer, default=0)
    min_kpps: Mapped[int] = mapped_column(Integer, default=0)
    """Minimum packet rate rules (``direction`` egress, ingress or any): the
    packet rate a port is guaranteed (scheduling)."""
