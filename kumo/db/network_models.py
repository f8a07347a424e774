"""Networking rows: networks, segments, subnets, ports, IP allocations, tags, quotas."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kumo.db.base import Base, StandardAttrs, new_uuid
from kumo.db.secgroup_models import PortSecurityGroup


class Network(StandardAttrs, Base):
    __tablename__ = "networks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1450)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str] = mapped_column(String(16), default="vxlan")
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    availability_zone_hints: Mapped[list] = mapped_column(default=list)
    dns_domain: Mapped[str] = mapped_column(String(255), default="")
    dns_zone: Mapped[str] = mapped_column(String(255), default="")
    """``dns_domain`` with its keywords replaced for the request that set it
    (the domain the hosts' resolvers and DHCP use)."""
    qos_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """The QoS policy of the network's ports that name none themselves."""

    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network", order_by="Subnet.created_at", lazy="select"
    )


class NetworkSegment(StandardAttrs, Base):
    """One L2 segment of a network (Neutron's ``segment``). Every network has
    its first segment (``segment_index`` 0, the provider attributes of the
    network row); a routed provider network has more, each a separate L2
    domain with its own subnets."""

    __tablename__ = "network_segments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    network_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("networks.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    network_type: Mapped[str] = mapped_column(String(16))
    physical_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segmentation_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    segment_index: Mapped[int] = mapped_column(Integer, default=0)


class SegmentAllocation(Base):
    """One row per segment in use, so two networks can never share a
    VNI, a VLAN on a physical network, or a flat physical network."""

    __tablename__ = "segment_allocations"
    __table_args__ = (UniqueConstraint("network_type", "physical_network", "segmentation_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    network_type: Mapped[str] = mapped_column(String(16))
    physical_network: Mapped[str] = mapped_column(String(64), default="")
    segmentation_id: Mapped[int] = mapped_column(Integer, default=0)
    network_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("networks.id", ondelete="CASCADE"), index=True
    )
    segment_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class Subnet(StandardAttrs, Base):
    __tablename__ = "subnets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    network_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("networks.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    allocation_pools: Mapped[list] = mapped_column(default=list)
    dns_nameservers: Mapped[list] = mapped_column(default=list)
    host_routes: Mapped[list] = mapped_column(default=list)
    subnetpool_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    segment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    dns_publish_fixed_ip: Mapped[bool] = mapped_column(Boolean, default=False)
    service_types: Mapped[list] = mapped_column(default=list)
    """The device owners whose ports take addresses here; empty: any (subnet-service-types)."""

    network: Mapped[Network] = relationship(back_populates="subnets", lazy="raise")


class Port(StandardAttrs, Base):
    __tablename__ = "ports"
    __table_args__ = (
        UniqueConstraint("network_id", "mac_address"),
        Index("ix_ports_device", "device_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    network_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("networks.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(String(255), default="")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    host: Mapped[str] = mapped_column(String(255), default="", index=True)
    vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    profile: Mapped[dict] = mapped_column(default=dict)
    vif_details: Mapped[dict] = mapped_column(default=dict)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_address_pairs: Mapped[list] = mapped_column(default=list)
    extra_dhcp_opts: Mapped[list] = mapped_column(default=list)
    dns_name: Mapped[str] = mapped_column(String(255), default="")
    dns_domain: Mapped[str] = mapped_column(String(255), default="")
    """dns-domain-ports: the domain an external DNS service would publish the
    port under (kept and shown; no external DNS service is told)."""
    qos_policy_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """The port's own QoS policy; it wins over its network's."""
    ip_allocation: Mapped[str] = mapped_column(String(16), default="immediate")
    """``immediate``; ``deferred`` (a port on a routed network made without a
    host gets its addresses when bound); ``none`` (made with no fixed IPs)."""
    numa_affinity_policy: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """port-numa-affinity-policy: kept and shown for a compute scheduler."""
    device_profile: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """port-device-profile: kept and shown for a compute scheduler."""

    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        back_populates="port",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="IPAllocation.id",
    )
    security_group_bindings: Mapped[list[PortSecurityGroup]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by=PortSecurityGroup.security_group_id,
    )

    @property
    def security_group_ids(self) -> list[str]:
        """The port's groups, sorted by id (the binding table's order)."""
        return [b.security_group_id for b in self.security_group_bindings]


class IPAllocation(Base):
    """The unique (subnet_id, ip_address) key is what makes concurrent
    allocations safe: a racing insert fails and the allocator retries."""

    __tablename__ = "ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("ports.id", ondelete="CASCADE"), index=True
    )
    subnet_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("subnets.id", ondelete="CASCADE"), index=True
    )
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))

    port: Mapped[Port] = relationship(back_populates="fixed_ips", lazy="raise")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("resource_id", "tag"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(36), index=True)
    tag: Mapped[str] = mapped_column(String(255))


class Quota(Base):
    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(64))
    limit: Mapped[int] = mapped_column(Integer)


class AutoAllocatedTopology(Base):
    """A project's auto-allocated network and router ("get me a network"):
    at most one per project, the primary key makes sure of it."""

    __tablename__ = "auto_allocated_topologies"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(36))
    router_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
