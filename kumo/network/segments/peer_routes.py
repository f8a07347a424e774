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


def refresh(
    uow: UnitOfWork,
    network_id: str,
    gone: Iterable[str] = (),
    old_gateways: dict[str, str | None] | None = None,
) -> None:
    """Bring the peer routes of ``network_id``'s subnets up to date; ``gone``:
    the CIDRs of subnets just removed (their routes go too); ``old_gateways``:
    the gateway a subnet had before an update (routes via it go)."""
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
        if sub.segment_id is None:
            continue
        if not sub.gateway_ip:
            before = (old_gateways or {}).get(sub.id)
            if before:
                _set(uow, sub, [dict(r) for r in sub.host_routes or [] if r["nexthop"] != before])
            continue
        peers = [
            p.cidr
            for p in subs
            if p.ip_version == sub.ip_version
            and p.segment_id is not None
            and p.segment_id != sub.segment_id
        ]
        stale = stale_everywhere | set(peers)
        hops = {sub.gateway_ip, (old_gateways or {}).get(sub.id) or sub.gateway_ip}
        kept = [
            dict(r)
            for r in sub.host_routes or []
            if not (r["nexthop"] in hops and r["destination"] in stale)
        ]
        _set(uow, sub, kept + [{"destination": cidr, "nexthop": sub.gateway_ip} for cidr in peers])


def _set(uow: UnitOfWork, sub: Subnet, routes: list[dict[str, str]]) -> None:
    if routes != [dict(r) for r in sub.host_routes or []]:
        sub.host_routes = routes
        touch(sub)
        events.subnet(uow, sub)
