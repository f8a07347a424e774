"""All models, imported in one place so metadata is complete for Alembic."""

from kumo.db.address_group_models import AddressGroup
from kumo.db.agent_models import Agent
from kumo.db.base import Base
from kumo.db.cluster_key_models import ClusterKey
from kumo.db.compute_models import (
    ComputeQuota,
    ConsoleToken,
    Flavor,
    FlavorAccess,
    Image,
    ImageMember,
    KeyPair,
    Server,
    ServerGroup,
    ServerGroupMember,
    ServerInterface,
)
from kumo.db.identity_models import (
    Domain,
    Project,
    Revocation,
    Role,
    RoleAssignment,
    SigningKey,
    User,
)
from kumo.db.l3_models import FloatingIP, Router, RouterAgentBinding, RouterPort
from kumo.db.metering_models import MeteringCount, MeteringLabel, MeteringLabelRule
from kumo.db.net_flavor_models import FlavorServiceProfile, NetworkFlavor, ServiceProfile
from kumo.db.network_models import (
    IPAllocation,
    Network,
    NetworkSegment,
    Port,
    Quota,
    SegmentAllocation,
    Subnet,
    Tag,
)
from kumo.db.orchestration_models import Stack, StackDelegation, StackEvent, StackResource
from kumo.db.outbox_models import OutboxCounter, OutboxEvent
from kumo.db.port_forwarding_models import PortForwarding
from kumo.db.qos_models import QosPolicy, QosRule
from kumo.db.rbac_models import RbacPolicy
from kumo.db.secgroup_models import (
    DefaultSecurityGroup,
    DefaultSecurityGroupRule,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from kumo.db.seed_models import Seed
from kumo.db.snat_models import SnatLease
from kumo.db.subnetpool_models import AddressScope, SubnetPool
from kumo.db.trunk_models import SubPort, Trunk
from kumo.db.volume_models import (
    GroupSnapshot,
    GroupType,
    Snapshot,
    StorageHost,
    StoragePool,
    Volume,
    VolumeAttachment,
    VolumeGroup,
    VolumeImageUpload,
    VolumeMessage,
    VolumeQuota,
    VolumeQuotaClass,
    VolumeType,
    VolumeTypeAccess,
)

__all__ = [
    "FlavorServiceProfile",
    "NetworkFlavor",
    "ServiceProfile",
    "VolumeImageUpload",
    "SubPort",
    "Trunk",
    "MeteringCount",
    "MeteringLabel",
    "MeteringLabelRule",
    "PortForwarding",
    "QosPolicy",
    "QosRule",
    "AddressGroup",
    "AddressScope",
    "SubnetPool",
    "Agent",
    "Base",
    "ClusterKey",
    "RbacPolicy",
    "ComputeQuota",
    "ConsoleToken",
    "Flavor",
    "FlavorAccess",
    "Image",
    "ImageMember",
    "KeyPair",
    "Server",
    "ServerGroup",
    "ServerGroupMember",
    "ServerInterface",
    "DefaultSecurityGroup",
    "Domain",
    "FloatingIP",
    "IPAllocation",
    "Network",
    "OutboxCounter",
    "OutboxEvent",
    "Port",
    "PortSecurityGroup",
    "Project",
    "Quota",
    "Revocation",
    "Role",
    "Router",
    "RouterAgentBinding",
    "RouterPort",
    "RoleAssignment",
    "SecurityGroup",
    "SecurityGroupRule",
    "SnatLease",
    "SegmentAllocation",
    "NetworkSegment",
    "Stack",
    "StackDelegation",
    "StackEvent",
    "StackResource",
    "SigningKey",
    "Subnet",
    "Tag",
    "User",
    "GroupSnapshot",
    "GroupType",
    "Snapshot",
    "StorageHost",
    "StoragePool",
    "Volume",
    "VolumeAttachment",
    "VolumeGroup",
    "VolumeMessage",
    "VolumeQuota",
    "VolumeQuotaClass",
    "VolumeType",
    "VolumeTypeAccess",
    "DefaultSecurityGroupRule",
    "Seed",
]
