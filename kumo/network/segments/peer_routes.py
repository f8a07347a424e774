"""Peer subnet host routes (``segments-peer-subnet-host-routes``).

On a routed provider network each segment is its own L2 domain, so an
instance reaches the subnets of the other segments through its own
subnet's gateway. Every subnet on a segment that has a gateway carries a
host route to each subnet of the same IP version on another segment of
its network, next hop its gateway; DHCP hands them to the instances
(classless static routes). Routes the user set stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from kumo.db.network_models import Subnet
from kumo.db.uow import UnitOfWork
from kumo.network import events
from kumo.network.core.networks import touch


def refresh(uow: UnitOfWork, network_id: str, gone: Iterable[str] = ()) -> None:
    """Bring the peer routes of ``network_id``'s subnets up to date; ``gone``:
    the CIDRs of subnets just removed (their routes go too)."""
    s = uow.session
    subs = list(
        s.scalars(
            select(Subnet)
            .where(Subnet.network_id == network_id)
            .order_by(Subnet.created_at, Subnet.id)
        )
    )
    stale_everywhere = set(gone)
    for sub in subs:
        if sub.segment_id is None or not sub.gateway_ip:
            continue
        peers = [
            p.cidr
            for p in subs
            if p.ip_version == sub.ip_version
            and p.segment_id is not None
            and p.segment_id != sub.segment_id
        ]
        stale = stale_everywhere | set(peers)
        kept = [
            dict(r)
            for r in sub.host_routes or []
            if not (r["nexthop"] == sub.gateway_ip and r["destination"] in stale)
        ]
        routes = kept + [{"destination": cidr, "nexthop": sub.gateway_ip} for cidr in peers]
        if routes != [dict(r) for r in sub.host_routes or []]:
            sub.host_routes = routes
            touch(sub)
            events.subnet(uow, sub)
