"""Segments: VXLAN VNIs from the configured range, flat and VLAN on physical networks.

A network that names no segment id gets one, as Neutron's ML2 type drivers
allocate it: a VNI from ``vni_min``-``vni_max``, a VLAN from the tenant
ranges of ``network_vlan_ranges`` (its physical network's, or any when it
names none). Ids named explicitly may lie outside those ranges.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.network_models import SegmentAllocation
from kumo.errors import Conflict, InvalidInput, ServiceUnavailable
from kumo.network import validate

TYPES = ("vxlan", "flat", "vlan", "local")


def choose(
    session: Session, settings: Settings, body: dict[str, Any]
) -> tuple[str, str | None, int | None]:
    """(network_type, physical_network, segmentation_id) for a new network."""
    ntype = body.get("provider:network_type")
    physnet = body.get("provider:physical_network")
    seg = body.get("provider:segmentation_id")
    if ntype is None:
        if physnet is not None or seg is not None:
            raise InvalidInput("provider:network_type required")
        ntype = settings.tenant_network_type
    if ntype not in TYPES:
        raise InvalidInput(f"network_type value '{ntype}' not supported")
    if seg is not None:
        seg = validate.integer(seg, "provider:segmentation_id")
    if ntype == "vxlan":
        if physnet is not None:
            raise InvalidInput("provider:physical_network specified for vxlan network")
        if seg is None:
            seg = _free_vni(session, settings)
        elif not 1 <= seg <= 16777215:
            raise InvalidInput(f"Invalid segmentation id {seg}")
        return ntype, None, seg
    if ntype == "local":
        return ntype, None, None
    label = "flat" if ntype == "flat" else "VLAN"
    if ntype == "vlan" and physnet is None:
        if seg is not None:
            raise InvalidInput(
                "segmentation_id requires physical_network for VLAN provider network"
            )
        return ntype, *_free_vlan(session, settings, None)
    if not isinstance(physnet, str) or not physnet:
        raise InvalidInput(f"physical_network required for {label} provider network")
    if physnet not in settings.physical_networks:
        raise InvalidInput(f"physical_network '{physnet}' unknown for {label} provider network")
    if ntype == "flat":
        if seg is not None:
            raise InvalidInput("segmentation_id prohibited for flat provider network")
        return ntype, physnet, None
    if seg is None:
        return ntype, *_free_vlan(session, settings, physnet)
    if not 1 <= seg <= 4094:
        raise InvalidInput("segmentation_id out of range (1 through 4094)")
    return ntype, physnet, seg


def _no_network_available() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Unable to create the network. No tenant network is available for allocation.",
        kind="NoNetworkAvailable",
    )


def _free_vlan(session: Session, settings: Settings, physnet: str | None) -> tuple[str, int]:
    """The first free (physical network, VLAN) of the tenant ranges, in their order."""
    _lock(session, 4242003)
    ranges = {
        p: spans
        for p, spans in settings.vlan_ranges.items()
        if p in settings.physical_networks and (physnet is None or p == physnet)
    }
    a = SegmentAllocation
    rows = session.execute(
        select(a.physical_network, a.segmentation_id).where(
            a.network_type == "vlan", a.physical_network.in_(list(ranges))
        )
    )
    used = {(name, vlan) for name, vlan in rows}
    for name, spans in ranges.items():
        for first, last in spans:
            for vlan in range(first, last + 1):
                if (name, vlan) not in used:
                    return name, vlan
    raise _no_network_available()


def _lock(session: Session, key: int) -> None:
    """Serialise allocations of one kind on PostgreSQL (SQLite writers are serial)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({key})"))


def _free_vni(session: Session, settings: Settings) -> int:
    _lock(session, 4242002)
    used = set(
        session.scalars(
            select(SegmentAllocation.segmentation_id).where(
                SegmentAllocation.network_type == "vxlan",
                SegmentAllocation.segmentation_id.between(settings.vni_min, settings.vni_max),
            )
        )
    )
    for vni in range(settings.vni_min, settings.vni_max + 1):
        if vni not in used:
            return vni
    raise _no_network_available()


def reserve(
    session: Session,
    network_id: str,
    ntype: str,
    physnet: str | None,
    seg: int | None,
    segment_id: str | None = None,
) -> None:
    if ntype == "local":
        return
    key_phys = physnet or ""
    key_seg = seg or 0
    taken = session.scalar(
        select(SegmentAllocation.network_id).where(
            SegmentAllocation.network_type == ntype,
            SegmentAllocation.physical_network == key_phys,
            SegmentAllocation.segmentation_id == key_seg,
        )
    )
    if taken:
        if ntype == "flat":
            raise Conflict(
                f"Unable to create the flat network. Physical network {physnet} is in use.",
                kind="FlatNetworkInUse",
            )
        if ntype == "vlan":
            raise Conflict(
                f"Unable to create the network. The VLAN {seg} on physical network "
                f"{physnet} is in use.",
                kind="VlanIdInUse",
            )
        raise Conflict(
            f"Unable to create the network. The tunnel ID {seg} is in use.",
            kind="TunnelIdInUse",
        )
    session.add(
        SegmentAllocation(
            network_type=ntype,
            physical_network=key_phys,
            segmentation_id=key_seg,
            network_id=network_id,
            segment_id=segment_id,
        )
    )
