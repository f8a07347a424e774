"""What a subnet create asks of a subnet pool: the pool (named, or the
default pool of the IP version), then the subnet's prefix (the given CIDR
checked against the free space, or a free prefix of the asked length),
within the pool's prefix bounds and the project's share (``default_quota``).

The pool's row is locked first (``pools.load(lock=True)``; SQLite runs
writers one at a time), so two creates from one pool read the free space
one after the other and never take overlapping prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.network_models import Subnet
from kumo.db.subnetpool_models import SubnetPool
from kumo.errors import BadRequest, Conflict, InvalidInput, OverQuota
from kumo.network import validate
from kumo.network.subnetpools import pools
from kumo.network.subnetpools import prefixes as px


@dataclass(frozen=True)
class Allocation:
    pool: SubnetPool
    cidr: px.Net


def wants_pool(body: dict[str, Any]) -> bool:
    return body.get("subnetpool_id") is not None or (
        "use_default_subnetpool" in body and validate.boolean(body, "use_default_subnetpool")
    )


def default_pool(session: Session, version: int, *, lock: bool = False) -> SubnetPool | None:
    q = select(SubnetPool).where(SubnetPool.is_default.is_(True), SubnetPool.ip_version == version)
    if lock:
        q = q.with_for_update()
    return session.scalar(q)


def _pool(session: Session, ctx: RequestContext, body: dict[str, Any], version: int) -> SubnetPool:
    if body.get("subnetpool_id") is not None:
        if body.get("use_default_subnetpool"):
            raise BadRequest(
                "Bad subnets request: subnetpool_id and use_default_subnetpool cannot both be "
                "specified"
            )
        return pools.load(
            session, ctx, validate.uuid(body["subnetpool_id"], "subnetpool_id"), lock=True
        )
    pool = default_pool(session, version, lock=True)
    if pool is None:
        raise BadRequest(f"Bad subnets request: No default subnetpool found for IPv{version}")
    return pool


def subnet_prefix(
    session: Session, ctx: RequestContext, body: dict[str, Any], version: int, owner: str
) -> Allocation:
    pool = _pool(session, ctx, body, version)
    if pool.ip_version != version:
        raise BadRequest(
            f"Bad subnets request: Cannot allocate IPv{version} subnet from IPv{pool.ip_version} "
            "subnet pool"
        )
    taken = pools.used(session, pool.id)
    have = px.nets(pool.prefixes or [])
    if body.get("cidr") is not None:
        wanted = validate.cidr(body["cidr"])
        if wanted.version != version:
            raise InvalidInput("Cidr and ip_version are not compatible")
        _check_length(pool, wanted.prefixlen)
        if not px.within(have, taken, wanted):
            raise Conflict(
                "Failed to allocate subnet: Cannot allocate requested subnet from the available "
                "set of prefixes.",
                kind="SubnetAllocationError",
            )
        cidr = wanted
    else:
        length = pool.default_prefixlen
        if body.get("prefixlen") is not None:
            length = validate.integer(body["prefixlen"], "prefixlen")
        _check_length(pool, length)
        found = px.allocate(have, taken, length)
        if found is None:
            raise Conflict(
                f"Failed to allocate subnet: Insufficient prefix space to allocate subnet size "
                f"/{length}.",
                kind="SubnetAllocationError",
            )
        cidr = found
    _check_quota(session, pool, owner, cidr)
    return Allocation(pool, cidr)


def _check_length(pool: SubnetPool, length: int) -> None:
    if length > pool.max_prefixlen:
        raise BadRequest(
            f"Unable to allocate subnet with prefix length {length}, maximum allowed prefix is "
            f"{pool.max_prefixlen}.",
            kind="MaxPrefixSubnetAllocationError",
        )
    if length < pool.min_prefixlen:
        raise BadRequest(
            f"Unable to allocate subnet with prefix length {length}, minimum allowed prefix is "
            f"{pool.min_prefixlen}.",
            kind="MinPrefixSubnetAllocationError",
        )


def _check_quota(session: Session, pool: SubnetPool, owner: str, cidr: px.Net) -> None:
    """``default_quota``: the project's prefixes from the pool, counted in
    addresses (IPv4) or /64 networks (IPv6), stay within it."""
    if pool.default_quota is None:
        return
    mine = session.scalars(
        select(Subnet.cidr).where(Subnet.subnetpool_id == pool.id, Subnet.project_id == owner)
    )
    usage = sum(px.size(n) for n in px.nets(mine))
    if usage + px.size(cidr) > pool.default_quota:
        raise OverQuota(
            "Per-tenant subnet pool prefix quota exceeded.", kind="SubnetPoolQuotaExceeded"
        )


def scope_of_subnets(session: Session, network_ids: list[str]) -> dict[str, dict[int, str]]:
    """Network id -> IP version -> the address scope of its subnets' pool."""
    if not network_ids:
        return {}
    from kumo.db.subnetpool_models import SubnetPool as P

    q = (
        select(Subnet.network_id, Subnet.ip_version, func.min(P.address_scope_id))
        .join(P, P.id == Subnet.subnetpool_id)
        .where(P.address_scope_id.is_not(None))
        .group_by(Subnet.network_id, Subnet.ip_version)
    )
    if len(network_ids) < 500:
        q = q.where(Subnet.network_id.in_(network_ids))
    out: dict[str, dict[int, str]] = {}
    wanted = set(network_ids)
    for net_id, version, scope in session.execute(q):
        if scope is not None and net_id in wanted:
            out.setdefault(net_id, {})[int(version)] = str(scope)
    return out
