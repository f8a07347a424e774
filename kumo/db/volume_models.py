"""Block storage rows: volume types, volumes, snapshots, attachments, groups,
quotas, user messages, and the storage hosts with their pools.

A volume lives in one pool of one storage host (``storage_host``, ``pool``)
once the scheduler placed it; the storage agent of that host makes, grows,
copies and removes its file, and reports each result back. ``task`` says
what the agent has to do next when the status alone does not (the size an
``extending`` volume grows to, the source a ``creating`` volume copies).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_uuid, utcnow


class VolumeType(Base):
    __tablename__ = "volume_types"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict] = mapped_column(default=dict)
    qos_specs_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("volume_qos_specs.id"), nullable=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class QosSpecs(Base):
    """A named set of QoS limits (``specs``) for ``consumer`` (front-end, back-end
    or both), associated with volume types through ``VolumeType.qos_specs_id``."""

    __tablename__ = "volume_qos_specs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    consumer: Mapped[str] = mapped_column(String(32), default="back-end")
    specs: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeEncryptionType(Base):
    """How volumes of a type are to be encrypted (one row per type)."""

    __tablename__ = "volume_encryption_types"
    volume_type_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True
    )
    encryption_id: Mapped[str] = mapped_column(String(36), default=new_uuid)
    provider: Mapped[str] = mapped_column(String(255))
    cipher: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    control_location: Mapped[str] = mapped_column(String(32), default="front-end")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeTransfer(Base):
    """A volume offered to another project: accepted with the key shown once at create
    (only its salted hash is kept)."""

    __tablename__ = "volume_transfers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volumes.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_project_id: Mapped[str] = mapped_column(String(64), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(128))
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class VolumeTypeAccess(Base):
    __tablename__ = "volume_type_access"
    __table_args__ = (UniqueConstraint("volume_type_id", "project_id"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    volume_type_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volume_types.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64))


class Volume(Base):
    __tablename__ = "volumes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    """GiB."""
    status: Mapped[str] = mapped_column(String(32), default="creating")
    attach_status: Mapped[str] = mapped_column(String(32), default="detached")
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    volume_type_id: Mapped[str] = mapped_column(String(36), ForeignKey("volume_types.id"))
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_volid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    group_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("volume_groups.id"), nullable=True, index=True
    )
    storage_host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    pool: Mapped[str | None] = mapped_column(String(255), nullable=True)
    replica_host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    """Replicated volumes: the storage host holding the mirror (another host than
    ``storage_host``); after a failover, the host that was the primary."""
    replica_pool: Mapped[str | None] = mapped_column(String(255), nullable=True)
    replication_status: Mapped[str] = mapped_column(String(32), default="disabled")
    """``disabled`` (not replicated), ``enabling`` (mirror starting), ``enabled``
    (every write acknowledged on both hosts), ``error`` (mirror broken),
    ``failed-over`` (the replica became the primary)."""
    task: Mapped[dict] = mapped_column(default=dict)
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set by ``os-reset_status``: a status the agent acts on (``creating``,
    ``extending``, ``deleting``) is then an admin's statement, not work for the
    storage agent; cleared when an operation puts the volume in one again."""
    readonly: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    """Set by ``os-update_readonly_flag`` (None: never set); shown in ``metadata``."""
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict] = mapped_column("metadata", default=dict)
    image_metadata: Mapped[dict] = mapped_column(default=dict)
    """``volume_image_metadata``: the image a volume was made from (its id,
    name, formats, hashes and properties); empty for other volumes."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Snapshot(Base):
    __tablename__ = "volume_snapshots"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(String(36), ForeignKey("volumes.id"), index=True)
    volume_type_id: Mapped[str] = mapped_column(String(36))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), default="creating")
    progress: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """As ``os-update_snapshot_status`` last reported it (None: from the status)."""
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set by ``os-reset_status``: the status is an administrator's statement, not
    work for the storage agent; cleared when a delete starts."""
    storage_host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    pool: Mapped[str | None] = mapped_column(String(255), nullable=True)
    group_snapshot_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("group_snapshots.id"), nullable=True, index=True
    )
    meta: Mapped[dict] = mapped_column("metadata", default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeAttachment(Base):
    """An attachment of a volume to a server (the v3 attachments API's record)."""

    __tablename__ = "volume_attachments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    volume_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volumes.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    attached_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mountpoint: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attach_status: Mapped[str] = mapped_column(String(32), default="reserved")
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    connector: Mapped[dict] = mapped_column(default=dict)
    boot_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """0 for a server's root disk (a server booted from the volume), else None."""
    delete_on_termination: Mapped[bool] = mapped_column(Boolean, default=False)
    """The volume goes with its server (Nova's block device mapping flag)."""
    attached_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeImageUpload(Base):
    """A volume's data on its way into an image (``os-volume_upload_image``):
    the image its storage host uploads into and the rights the requester
    lent for that one upload (user, project, roles: like a Keystone trust
    limited to this image). Deleted when the upload ends."""

    __tablename__ = "volume_image_uploads"
    image_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    volume_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("volumes.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GroupType(Base):
    __tablename__ = "group_types"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    group_specs: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeGroup(Base):
    """A generic volume group (Cinder's ``groups``)."""

    __tablename__ = "volume_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    group_type_id: Mapped[str] = mapped_column(String(36), ForeignKey("group_types.id"))
    volume_type_ids: Mapped[list] = mapped_column(default=list)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    status: Mapped[str] = mapped_column(String(32), default="available")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GroupSnapshot(Base):
    __tablename__ = "group_snapshots"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[str] = mapped_column(String(36), ForeignKey("volume_groups.id"), index=True)
    group_type_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(32), default="creating")
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set by ``reset_status``: ``status`` is shown as the admin set it, not
    computed from the member snapshots; cleared when a delete starts."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class VolumeQuota(Base):
    """A project's own limit for one resource (``volumes``, ``gigabytes_TYPE``, ...)."""

    __tablename__ = "volume_quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    resource: Mapped[str] = mapped_column(String(300))
    limit: Mapped[int] = mapped_column(Integer)


class VolumeQuotaClass(Base):
    """A quota class's limit for one resource (the class ``default`` holds the defaults)."""

    __tablename__ = "volume_quota_classes"
    __table_args__ = (UniqueConstraint("class_name", "resource"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    class_name: Mapped[str] = mapped_column(String(255), index=True)
    resource: Mapped[str] = mapped_column(String(300))
    limit: Mapped[int] = mapped_column(Integer)


class VolumeMessage(Base):
    """A message for users about something that failed (Cinder's ``/messages``)."""

    __tablename__ = "volume_messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_uuid: Mapped[str] = mapped_column(String(36), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    message_level: Mapped[str] = mapped_column(String(16), default="ERROR")
    user_message: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class StorageHost(Base):
    """A storage host's agent: registered with its pools, kept fresh by heartbeats."""

    __tablename__ = "storage_hosts"
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    backend: Mapped[str] = mapped_column(String(255), default="file")
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    export_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Where its storage daemon serves attached volumes over NBD (its underlay address)."""
    export_port: Mapped[int] = mapped_column(Integer, default=10809)
    active_backend_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """Set by a failover: the backend now serving this host's replicated volumes."""
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StoragePool(Base):
    """A pool of a storage host: a directory of qcow2 files with a capacity."""

    __tablename__ = "storage_pools"
    __table_args__ = (UniqueConstraint("host", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(
        String(255), ForeignKey("storage_hosts.host", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    total_gb: Mapped[int] = mapped_column(Integer)
    free_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    """What the files of the pool leave of its capacity (the agent measures it)."""
    max_over_subscription_ratio: Mapped[float] = mapped_column(default=20.0)
    reserved_percentage: Mapped[int] = mapped_column(Integer, default=0)
    capabilities: Mapped[dict] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
