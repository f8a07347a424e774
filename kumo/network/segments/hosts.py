"""Which segment of a routed provider network a host is on, and what that
means for the addresses of the ports bound there.

A host serves the segments whose physical network its agent maps
(``bridge_mappings``, reported when the agent registers) and every tunnel
(VXLAN) or host-local segment. On a routed network (its subnets are on
segments) a port takes its addresses from the subnets of its host's
segment: a port made without a host and without fixed IPs waits for its
binding (``ip_allocation`` ``deferred``), and binding a port to a host
with no segment of the network, or to one whose segment does not hold its
addresses, is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.agent_models import Agent
from kumo.db.network_models import IPAllocation, NetworkSegment, Port, Subnet
from kumo.errors import Conflict
from kumo.network.core import ipam, service_types

ANY_HOST = ("vxlan", "local")
"""Segment types every host reaches (over the underlay, or on itself)."""


def physical_networks(session: Session, host: str) -> set[str]:
    """The physical networks ``host``'s agents map to a device."""
    out: set[str] = set()
    for config in session.scalars(select(Agent.configurations).where(Agent.host == host)):
        mappings = (config or {}).get("bridge_mappings") or {}
        if isinstance(mappings, dict):
            out.update(str(k) for k in mappings)
    return out


def host_segments(session: Session, network_id: str, host: str) -> list[str]:
    """The ids of the segments of ``network_id`` that ``host`` serves, in order."""
    mapped = physical_networks(session, host)
    q = select(NetworkSegment).where(NetworkSegment.network_id == network_id)
    return [
        seg.id
        for seg in session.scalars(q.order_by(NetworkSegment.segment_index))
        if seg.network_type in ANY_HOST or seg.physical_network in mapped
    ]


def is_routed(subnets: Sequence[object]) -> bool:
    return any(getattr(sub, "segment_id", None) for sub in subnets)


def subnets_for_host(
    session: Session, network_id: str, host: str, subnets: Sequence[ipam.SubnetFields]
) -> list[ipam.SubnetFields]:
    """The subnets of a routed network a port bound to ``host`` takes addresses from."""
    served = set(host_segments(session, network_id, host))
    found = [sub for sub in subnets if getattr(sub, "segment_id", None) in served]
    segments = {getattr(sub, "segment_id", None) for sub in found}
    if not found:
        raise Conflict(
            f"Host {host} is not connected to any segment of the routed provider network "
            f"'{network_id}'; it must be connected to one.",
            kind="HostNotConnectedToAnySegment",
        )
    if len(segments) > 1:
        raise Conflict(
            f"Host {host} is connected to several segments ({', '.join(sorted(map(str, segments)))}) "
            f"of the routed provider network '{network_id}'; it must be connected to one.",
            kind="HostConnectedToMultipleSegments",
        )
    return found


def check_fixed_ips(
    session: Session, network_id: str, host: str, port_id: str, subnet_ids: set[str]
) -> None:
    """A port's addresses work on ``host``: their subnets are on its segment."""
    if not subnet_ids:
        return
    subnets = list(session.scalars(select(Subnet).where(Subnet.network_id == network_id)))
    if not is_routed(subnets):
        return
    try:
        usable = {sub.id for sub in subnets_for_host(session, network_id, host, subnets)}
    except Conflict:
        usable = set()
    if not subnet_ids <= usable:
        raise Conflict(
            f"Host {host} is not connected to a segment where the fixed IPs of port {port_id} "
            "work on this routed provider network.",
            kind="HostNotCompatibleWithFixedIps",
        )


def bound(session: Session, port: Port) -> None:
    """After ``port`` is bound to its host: a deferred port without addresses
    gets them from its host's segment; a port with addresses is checked."""
    if not port.host:
        return
    have = {a.subnet_id for a in port.fixed_ips}
    if have:
        check_fixed_ips(session, port.network_id, port.host, port.id, have)
        return
    if port.ip_allocation != "deferred":
        return
    subnets = list(
        session.scalars(
            select(Subnet)
            .where(Subnet.network_id == port.network_id)
            .order_by(Subnet.created_at, Subnet.id)
        )
    )
    if not is_routed(subnets):
        return
    done: set[int] = set()
    here = subnets_for_host(session, port.network_id, port.host, subnets)
    for sub in service_types.candidates(here, port.device_owner):
        assert isinstance(sub, Subnet)
        if ipam.is_auto_address(sub):
            address = ipam.eui64(ipaddress.ip_network(sub.cidr), port.mac_address)
        elif sub.ip_version in done:
            continue
        else:
            address = ipam.next_free(session, sub)
            done.add(sub.ip_version)
        port.fixed_ips.append(
            IPAllocation(
                port_id=port.id, subnet_id=sub.id, network_id=port.network_id, ip_address=address
            )
        )
