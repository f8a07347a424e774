"""Neutron JSON shapes (the admin view) of networks, subnets and ports.

These dicts are what the API renders, after ``policy.redact`` removes what
the caller may not see, and what the outbox carries to agents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.network_models import Network, Port, Subnet
from kumo.network import dns


def ts(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _std(obj: Network | Subnet | Port, tags: list[str]) -> dict[str, Any]:
    return {
        "description": obj.description,
        "tags": tags,
        "created_at": ts(obj.created_at),
        "updated_at": ts(obj.updated_at),
        "revision_number": obj.revision_number,
    }


PROVIDER_KEYS = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


def network_view(
    net: Network,
    subnet_ids: list[str],
    tags: list[str],
    scopes: dict[int, str] | None = None,
    zones: list[str] | None = None,
    *,
    routed: bool = False,
    segments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``scopes``: the address scope of the network's subnets per IP version;
    ``zones``: the availability zones of the hosts it has ports on; ``routed``:
    its subnets are associated with segments (not one L2 domain); ``segments``:
    its provider segments when it has several (``multi-provider``: they replace
    the ``provider:*`` attributes)."""
    scopes = scopes or {}
    view = {
        "id": net.id,
        "name": net.name,
        "tenant_id": net.project_id,
        "project_id": net.project_id,
        "admin_state_up": net.admin_state_up,
        "status": net.status,
        "shared": net.shared,
        "router:external": net.external,
        "mtu": net.mtu,
        "port_security_enabled": net.port_security_enabled,
        "subnets": subnet_ids,
        "availability_zone_hints": list(net.availability_zone_hints or []),
        "availability_zones": list(zones or []),
        "ipv4_address_scope": scopes.get(4),
        "ipv6_address_scope": scopes.get(6),
        "is_default": net.is_default,
        "l2_adjacency": not routed,
        "dns_domain": net.dns_domain,
        "qos_policy_id": net.qos_policy_id,
        "provider:network_type": net.network_type,
        "provider:physical_network": net.physical_network,
        "provider:segmentation_id": net.segmentation_id,
        **_std(net, tags),
    }
    if segments and len(segments) > 1:
        for key in PROVIDER_KEYS:
            del view[key]
        view["segments"] = [dict(seg) for seg in segments]
    return view


def external_networks(session: Session, network_ids: Iterable[str]) -> set[str]:
    """Which of these networks are external: a subnet shows its network's
    ``router:external`` (subnet-external-network)."""
    ids = set(network_ids)
    if not ids:
        return set()
    query = select(Network.id).where(Network.id.in_(ids), Network.external.is_(True))
    return set(session.scalars(query))


def subnet_view(sub: Subnet, tags: list[str], *, external: bool = False) -> dict[str, Any]:
    return {
        "id": sub.id,
        "name": sub.name,
        "tenant_id": sub.project_id,
        "project_id": sub.project_id,
        "network_id": sub.network_id,
        "ip_version": sub.ip_version,
        "cidr": sub.cidr,
        "gateway_ip": sub.gateway_ip,
        "enable_dhcp": sub.enable_dhcp,
        "ipv6_ra_mode": sub.ipv6_ra_mode,
        "ipv6_address_mode": sub.ipv6_address_mode,
        "allocation_pools": [dict(p) for p in sub.allocation_pools or []],
        "dns_nameservers": list(sub.dns_nameservers or []),
        "host_routes": [dict(r) for r in sub.host_routes or []],
        "subnetpool_id": sub.subnetpool_id,
        "segment_id": sub.segment_id,
        "service_types": list(sub.service_types or []),
        "dns_publish_fixed_ip": sub.dns_publish_fixed_ip,
        "router:external": external,
        **_std(sub, tags),
    }


def port_view(
    port: Any,
    tags: list[str],
    fixed_ips: list[dict[str, str]] | None = None,
    security_groups: list[str] | None = None,
) -> dict[str, Any]:
    """``port`` is a Port or a Core row with the same column names; for rows,
    ``fixed_ips`` carries the port's allocations (already rendered) and
    ``security_groups`` its group ids (sorted, as the binding table keeps them)."""
    if fixed_ips is None:
        fixed_ips = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips]
    if security_groups is None:
        security_groups = list(port.security_group_ids)
    return {
        "id": port.id,
        "name": port.name,
        "tenant_id": port.project_id,
        "project_id": port.project_id,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": fixed_ips,
        "allowed_address_pairs": [dict(p) for p in port.allowed_address_pairs or []],
        "extra_dhcp_opts": [dict(o) for o in port.extra_dhcp_opts or []],
        "security_groups": security_groups,
        "port_security_enabled": port.port_security_enabled,
        "dns_name": port.dns_name,
        "dns_assignment": dns.assignment(port.dns_name or "", fixed_ips),
        "dns_domain": port.dns_domain or "",
        "qos_policy_id": port.qos_policy_id,
        "ip_allocation": port.ip_allocation or "immediate",
        "numa_affinity_policy": port.numa_affinity_policy,
        "device_profile": port.device_profile,
        "binding:host_id": port.host,
        "binding:vif_type": port.vif_type,
        "binding:vnic_type": port.vnic_type,
        "binding:profile": dict(port.profile or {}),
        "binding:vif_details": dict(port.vif_details or {}),
        **_std(port, tags),
    }


def _keys() -> dict[str, frozenset[str]]:
    """Attribute names of each collection, for filter and sort validation."""
    from types import SimpleNamespace

    blank = SimpleNamespace(
        created_at=None,
        updated_at=None,
        availability_zone_hints=[],
        allocation_pools=[],
        dns_nameservers=[],
        host_routes=[],
        fixed_ips=[],
        allowed_address_pairs=[],
        extra_dhcp_opts=[],
        security_group_ids=[],
        profile={},
        vif_details={},
    )

    def keys(fn: Any, *args: Any) -> frozenset[str]:
        class Blank(SimpleNamespace):
            def __getattr__(self, name: str) -> Any:
                return None

        return frozenset(fn(Blank(**vars(blank)), *args))

    return {
        "networks": keys(network_view, [], []),
        "subnets": keys(subnet_view, []),
        "ports": keys(port_view, []),
    }


ATTRIBUTES = _keys()
