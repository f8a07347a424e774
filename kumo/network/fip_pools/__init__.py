"""Floating IP pools (``floatingip-pools``): the IPv4 subnets of the
external networks a project may take floating IPs from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.network_models import Network, Subnet
from kumo.network import policy
from kumo.network.rbac import access
from kumo.network.service import NetworkService

ATTRIBUTES = frozenset(
    {"subnet_id", "subnet_name", "network_id", "cidr", "project_id", "tenant_id"}
)


def list_pools(svc: NetworkService, ctx: RequestContext) -> list[dict[str, Any]]:
    """One pool per IPv4 subnet of each external network the caller can see
    as external (``router:external`` with an ``access_as_external`` grant)."""
    with svc.db.read_session() as s:
        nets = list(s.scalars(select(Network).where(Network.external.is_(True))))
        flags = access.networks(s, ctx, [(n.id, n.shared, n.external) for n in nets])
        usable = {
            n.id: n
            for n in nets
            if policy.network_visible(ctx, n.project_id, flags[n.id].shared, flags[n.id].external)
        }
        if not usable:
            return []
        q = (
            select(Subnet)
            .where(Subnet.network_id.in_(list(usable)), Subnet.ip_version == 4)
            .order_by(Subnet.created_at, Subnet.id)
        )
        return [
            {
                "subnet_id": sub.id,
                "subnet_name": sub.name,
                "network_id": sub.network_id,
                "cidr": sub.cidr,
                "project_id": usable[sub.network_id].project_id,
                "tenant_id": usable[sub.network_id].project_id,
            }
            for sub in s.scalars(q)
        ]
