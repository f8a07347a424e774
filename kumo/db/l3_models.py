"""L3 rows: routers, their gateway-agent bindings, and floating IPs.

A router's ports (interfaces, gateway, centralized SNAT) are ordinary
ports whose ``device_id`` is the router id; only the gateway port is
named here, so that the gateway can be found without a search.
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, StandardAttrs, new_uuid


class Router(StandardAttrs, Base):
    __tablename__ = "routers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="SET NULL"), nullable=True
    )
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    distributed: Mapped[bool] = mapped_column(Boolean, default=True)
    ha: Mapped[bool] = mapped_column(Boolean, default=False)
    routes: Mapped[list] = mapped_column(default=list)
    """Extra routes: ``[{"destination": cidr, "nexthop": ip}]``, normalised."""
    availability_zone_hints: Mapped[list] = mapped_column(default=list)


class RouterAgentBinding(Base):
    """Which gateway agents host a router (its gateway, SNAT and, for a
    centralized router, its interfaces): one row per (router, agent).

    A router that is not HA has one row; an HA router has one per agent it
    is scheduled to. ``priority`` orders them (lowest first: the preferred
    initial active). ``ha_state`` is what the agent last reported for an HA
    router (``active`` or ``standby``), null until it reports.
    """

    __tablename__ = "router_agent_bindings"
    router_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("routers.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=0)
    ha_state: Mapped[str | None] = mapped_column(String(16), nullable=True)


class FloatingIP(StandardAttrs, Base):
    """The unique key on (fixed port, fixed address, external network) keeps
    two floating IPs of one network from ever mapping to one fixed address."""

    __tablename__ = "floating_ips"
    __table_args__ = (UniqueConstraint("fixed_port_id", "fixed_ip_address", "floating_network_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    floating_network_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("networks.id"), index=True
    )
    floating_port_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="CASCADE"), unique=True
    )
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    fixed_port_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="SET NULL"), nullable=True, index=True
    )
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    router_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("routers.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
