"""L3 rows: routers, their ports, their gateway-agent bindings, and floating IPs.

A router's ports (interfaces, gateway, centralized SNAT) are ordinary
ports with one ``RouterPort`` row each: that row, never the port's own
``device_id``/``device_owner`` (which a port's owner may write), makes a
port part of a router. The gateway port is also named on the router, so
that the gateway can be found without a search.
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
    gw_qos_policy_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("qos_policies.id"), nullable=True, index=True
    )
    """The QoS policy of the gateway (``external_gateway_info.qos_policy_id``,
    ``qos-gateway-ip``); it goes with the gateway."""
    distributed: Mapped[bool] = mapped_column(Boolean, default=True)
    ha: Mapped[bool] = mapped_column(Boolean, default=False)
    distributed_snat: Mapped[bool] = mapped_column(Boolean, default=False)
    """Its instances' outbound traffic is translated on their own hosts, to
    port blocks leased to each host (``SnatLease``); gateways only forward
    the return traffic. Only for a distributed router that is not HA."""
    routes: Mapped[list] = mapped_column(default=list)
    """Extra routes: ``[{"destination": cidr, "nexthop": ip}]``, normalised."""
    availability_zone_hints: Mapped[list] = mapped_column(default=list)
    flavor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("network_flavors.id"), nullable=True, index=True
    )
    """The flavor it was made with (``l3-flavors``); fixed for its life."""


class RouterPort(Base):
    """A port that is part of a router, and as what (``port_type``: the
    device owner the router gave it, e.g. ``network:router_interface``).

    Written only by the router service (interfaces added and removed, the
    gateway set and cleared, SNAT ports made and dropped). A port belongs
    to at most one router; the row goes with its port or its router.
    """

    __tablename__ = "router_ports"
    port_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    router_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("routers.id", ondelete="CASCADE"), index=True
    )
    port_type: Mapped[str] = mapped_column(String(255))


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
    dns_name: Mapped[str] = mapped_column(String(255), default="")
    dns_domain: Mapped[str] = mapped_column(String(255), default="")
    forwarding_host: Mapped[str] = mapped_column(String(255), default="")
    """The host answering ARP for a floating IP with port forwardings: one
    of its internal ports' hosts with a live agent (``port_forwarding.answerer``)."""
    qos_policy_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("qos_policies.id"), nullable=True, index=True
    )
    """The floating IP's own QoS policy (``qos-fip``); without one it follows
    its external network's (``qos-fip-network-policy``)."""
