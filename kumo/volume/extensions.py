"""``GET /v3/extensions``: the Cinder API extensions kumo's block storage API
has, by the names and aliases clients look for (``Hosts``, ``os-hosts``...).
kumo has no extension mechanism: this is a fixed list of what is built in."""

from __future__ import annotations

from typing import Any

UPDATED = "2026-12-07T00:00:00+00:00"

# (alias, name, what it adds)
BUILT_IN: tuple[tuple[str, str, str], ...] = (
    ("os-admin-actions", "AdminActions", "Reset status, force delete and force detach."),
    ("os-availability-zone", "AvailabilityZones", "The storage availability zones."),
    ("capabilities", "Capabilities", "A storage backend's capabilities."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
     "A snapshot's project and progress."),
    ("os-hosts", "Hosts", "Storage hosts and what each holds."),
    ("qos-specs", "Qos_specs_manage", "QoS specs and their volume type associations."),
    ("os-quota-class-sets", "QuotaClasses", "Default quotas."),
    ("os-quota-sets", "Quotas", "Per-project quotas."),
    ("scheduler-stats", "Scheduler_stats", "Pools with their capacity."),
    ("os-services", "Services", "Block storage services, enabled and disabled."),
    ("os-snapshot-actions", "SnapshotActions", "Snapshot status updates."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Volume type extra specs."),
    ("os-types-manage", "TypesManage", "Create, update and delete volume types."),
    ("os-used-limits", "UsedLimits", "Usage beside the limits."),
    ("os-volume-actions", "VolumeActions", "Volume actions (extend, upload to image...)."),
    ("os-volume-encryption-metadata", "VolumeEncryptionMetadata",
     "Encryption types of volume types."),
    ("os-vol-host-attr", "VolumeHostAttribute", "A volume's storage host."),
    ("os-vol-image-meta", "VolumeImageMetadata", "The image a volume was made from."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute", "A volume's migration status."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute", "A volume's project."),
    ("os-volume-transfer", "VolumeTransfer", "Volume transfers between projects."),
    ("os-volume-type-access", "VolumeTypeAccess", "Private volume types' access lists."),
)  # fmt: skip


def listing() -> list[dict[str, Any]]:
    return [
        {"alias": alias, "name": name, "description": text, "updated": UPDATED, "links": []}
        for alias, name, text in BUILT_IN
    ]
