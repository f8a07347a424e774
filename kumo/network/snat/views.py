"""How a lease looks on the watch feed and in a router's admin view."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.snat_models import SnatLease

LEASES = "kumo_snat_leases"
"""The router attribute listing its leases (admins only in the API; the
watch feed's router bodies always carry it)."""
MODE = "kumo_distributed_snat"
"""The router attribute saying whether its SNAT is distributed."""


def lease_view(lease: SnatLease) -> dict[str, Any]:
    return {
        "id": lease.id,
        "router_id": lease.router_id,
        "host": lease.host,
        "external_ip": lease.external_ip,
        "port_range": f"{lease.port_min}:{lease.port_max}",
    }


def leases_by_router(session: Session, router_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each router's leases, by external address and first port (one query)."""
    if not router_ids:
        return {}
    q = (
        select(SnatLease)
        .where(SnatLease.router_id.in_(router_ids))
        .order_by(SnatLease.router_id, SnatLease.external_ip, SnatLease.port_min)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for lease in session.scalars(q):
        out.setdefault(lease.router_id, []).append(lease_view(lease))
    return out


def topics(lease: SnatLease) -> tuple[str, ...]:
    """Where a lease goes on the feed: its router's watchers (the hosts of
    the router's instances and its gateways) and its host."""
    return (f"router:{lease.router_id}", f"host:{lease.host}")
