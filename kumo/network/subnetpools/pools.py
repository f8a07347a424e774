"""Subnet pool rows: create, update, delete, prefix operations, onboarding."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.l3_models import Router, RouterPort
from kumo.db.network_models import Network, Port, Subnet
from kumo.db.subnetpool_models import SubnetPool
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InUse, InvalidInput, NotFound, shown
from kumo.network import events, policy, validate
from kumo.network.core.networks import touch
from kumo.network.quotas import check_quota
from kumo.network.rbac import access as rbac_access
from kumo.network.rbac import policies as rbac
from kumo.network.revision import check_revision
from kumo.network.subnetpools import prefixes as px
from kumo.policy import allowed, authorize

BOUNDS = ("min_prefixlen", "default_prefixlen", "max_prefixlen")
CREATE = {
    "name", "description", "prefixes", "default_quota", "address_scope_id", "is_default",
    "shared", "project_id", "tenant_id", *BOUNDS,
}  # fmt: skip
UPDATE = {"name", "description", "prefixes", "default_quota", "address_scope_id", "is_default",
          *BOUNDS}  # fmt: skip
READ_ONLY = {"id", "project_id", "tenant_id", "ip_version", "shared"}


def not_found(pool_id: str) -> NotFound:
    return NotFound(f"Subnet pool {pool_id} could not be found.", kind="SubnetPoolNotFound")


def view(
    pool: SubnetPool, tags: list[str] | None = None, shared_here: bool = False
) -> dict[str, Any]:
    return {
        "id": pool.id,
        "name": pool.name,
        "description": pool.description,
        "project_id": pool.project_id,
        "tenant_id": pool.project_id,
        "ip_version": pool.ip_version,
        "prefixes": list(pool.prefixes or []),
        # Neutron shows the prefix lengths as strings ("24"); they are
        # integers in requests and in the database
        "default_prefixlen": str(pool.default_prefixlen),
        "min_prefixlen": str(pool.min_prefixlen),
        "max_prefixlen": str(pool.max_prefixlen),
        "default_quota": pool.default_quota,
        "address_scope_id": pool.address_scope_id,
        "is_default": pool.is_default,
        "shared": bool(pool.shared or shared_here),
        "tags": list(tags or []),
        "revision_number": pool.revision_number,
        "created_at": _time(pool.created_at),
        "updated_at": _time(pool.updated_at),
    }


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


ATTRIBUTES = frozenset(
    view(
        SubnetPool(
            id="",
            project_id="",
            name="",
            ip_version=4,
            default_prefixlen=8,
            min_prefixlen=8,
            max_prefixlen=32,
        )
    )  # fmt: skip
)


def visible(ctx: RequestContext, pool: SubnetPool, shared: bool = False) -> bool:
    return allowed(
        ctx,
        "network:get_subnetpool",
        {"project_id": pool.project_id, "shared": shared or pool.shared},
    )


def shared_with(session: Session, ctx: RequestContext, pool_id: str) -> bool:
    grants = rbac_access.granted(session, "subnetpool", ctx.project_id, [pool_id])
    return rbac_access.SHARED in grants.get(pool_id, ())


def load(session: Session, ctx: RequestContext, pool_id: str, *, lock: bool = False) -> SubnetPool:
    """A subnet pool the caller owns, or one shared with it (RBAC).

    ``lock`` takes the pool's row for the rest of the transaction: every
    allocation from a pool (and every change of its prefixes) holds it, so
    two of them never read the same free space."""
    q = select(SubnetPool).where(SubnetPool.id == pool_id)
    if lock:
        q = q.with_for_update()
    pool = session.scalar(q)
    if pool is None:
        raise not_found(pool_id)
    if not visible(ctx, pool) and not visible(ctx, pool, shared_with(session, ctx, pool.id)):
        raise not_found(pool_id)
    return pool


def used(session: Session, pool_id: str) -> list[px.Net]:
    """The prefixes of the subnets taken from the pool."""
    return px.nets(session.scalars(select(Subnet.cidr).where(Subnet.subnetpool_id == pool_id)))


def _prefixlen(value: Any, field: str) -> int:
    n = validate.integer(value, field)
    if n < 0:
        raise InvalidInput(
            f"Invalid input for {field}. Reason: '{shown(value)}' should be non-negative."
        )
    return n


def _bounds(body: dict[str, Any], version: int, pool: SubnetPool | None) -> tuple[int, int, int]:
    """min, default and max prefix lengths: given, kept, or the defaults
    (min 8 for IPv4, 64 for IPv6; max the address size; default the min)."""
    bits = px.BITS[version]
    lo = pool.min_prefixlen if pool is not None else px.MIN_PREFIXLEN[version]
    hi = pool.max_prefixlen if pool is not None else bits
    if body.get("min_prefixlen") is not None:
        lo = _prefixlen(body["min_prefixlen"], "min_prefixlen")
    if body.get("max_prefixlen") is not None:
        hi = _prefixlen(body["max_prefixlen"], "max_prefixlen")
    if body.get("default_prefixlen") is not None:
        default = _prefixlen(body["default_prefixlen"], "default_prefixlen")
    elif pool is not None and "min_prefixlen" not in body:
        default = pool.default_prefixlen
    else:
        default = lo
    if hi > bits:
        raise _illegal_bounds("max_prefixlen", hi, "ip_version_max", bits)
    if lo > hi:
        raise _illegal_bounds("min_prefixlen", lo, "max_prefixlen", hi)
    if not lo <= default <= hi:
        raise _illegal_bounds(
            "default_prefixlen",
            default,
            "min_prefixlen" if default < lo else "max_prefixlen",
            lo if default < lo else hi,
        )
    return lo, default, hi


def _illegal_bounds(kind: str, value: int, base_kind: str, base: int) -> InvalidInput:
    return InvalidInput(
        f"Illegal prefix bounds: {kind}={value}, {base_kind}={base}.",
        kind="IllegalSubnetPoolPrefixBounds",
    )


def _quota(value: Any) -> int | None:
    if value is None:
        return None
    return _prefixlen(value, "default_quota")


def _check_default(session: Session, version: int, pool_id: str) -> None:
    """Only one default pool per IP version."""
    q = select(SubnetPool.id).where(
        SubnetPool.is_default.is_(True), SubnetPool.ip_version == version, SubnetPool.id != pool_id
    )
    if session.scalar(q) is not None:
        raise InvalidInput(
            "A default subnetpool for this IP family has already been set. Only one default "
            "may exist per IP family"
        )


def _scope(session: Session, ctx: RequestContext, pool: SubnetPool, scope_id: Any) -> str | None:
    """The address scope ``pool`` binds to: visible to the caller, of the
    pool's IP version, shared or the pool owner's; the pool's prefixes
    unique among the scope's pools."""
    if scope_id is None:
        return None
    from kumo.network.address_scopes import scopes

    scope = scopes.load(session, ctx, validate.uuid(scope_id, "address_scope_id"))
    if scope.project_id != pool.project_id and not (
        scope.shared or scopes.shared_with(session, ctx, scope.id)
    ):
        raise BadRequest(
            f"Illegal subnetpool association: subnetpool {pool.id} cannot be associated with "
            f"address scope {scope.id}.",
            kind="IllegalSubnetPoolAssociationToAddressScope",
        )
    if scope.ip_version != pool.ip_version:
        raise BadRequest(
            f"Illegal subnetpool association: subnetpool {pool.id} cannot associate with "
            f"address scope {scope.id} because subnetpool ip_version is not {scope.ip_version}.",
            kind="IllegalSubnetPoolIpVersionAssociationToAddressScope",
        )
    _check_scope_prefixes(session, scope.id, pool.id, px.nets(pool.prefixes or []))
    return scope.id


def _check_bound_scope(session: Session, ctx: RequestContext, pool: SubnetPool) -> None:
    """A pool bound to an address scope changes only by an admin or the
    scope's owner: bound to another project's shared scope, a pool is
    read-only to its own project (400 ``IllegalSubnetPoolUpdate``)."""
    if pool.address_scope_id is None:
        return
    from kumo.db.subnetpool_models import AddressScope

    scope = session.get(AddressScope, pool.address_scope_id)
    owner = scope.project_id if scope is not None else pool.project_id
    if not allowed(ctx, "network:update_subnetpool:address_scope", {"project_id": owner}):
        raise BadRequest(
            f"Illegal subnetpool update : subnetpool {pool.id} cannot be updated when "
            f"associated with shared address scope {pool.address_scope_id}.",
            kind="IllegalSubnetPoolUpdate",
        )


def _check_scope_prefixes(
    session: Session, scope_id: str | None, pool_id: str, mine: list[px.Net]
) -> None:
    if scope_id is None:
        return
    others = session.scalars(
        select(SubnetPool).where(SubnetPool.address_scope_id == scope_id, SubnetPool.id != pool_id)
    )
    for other in others:
        if px.overlapping(mine, px.nets(other.prefixes or [])):
            raise Conflict(
                "Failed to associate address scope: subnetpools within an address scope must "
                "have unique prefixes.",
                kind="AddressScopePrefixConflict",
            )


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> SubnetPool:
    validate.known(body, CREATE)
    for key in ("name", "prefixes"):
        if key not in body:
            raise BadRequest(f"Failed to parse request. Required attribute '{key}' not specified")
    name = validate.string(body, "name")
    nets = px.parse(body["prefixes"])
    version = px.version_of(nets)
    if version is None:
        raise InvalidInput("Invalid input for prefixes. Reason: a subnet pool needs a prefix.")
    owner = policy.owner_for_create(ctx, body)
    authorize(ctx, "network:create_subnetpool", {"project_id": owner})
    shared = validate.boolean(body, "shared") if "shared" in body else False
    if shared:
        authorize(ctx, "network:create_subnetpool:shared", {"project_id": owner})
    is_default = validate.boolean(body, "is_default") if "is_default" in body else False
    if is_default:
        authorize(ctx, "network:create_subnetpool:is_default", {"project_id": owner})
    lo, default, hi = _bounds(body, version, None)
    s = uow.session
    check_quota(s, settings, owner, "subnetpool")
    pool = SubnetPool(
        project_id=owner,
        name=name,
        description=validate.string(body, "description") if "description" in body else "",
        ip_version=version,
        prefixes=px.texts(px.merged(nets)),
        min_prefixlen=lo,
        default_prefixlen=default,
        max_prefixlen=hi,
        default_quota=_quota(body.get("default_quota")),
        is_default=is_default,
        shared=False,
    )
    if is_default:
        _check_default(s, version, "")
    s.add(pool)
    s.flush()
    pool.address_scope_id = _scope(s, ctx, pool, body.get("address_scope_id"))
    if shared:
        rbac.set_object_shared(s, "subnetpool", pool, True)
    s.flush()
    return pool


def update(
    uow: UnitOfWork, ctx: RequestContext, pool_id: str, body: dict[str, Any], if_match: int | None
) -> SubnetPool:
    for key in sorted(set(body) & READ_ONLY):
        raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    s = uow.session
    pool = load(s, ctx, pool_id, lock=True)
    authorize(ctx, "network:update_subnetpool", {"project_id": pool.project_id})
    check_revision(pool.revision_number, if_match)
    _check_bound_scope(s, ctx, pool)
    if "name" in body:
        pool.name = validate.string(body, "name")
    if "description" in body:
        pool.description = validate.string(body, "description")
    if any(k in body for k in BOUNDS):
        pool.min_prefixlen, pool.default_prefixlen, pool.max_prefixlen = _bounds(
            body, pool.ip_version, pool
        )
    if "default_quota" in body:
        pool.default_quota = _quota(body["default_quota"])
    if "is_default" in body:
        is_default = validate.boolean(body, "is_default")
        if is_default != pool.is_default:
            authorize(ctx, "network:update_subnetpool:is_default", {"project_id": pool.project_id})
            if is_default:
                _check_default(s, pool.ip_version, pool.id)
            pool.is_default = is_default
    if "prefixes" in body:
        new = px.parse(body["prefixes"])
        if px.version_of(new) not in (None, pool.ip_version):
            raise InvalidInput(
                "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.", kind="PrefixVersionMismatch"
            )
        have = px.nets(pool.prefixes or [])
        merged = px.merged(new + have) if new else have
        if px.merged(new) != merged:
            raise BadRequest(
                "Illegal update to prefixes: Existing prefixes must be a subset of the new "
                "prefixes.",
                kind="IllegalSubnetPoolPrefixUpdate",
            )
        _set_prefixes(uow, pool, merged)
    if "address_scope_id" in body and body["address_scope_id"] != pool.address_scope_id:
        _rebind(uow, ctx, pool, body["address_scope_id"])
    touch(pool)
    return pool


def _set_prefixes(uow: UnitOfWork, pool: SubnetPool, nets: list[px.Net]) -> None:
    _check_scope_prefixes(uow.session, pool.address_scope_id, pool.id, nets)
    pool.prefixes = px.texts(nets)


def _rebind(uow: UnitOfWork, ctx: RequestContext, pool: SubnetPool, scope_id: Any) -> None:
    """Bind the pool to another address scope (or none): its subnets'
    networks and routers are in another scope now, so they are re-emitted."""
    pool.address_scope_id = _scope(uow.session, ctx, pool, scope_id)
    uow.session.flush()
    scope_changed(uow, [pool.id])


def scope_changed(uow: UnitOfWork, pool_ids: list[str]) -> None:
    """Re-emit the networks (and routers) whose subnets come from ``pool_ids``."""
    s = uow.session
    net_ids = set(s.scalars(select(Subnet.network_id).where(Subnet.subnetpool_id.in_(pool_ids))))
    for net in s.scalars(select(Network).where(Network.id.in_(net_ids))):
        touch(net)
        events.network(uow, net)
    routed = (
        select(RouterPort.router_id)
        .join(Port, Port.id == RouterPort.port_id)
        .where(Port.network_id.in_(net_ids))
    )
    for r in s.scalars(select(Router).where(Router.id.in_(routed))):
        events.router(uow, r)


def change_prefixes(
    uow: UnitOfWork, ctx: RequestContext, pool_id: str, body: Any, *, add: bool
) -> SubnetPool:
    """``add_prefixes`` / ``remove_prefixes``: a removed prefix may not hold
    a subnet taken from the pool (400 ``IllegalSubnetPoolPrefixUpdate``)."""
    if not isinstance(body, dict) or "prefixes" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'prefixes' not specified")
    validate.known(body, {"prefixes"})
    asked = px.parse(body["prefixes"])
    s = uow.session
    pool = load(s, ctx, pool_id, lock=True)
    authorize(ctx, "network:update_subnetpool_prefixes", {"project_id": pool.project_id})
    _check_bound_scope(s, ctx, pool)
    if px.version_of(asked) not in (None, pool.ip_version):
        raise InvalidInput(
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.", kind="PrefixVersionMismatch"
        )
    have = px.nets(pool.prefixes or [])
    if add:
        _set_prefixes(uow, pool, px.merged(have + asked))
    else:
        busy = px.overlapping(asked, used(s, pool.id))
        if busy:
            raise BadRequest(
                f"Illegal update to prefixes: {busy[0][1]} is allocated from the prefixes being "
                "removed.",
                kind="IllegalSubnetPoolPrefixUpdate",
            )
        remaining = px.free(have, asked)
        pool.prefixes = px.texts(px.merged(remaining))
    touch(pool)
    return pool


def onboard(uow: UnitOfWork, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
    """``onboard_network_subnets``: the network's subnets of the pool's IP
    version that come from no pool join it; their prefixes join its prefixes."""
    if not isinstance(body, dict) or "network_id" not in body:
        raise BadRequest("Failed to parse request. Required attribute 'network_id' not specified")
    validate.known(body, {"network_id"})
    s = uow.session
    pool = load(s, ctx, pool_id, lock=True)
    authorize(ctx, "network:onboard_network_subnets", {"project_id": pool.project_id})
    from kumo.network.core import networks

    net = networks.load(s, ctx, validate.uuid(body["network_id"], "network_id"), lock=True)
    subs = list(
        s.scalars(
            select(Subnet).where(Subnet.network_id == net.id, Subnet.ip_version == pool.ip_version)
        )
    )
    foreign = [x for x in subs if x.subnetpool_id not in (None, pool.id)]
    if foreign:
        raise BadRequest(
            f"Unable to onboard subnets of network {net.id}: subnet {foreign[0].id} is "
            "allocated from another subnet pool.",
            kind="NetworkSubnetPoolAffinityError",
        )
    joining = [x for x in subs if x.subnetpool_id is None]
    taken = used(s, pool.id)
    clash = px.overlapping(px.nets(x.cidr for x in joining), taken)
    if clash:
        raise Conflict(
            f"Unable to onboard subnets of network {net.id}: {clash[0][0]} overlaps {clash[0][1]} "
            "allocated from the subnet pool.",
            kind="SubnetAllocationError",
        )
    _set_prefixes(
        uow, pool, px.merged(px.nets(pool.prefixes or []) + px.nets(x.cidr for x in joining))
    )
    for sub in joining:
        sub.subnetpool_id = pool.id
        touch(sub)
        events.subnet(uow, sub)
    touch(pool)
    s.flush()
    if joining and pool.address_scope_id:
        scope_changed(uow, [pool.id])
    return {"network_id": net.id, "subnetpool_id": pool.id}


def remove(uow: UnitOfWork, ctx: RequestContext, pool_id: str, if_match: int | None) -> None:
    s = uow.session
    pool = load(s, ctx, pool_id, lock=True)
    authorize(ctx, "network:delete_subnetpool", {"project_id": pool.project_id})
    check_revision(pool.revision_number, if_match)
    if s.scalar(select(Subnet.id).where(Subnet.subnetpool_id == pool.id).limit(1)):
        raise InUse(
            f"Unable to complete operation on subnet pool {pool.id}. Subnet pool has existing "
            "allocations.",
            kind="SubnetPoolInUse",
        )
    from kumo.network import tags as taglib

    taglib.delete_tags(s, pool.id)
    rbac.object_deleted(s, "subnetpool", pool.id)
    s.delete(pool)
